/**
 * The five workloads with `@tensorflow/tfjs` on `@tensorflow/tfjs-backend-webgpu`, for the peer
 * comparison runner only; the library never imports it.
 *
 * tfjs has no `jit`: W2 runs eagerly only, W3 is the idiomatic `tf.train.sgd(lr).minimize` on
 * variables, W4 is `tf.valueAndGrads`. Convolutions use tfjs's own NHWC / HWIO layouts; the
 * data is transposed on the host before upload and the gradients after readback. Each timed
 * region ends by reading a value back (`data()`), which waits for everything queued before it.
 *
 * @module
 */
// Peers are pinned here, not in deno.json: they are never dependencies of the library.
// deno-lint-ignore no-import-prefix
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
// deno-lint-ignore no-import-prefix
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
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
  transposeHost,
} from "./workloads.ts";

/** The tfjs version this runner pins. */
export const VERSION = "4.22.0";

const put = (t: HostTensor): tf.Tensor => tf.tensor(t.data, t.shape, "float32");
/** Reads one element back: waits for everything queued before it. */
async function sync1(t: tf.Tensor): Promise<void> {
  const one = tf.slice(t.reshape([-1]), [0], [1]);
  await one.data();
  one.dispose();
}

function elementwiseFn(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.tanh(x.mul(2).add(1)).mul(tf.sigmoid(x)).sub(tf.exp(x.neg().mul(x))));
}

type Vars = Record<(typeof MLP_PARAM_NAMES)[number], tf.Variable>;

function mlpLoss(p: Vars, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  const h1 = tf.relu(tf.matMul(x, p.w1).add(p.b1));
  const h2 = tf.relu(tf.matMul(h1, p.w2).add(p.b2));
  const logits = tf.matMul(h2, p.w3).add(p.b3);
  return y.mul(tf.logSoftmax(logits)).sum(-1).mean().neg() as tf.Scalar;
}

/** W5: sets `backend`, runs the first MLP training step, and reads its loss back. */
export async function firstStepLoss(backend = "webgpu"): Promise<number> {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: setBackend("${backend}") failed`);
  await tf.ready();
  const d = mlpData();
  const p = Object.fromEntries(
    MLP_PARAM_NAMES.map((k) => [k, tf.variable(put(d.params[k]), true, k)]),
  ) as Vars;
  const x = put(d.x), y = put(d.y);
  const loss = tf.train.sgd(MLP_LR).minimize(() => mlpLoss(p, x, y), true) as tf.Scalar;
  return (await loss.data())[0];
}

/** Creates the tfjs runner on `backend` ("webgpu", or "cpu" / "wasm" where registered). */
export async function createRunner(backend = "webgpu"): Promise<LibRunner> {
  if (!(await tf.setBackend(backend))) {
    throw new Error(`tfjs: setBackend("${backend}") failed (backends: ${
      Object.keys(
        tf.engine().registryFactory,
      )
    })`);
  }
  await tf.ready();
  const use = async () => {
    if (tf.getBackend() !== backend) await tf.setBackend(backend);
  };
  let adapter: string | undefined;
  try {
    // deno-lint-ignore no-explicit-any -- tfjs arrays are untyped here
    const b = tf.backend() as any;
    const info = b.device?.adapterInfo ?? b.adapterInfo;
    adapter = info?.description || info?.vendor || undefined;
  } catch { /* not exposed */ }
  return {
    name: "tfjs",
    backend: tf.getBackend(),
    adapter,

    async matmul(n, reps): Promise<Prepared<Float64Array>> {
      await use(); // global: another tfjs runner may have changed it
      const { a: ha, b: hb } = matmulData(n);
      const a = put(ha), b = put(hb);
      return {
        per: reps,
        sampling: SAMPLING.matmul(n),
        async iter() {
          await use();
          const outs: tf.Tensor[] = [];
          for (let r = 0; r < reps; r++) outs.push(tf.matMul(a, b));
          await sync1(outs[reps - 1]);
          tf.dispose(outs);
        },
        async result() {
          const c = tf.matMul(a, b);
          const full = await c.data();
          c.dispose();
          return matmulPickRows(full, n);
        },
        dispose: () => tf.dispose([a, b]),
      };
    },

    async elementwise(useJit): Promise<Prepared<ArrayLike<number>> | null> {
      if (useJit) return null; // tfjs has no jit
      await use();
      const x = put(elementwiseData());
      return {
        per: ELEMENTWISE_CALLS,
        sampling: SAMPLING.elementwise,
        async iter() {
          await use();
          const outs: tf.Tensor[] = [];
          for (let r = 0; r < ELEMENTWISE_CALLS; r++) outs.push(elementwiseFn(x));
          await sync1(outs[ELEMENTWISE_CALLS - 1]);
          tf.dispose(outs);
        },
        async result() {
          const y = elementwiseFn(x);
          const out = await y.data();
          y.dispose();
          return out;
        },
        dispose: () => x.dispose(),
      };
    },

    async mlp(stepsPerReadback): Promise<Prepared<MlpResult>> {
      await use();
      const d = mlpData();
      const tag = Math.random().toString(36).slice(2);
      const p = Object.fromEntries(
        MLP_PARAM_NAMES.map((k) => [k, tf.variable(put(d.params[k]), true, `${k}_${tag}`)]),
      ) as Vars;
      const x = put(d.x), y = put(d.y);
      const opt = tf.train.sgd(MLP_LR);
      const step = () => opt.minimize(() => mlpLoss(p, x, y), true) as tf.Scalar;
      const l1 = step();
      const checked = { loss: (await l1.data())[0] } as MlpResult;
      l1.dispose();
      for (const k of MLP_PARAM_NAMES) checked[k] = await p[k].data();
      return {
        per: stepsPerReadback,
        sampling: SAMPLING.mlp(stepsPerReadback),
        async iter() {
          await use();
          let loss: tf.Scalar | undefined;
          for (let s = 0; s < stepsPerReadback; s++) {
            loss?.dispose();
            loss = step();
          }
          await loss!.data();
          loss!.dispose();
        },
        result: () => Promise.resolve(checked),
        dispose() {
          tf.dispose([...Object.values(p), x, y]);
          opt.dispose();
        },
      };
    },

    async conv(): Promise<Prepared<ConvResult>> {
      await use();
      const d = convData();
      const x = put(transposeHost(d.x, [0, 2, 3, 1]));
      const k1 = put(transposeHost(d.k1, [2, 3, 1, 0]));
      const k2 = put(transposeHost(d.k2, [2, 3, 1, 0]));
      const c = put(transposeHost(d.c, [0, 2, 3, 1]));
      const loss = (x: tf.Tensor, k1: tf.Tensor, k2: tf.Tensor) => {
        const h = tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, CONV.pad1);
        return tf.conv2d(h, k2 as tf.Tensor4D, 1, "valid").mul(c).sum();
      };
      const vg = tf.valueAndGrads(loss);
      const run = () =>
        tf.tidy(() => {
          const { value, grads } = vg([x, k1, k2]);
          return [value, ...grads];
        });
      const back = async (t: tf.Tensor, perm: number[]) =>
        transposeHost({ data: (await t.data()) as Float32Array<ArrayBuffer>, shape: t.shape }, perm)
          .data;
      return {
        per: 1,
        sampling: SAMPLING.conv,
        async iter() {
          await use();
          const out = run();
          await out[0].data();
          tf.dispose(out);
        },
        async result() {
          const [v, dx, dk1, dk2] = run();
          const r: ConvResult = {
            loss: (await v.data())[0],
            dx: await back(dx, [0, 3, 1, 2]),
            dk1: await back(dk1, [3, 2, 0, 1]),
            dk2: await back(dk2, [3, 2, 0, 1]),
          };
          tf.dispose([v, dx, dk1, dk2]);
          return r;
        },
        dispose: () => tf.dispose([x, k1, k2, c]),
      };
    },
  };
}
