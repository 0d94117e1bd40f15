/**
 * The five workloads with `@jax-js/jax` (webgpu backend, jitted), for the peer comparison
 * runner only; the library never imports it.
 *
 * jax-js arrays are reference-counted: every function consumes its array arguments, so an
 * array used again is passed as `x.ref`, and results are disposed. Its operations are lazy,
 * so each timed region ends with `blockUntilReady` (or `data()` of the loss), which dispatches
 * and waits for the pending work.
 *
 * @module
 */
// The peer is pinned here, not in deno.json: it is never a dependency of the library.
// deno-lint-ignore no-import-prefix
import * as jax from "npm:@jax-js/jax@0.1.25";
import {
  CONV,
  convData,
  type ConvResult,
  ELEMENTWISE_CALLS,
  elementwiseData,
  type HostTensor,
  type LibRunner,
  matmulData,
  matmulPickRows,
  MLP_LR,
  MLP_PARAM_NAMES,
  mlpData,
  type MlpResult,
  type Prepared,
  SAMPLING,
} from "./workloads.ts";

const {
  blockUntilReady,
  defaultDevice,
  getWebGPUDevice,
  init,
  jit,
  lax,
  nn,
  numpy: np,
  tree,
  valueAndGrad,
} = jax;
type Arr = jax.numpy.Array;
type Params = Record<(typeof MLP_PARAM_NAMES)[number], Arr>;

/** The jax-js version this runner pins. */
export const VERSION = "0.1.25";

const put = (t: HostTensor): Arr => np.array(t.data).reshape(t.shape);

/** The W2 formula (x is consumed). */
function elementwiseFn(x: Arr): Arr {
  return np.tanh(x.ref.mul(2).add(1)).mul(nn.sigmoid(x.ref)).sub(np.exp(x.ref.neg().mul(x)));
}

function mlpLoss(p: Params, x: Arr, y: Arr): Arr {
  const h1 = nn.relu(np.matmul(x, p.w1).add(p.b1));
  const h2 = nn.relu(np.matmul(h1, p.w2).add(p.b2));
  const logits = np.matmul(h2, p.w3).add(p.b3);
  return y.mul(nn.logSoftmax(logits)).sum(-1).mean().neg();
}

function mlpStep(p: Params, x: Arr, y: Arr): [Params, Arr] {
  const [loss, g] = valueAndGrad(mlpLoss)(tree.ref(p), x, y) as [Arr, Params];
  const next = tree.map((w: Arr, gw: Arr) => w.sub(gw.mul(MLP_LR)), p, g) as Params;
  return [next, loss];
}

function mlpInputs(): { params: Params; x: Arr; y: Arr } {
  const d = mlpData();
  const params = Object.fromEntries(
    MLP_PARAM_NAMES.map((k) => [k, put(d.params[k])]),
  ) as Params;
  return { params, x: put(d.x), y: put(d.y) };
}

function convLoss(x: Arr, k1: Arr, k2: Arr, c: Arr): Arr {
  const p = CONV.pad1;
  const h = lax.conv(x, k1, [1, 1], [[p, p], [p, p]]);
  return lax.conv(h, k2, [1, 1], "VALID").mul(c).sum();
}

/** W5: initialises `device`, runs the first jitted MLP step, and reads its loss back. */
export async function firstStepLoss(device: "webgpu" | "wasm" = "webgpu"): Promise<number> {
  await init(device);
  defaultDevice(device);
  const { params, x, y } = mlpInputs();
  const [p, loss] = jit(mlpStep)(params, x, y);
  const v = (await loss.data())[0];
  tree.dispose(p);
  return v;
}

/** Creates the jax-js runner on `device` ("webgpu" or "wasm"). */
export async function createRunner(device: "webgpu" | "wasm" = "webgpu"): Promise<LibRunner> {
  const devices = await init();
  if (!devices.includes(device)) {
    throw new Error(`jax-js: device "${device}" unavailable (init() gave [${devices}])`);
  }
  defaultDevice(device);
  let adapter: string | undefined;
  if (device === "webgpu") {
    try {
      // deno-lint-ignore no-explicit-any -- jax-js arrays are untyped here
      adapter = (getWebGPUDevice() as any).adapterInfo?.description;
    } catch { /* not exposed */ }
  }
  return {
    name: "jax-js",
    backend: device,
    adapter,

    matmul(n, reps): Promise<Prepared<Float64Array>> {
      defaultDevice(device); // global: another jax-js runner may have changed it
      const { a: ha, b: hb } = matmulData(n);
      const a = put(ha), b = put(hb);
      return Promise.resolve({
        per: reps,
        sampling: SAMPLING.matmul(n),
        async iter() {
          defaultDevice(device);
          const outs: Arr[] = [];
          for (let r = 0; r < reps; r++) outs.push(np.matmul(a.ref, b.ref));
          await blockUntilReady(outs);
          tree.dispose(outs);
        },
        async result() {
          defaultDevice(device);
          return matmulPickRows(await np.matmul(a.ref, b.ref).data(), n);
        },
        dispose: () => tree.dispose([a, b]),
      });
    },

    elementwise(useJit): Promise<Prepared<ArrayLike<number>>> {
      defaultDevice(device);
      const x = put(elementwiseData());
      const f = useJit ? jit(elementwiseFn) : elementwiseFn;
      return Promise.resolve({
        per: ELEMENTWISE_CALLS,
        sampling: SAMPLING.elementwise,
        async iter() {
          defaultDevice(device);
          const outs: Arr[] = [];
          for (let r = 0; r < ELEMENTWISE_CALLS; r++) outs.push(f(x.ref));
          await blockUntilReady(outs);
          tree.dispose(outs);
        },
        result: () => (defaultDevice(device), f(x.ref).data()),
        dispose: () => x.dispose(),
      });
    },

    async mlp(stepsPerReadback): Promise<Prepared<MlpResult>> {
      defaultDevice(device);
      const step = jit(mlpStep);
      const { params: p0, x, y } = mlpInputs();
      let [params, l1] = step(p0, x.ref, y.ref);
      const checked = { loss: (await l1.data())[0] } as MlpResult;
      for (const k of MLP_PARAM_NAMES) checked[k] = await params[k].ref.data();
      return {
        per: stepsPerReadback,
        sampling: SAMPLING.mlp(stepsPerReadback),
        async iter() {
          defaultDevice(device);
          let loss: Arr | undefined;
          for (let s = 0; s < stepsPerReadback; s++) {
            loss?.dispose();
            [params, loss] = step(params, x.ref, y.ref);
          }
          await loss!.data();
        },
        result: () => Promise.resolve(checked),
        dispose() {
          tree.dispose([params, x, y]);
          step.dispose();
        },
      };
    },

    conv(): Promise<Prepared<ConvResult>> {
      defaultDevice(device);
      const d = convData();
      const x = put(d.x), k1 = put(d.k1), k2 = put(d.k2), c = put(d.c);
      const f = jit(valueAndGrad(convLoss, { argnums: [0, 1, 2] }));
      return Promise.resolve({
        per: 1,
        sampling: SAMPLING.conv,
        async iter() {
          defaultDevice(device);
          const out = f(x.ref, k1.ref, k2.ref, c.ref);
          await blockUntilReady(out);
          tree.dispose(out);
        },
        async result() {
          defaultDevice(device);
          const [loss, [dx, dk1, dk2]] = f(x.ref, k1.ref, k2.ref, c.ref) as [Arr, Arr[]];
          return {
            loss: (await loss.data())[0],
            dx: await dx.data(),
            dk1: await dk1.data(),
            dk2: await dk2.data(),
          };
        },
        dispose() {
          tree.dispose([x, k1, k2, c]);
          f.dispose();
        },
      });
    },
  };
}
