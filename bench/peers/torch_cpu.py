#!/usr/bin/python3
"""PyTorch on the CPU as the peer runner's anchor (bench/peers/run.ts runs it in its own process).

The same workloads, seeded data and protocol as bench/peers/workloads.ts: the data come from the
same mulberry32 generator (so results are checked against the same float64 references), each
timed iteration ends with the result on the host, and every case reports the median of its
samples. Results are written as raw little-endian float32 files for run.ts to check.

Usage (OpenBLAS at full speed: unset the safety variables for this command only):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/torch_cpu.py --out DIR [--quick]
  /usr/bin/python3 bench/peers/torch_cpu.py --cold          # W5: import to the first MLP loss, one line

Prints one JSON object on stdout.
"""
import argparse
import json
import math
import os
import sys
import time

T0 = time.perf_counter()

MATMUL_SIZES = [(256, 16), (512, 4), (1024, 1)]
ELEMENTWISE_SIZE = 1 << 20
ELEMENTWISE_CALLS = 5
MLP_SIZES = [784, 256, 256, 10]
MLP_BATCH = 128
MLP_LR = 0.1
CONV_X, CONV_K1, CONV_K2, CONV_Y = [64, 1, 28, 28], [6, 1, 5, 5], [16, 6, 5, 5], [64, 16, 24, 24]


def prng(seed):
    """mulberry32, bit for bit as workloads.ts `prng`."""
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def nxt():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return nxt


def uniform(torch, seed, shape, lo=-1.0, hi=1.0):
    r = prng(seed)
    n = math.prod(shape)
    vals = [lo + (hi - lo) * r() for _ in range(n)]  # float64, rounded to f32 once as JS does
    return torch.tensor(vals, dtype=torch.float64).to(torch.float32).reshape(shape)


def sampling(warmup, max_reps, budget_ms, quick):
    """workloads.ts `samplingFor`, with `--quick` as run.ts's (3 timed iterations)."""
    if quick:
        return warmup, 3, 3, budget_ms
    return warmup, 5, max(max_reps, 5), budget_ms


def measure(it, per, warmup, min_reps, max_reps, budget_ms):
    for _ in range(warmup):
        it()
    samples, spent = [], 0.0
    while len(samples) < max_reps and (len(samples) < min_reps or spent < budget_ms):
        t0 = time.perf_counter()
        it()
        dt = (time.perf_counter() - t0) * 1000
        spent += dt
        samples.append(dt / per)
    s = sorted(samples)
    m = len(s) // 2
    med = s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2
    return med, samples


def mlp_data(torch):
    d0, d1, d2, d3 = MLP_SIZES
    g = lambda fi, fo: math.sqrt(6 / (fi + fo))
    p = {
        "w1": uniform(torch, 11, [d0, d1], -g(d0, d1), g(d0, d1)),
        "b1": uniform(torch, 12, [d1], -0.05, 0.05),
        "w2": uniform(torch, 13, [d1, d2], -g(d1, d2), g(d1, d2)),
        "b2": uniform(torch, 14, [d2], -0.05, 0.05),
        "w3": uniform(torch, 15, [d2, d3], -g(d2, d3), g(d2, d3)),
        "b3": uniform(torch, 16, [d3], -0.05, 0.05),
    }
    x = uniform(torch, 17, [MLP_BATCH, d0], 0, 1)
    r = prng(18)
    y = torch.zeros(MLP_BATCH, d3)
    for i in range(MLP_BATCH):
        y[i, math.floor(r() * d3)] = 1
    return p, x, y


def mlp_step(torch, p, x, y):
    """One SGD step of the MLP 784-256-256-10 (ReLU, softmax cross-entropy); returns the loss."""
    for v in p.values():
        v.grad = None
    h1 = torch.relu(x @ p["w1"] + p["b1"])
    h2 = torch.relu(h1 @ p["w2"] + p["b2"])
    logits = h2 @ p["w3"] + p["b3"]
    loss = -(y * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    loss.backward()
    with torch.no_grad():
        for v in p.values():
            v -= MLP_LR * v.grad
    return loss


def cold():
    import torch

    t1 = time.perf_counter()
    p, x, y = mlp_data(torch)
    for v in p.values():
        v.requires_grad_(True)
    loss = mlp_step(torch, p, x, y).item()
    print(json.dumps({"lib": "pytorch", "backend": "cpu",
                      "ms": (time.perf_counter() - T0) * 1000, "importMs": (t1 - T0) * 1000,
                      "loss": loss}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--only", default="W1,W2,W3,W4")
    a = ap.parse_args()
    if a.cold:
        return cold()
    import torch

    only = set(a.only.upper().split(","))
    out = a.out
    os.makedirs(out, exist_ok=True)
    save = lambda name, t: t.detach().contiguous().numpy().astype("<f4").tofile(
        os.path.join(out, name + ".f32"))
    rows = {}

    def row(rid, per, samp, it):
        med, samples = measure(it, per, *sampling(*samp, a.quick))
        rows[rid] = {"ms": med, "samples": samples}
        print(f"[torch] {rid}: {med:.3f} ms", file=sys.stderr)

    if "W1" in only:
        for n, reps in MATMUL_SIZES:
            A, B = uniform(torch, 100 + n, [n, n]), uniform(torch, 200 + n, [n, n])

            def it(A=A, B=B, reps=reps):
                for _ in range(reps):
                    c = A @ B
                c[0, 0].item()

            row(f"W1-{n}", reps, (1 if n >= 1024 else 2, 20, 4000), it)
            save(f"W1-{n}", A @ B)
    if "W2" in only:
        x = uniform(torch, 7, [ELEMENTWISE_SIZE], -3, 3)
        f = lambda x: torch.tanh(x * 2 + 1) * torch.sigmoid(x) - torch.exp(-x * x)

        def it():
            for _ in range(ELEMENTWISE_CALLS):
                y = f(x)
            y[0].item()

        row("W2-eager", ELEMENTWISE_CALLS, (2, 20, 3000), it)
        save("W2-eager", f(x))
    if "W3" in only:
        for steps in (1, 10):
            p, x, y = mlp_data(torch)
            for v in p.values():
                v.requires_grad_(True)
            l1 = mlp_step(torch, p, x, y).item()
            if steps == 1:
                with open(os.path.join(out, "W3-loss.json"), "w") as fh:
                    json.dump(l1, fh)
                for k, v in p.items():
                    save(f"W3-{k}", v)

            def it(p=p, steps=steps):
                for _ in range(steps):
                    loss = mlp_step(torch, p, x, y)
                loss.item()

            row(f"W3-{steps}", steps, (1 if steps > 1 else 3, 10 if steps > 1 else 30, 4000), it)
    if "W4" in only:
        x = uniform(torch, 21, CONV_X).requires_grad_(True)
        k1 = uniform(torch, 22, CONV_K1, -0.2, 0.2).requires_grad_(True)
        k2 = uniform(torch, 23, CONV_K2, -0.08, 0.08).requires_grad_(True)
        c = uniform(torch, 24, CONV_Y)
        F = torch.nn.functional

        def fwd_bwd():
            for t in (x, k1, k2):
                t.grad = None
            loss = (F.conv2d(F.conv2d(x, k1, padding=2), k2) * c).sum()
            loss.backward()
            return loss

        row("W4", 1, (1, 20, 5000), lambda: fwd_bwd().item())
        loss = fwd_bwd()
        with open(os.path.join(out, "W4-loss.json"), "w") as fh:
            json.dump(loss.item(), fh)
        save("W4-dx", x.grad)
        save("W4-dk1", k1.grad)
        save("W4-dk2", k2.grad)
    print(json.dumps({
        "lib": "pytorch", "backend": "cpu", "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
