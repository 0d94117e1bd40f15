"""Peers of bench/gpu.ts: PyTorch (CUDA) and JAX on the same GPU, same benchmarks and sizes.

Usage: python3 bench/gpu_peers.py [--quick]   (run by `deno task bench:gpu`, in its own process)

Prints one JSON object per line: {"lib", "bench", "ms", "rate"} or {"lib", "bench", "error"}.
A library that does not import, or sees no GPU, gives one "error" line per benchmark; nothing
is installed. Figures are the median of the timed repetitions after two warm-up calls, each call
reading back a scalar, as bench/gpu.ts does. No GPU figure exists yet (written on a machine
without a GPU).
"""

import json
import statistics
import sys
import time

QUICK = "--quick" in sys.argv
BENCHES = ["matmul f32", "matmul f16", "ResNet-18 train step", "Transformer encoder layer fwd"]
MM_N = 256 if QUICK else 4096
RN_B, RN_S = (2, 32) if QUICK else (128, 224)
TF_B, TF_L, TF_D, TF_H = (2, 16, 32, 4) if QUICK else (8, 512, 1024, 16)
TF_F = 4 * TF_D


def emit(lib, bench, ms=None, rate=None, error=None):
    row = {"lib": lib, "bench": bench}
    if error is not None:
        row["error"] = error
    else:
        row["ms"] = ms
        row["rate"] = rate
    print(json.dumps(row), flush=True)


def timed(f, reps):
    f()
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def tf_flops():
    b, l, d, f = TF_B, TF_L, TF_D, TF_F
    return 8 * b * l * d * d + 4 * b * l * l * d + 4 * b * l * d * f


def run_torch():
    lib = "PyTorch CUDA"
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "not present"
        return [emit(lib, b, error=f"not importable: {e}") for b in BENCHES]
    if not torch.cuda.is_available():
        return [emit(lib, b, error="no CUDA device") for b in BENCHES]
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32, as denax computes
    torch.backends.cudnn.allow_tf32 = False
    lib = f"PyTorch {torch.__version__} CUDA ({torch.cuda.get_device_name()})"
    n = MM_N
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    ms = timed(lambda: (a @ b).sum().item(), 3 if QUICK else 10)
    emit(lib, BENCHES[0], ms, f"{2 * n**3 / (ms * 1e6):.0f} GFLOP/s")
    # f16 operands and product with f32 accumulation (cuBLAS on the tensor cores)
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    a16, b16 = a.half(), b.half()
    ms = timed(lambda: (a16 @ b16).float().sum().item(), 3 if QUICK else 10)
    emit(lib, BENCHES[1], ms, f"{2 * n**3 / (ms * 1e6):.0f} GFLOP/s")
    try:
        import torchvision

        net = torchvision.models.resnet18(num_classes=1000).to(dev).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(RN_B, 3, RN_S, RN_S, device=dev)
        y = torch.randint(0, 1000, (RN_B,), device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        ms = timed(step, 2 if QUICK else 10)
        emit(lib, BENCHES[2], ms, f"{RN_B / ms * 1e3:.0f} img/s")
    except Exception as e:  # noqa: BLE001
        emit(lib, BENCHES[2], error=f"{type(e).__name__}: {e}")
    enc = torch.nn.TransformerEncoderLayer(
        TF_D, TF_H, TF_F, dropout=0.0, batch_first=True
    ).to(dev).eval()
    xs = torch.randn(TF_B, TF_L, TF_D, device=dev)
    with torch.no_grad():
        ms = timed(lambda: enc(xs).sum().item(), 3 if QUICK else 10)
    emit(lib, BENCHES[3], ms, f"{tf_flops() / (ms * 1e6):.0f} GFLOP/s")


def run_jax():
    lib = "JAX"
    try:
        import jax
        import jax.numpy as jnp
    except Exception as e:  # noqa: BLE001
        return [emit(lib, b, error=f"not importable: {e}") for b in BENCHES]
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        return [emit(lib, b, error="no GPU device") for b in BENCHES]
    lib = f"JAX {jax.__version__} ({gpus[0].device_kind})"
    n = MM_N
    k = jax.random.PRNGKey(0)
    a = jax.random.normal(k, (n, n))
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n))
    mm = jax.jit(lambda a, b: jnp.matmul(a, b, precision="highest").sum())
    ms = timed(lambda: float(mm(a, b)), 3 if QUICK else 10)
    emit(lib, BENCHES[0], ms, f"{2 * n**3 / (ms * 1e6):.0f} GFLOP/s")
    a16, b16 = a.astype(jnp.float16), b.astype(jnp.float16)
    mm16 = jax.jit(
        lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32)
        .astype(jnp.float16)
        .astype(jnp.float32)
        .sum()
    )
    ms = timed(lambda: float(mm16(a16, b16)), 3 if QUICK else 10)
    emit(lib, BENCHES[1], ms, f"{2 * n**3 / (ms * 1e6):.0f} GFLOP/s")
    # the models would need flax (or a hand port), which this script does not assume: JAX is
    # compared on matmul only, and the table says so
    for bench in BENCHES[2:]:
        emit(lib, bench, error="not measured (JAX is compared on matmul only)")

if __name__ == "__main__":
    run_torch()
    run_jax()
