/**
 * The five workloads with denax (webgpu by default, or cpu), for the peer comparison runner.
 *
 * The device is waited on inside every timed region by reading a value back to the host: the
 * loss (W3, W4) or one element of the last output (W1, W2; every earlier dispatch went into
 * the same queue, so that readback waits for all of them).
 *
 * @module
 */
import * as denax from "../../mod.ts";
import { backendInfo, init, jit, lax, np, type Tensor, valueAndGrad } from "../../mod.ts";
import { firstStepLossWith, mlpFns } from "./denax_mlp.ts";
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
  MLP_PARAM_NAMES,
  type MlpResult,
  type Prepared,
  SAMPLING,
} from "./workloads.ts";

const put = (t: HostTensor): Tensor => np.array(t.data, { shape: t.shape });
/** Reads one element back: waits for everything queued before it. */
const sync1 = async (t: Tensor): Promise<void> => {
  using one = np.slice(t.reshape([-1]), [0], [1]);
  await one.data();
};
/**
 * Frees the tensors' device storage now, as the peers' runners do after each readback
 * (`tree.dispose`, `tf.dispose`); left alone, they would wait for the garbage collector.
 */
const disposeAll = (ts: Tensor[]): void => ts.forEach((t) => t[Symbol.dispose]());

/** The W2 formula. */
export function elementwiseFn(x: Tensor): Tensor {
  return np.tanh(x.mul(2).add(1)).mul(np.sigmoid(x)).sub(np.exp(x.neg().mul(x)));
}

/** W3's MLP SGD step and its inputs on the device, over the sources (see `denax_mlp.ts`). */
export const { step: mlpStep, inputs: mlpInputs } = mlpFns(denax);

/** W4's loss: Σ conv(conv(x, k1, pad 2), k2, valid) ⊙ c. */
export function convLoss(x: Tensor, k1: Tensor, k2: Tensor, c: Tensor): Tensor {
  const p = CONV.pad1;
  const h = lax.conv(x, k1, [1, 1], [[p, p], [p, p]]);
  return lax.conv(h, k2, [1, 1], "VALID").mul(c).sum();
}

/** W5: initialises `backend`, runs the first jitted MLP step, and reads its loss back. */
export function firstStepLoss(backend = "webgpu"): Promise<number> {
  return firstStepLossWith(denax, backend);
}

/** Creates the denax runner on `backend` ("webgpu" or "cpu"). */
export async function createRunner(backend = "webgpu"): Promise<LibRunner> {
  const info = await init({ backend });
  return {
    name: "denax",
    backend: info.name,
    adapter: backendInfo().description,

    matmul(n, reps): Promise<Prepared<Float64Array>> {
      const { a: ha, b: hb } = matmulData(n);
      const a = put(ha), b = put(hb);
      return Promise.resolve({
        per: reps,
        sampling: SAMPLING.matmul(n),
        async iter() {
          const outs: Tensor[] = [];
          for (let r = 0; r < reps; r++) outs.push(np.matmul(a, b));
          await sync1(outs[reps - 1]);
          disposeAll(outs);
        },
        async result() {
          return matmulPickRows(await np.matmul(a, b).data(), n);
        },
      });
    },

    elementwise(useJit): Promise<Prepared<ArrayLike<number>>> {
      const x = put(elementwiseData());
      const f = useJit ? jit(elementwiseFn) : elementwiseFn;
      return Promise.resolve({
        per: ELEMENTWISE_CALLS,
        sampling: SAMPLING.elementwise,
        async iter() {
          const outs: Tensor[] = [];
          for (let r = 0; r < ELEMENTWISE_CALLS; r++) outs.push(f(x));
          await sync1(outs[ELEMENTWISE_CALLS - 1]);
          disposeAll(outs);
        },
        result: () => f(x).data(),
      });
    },

    async mlp(stepsPerReadback): Promise<Prepared<MlpResult>> {
      const step = jit(mlpStep, { donateArgnums: [0] });
      // the check: one step from the initial parameters; the timing trains on from there
      const { params: p0, x, y } = mlpInputs();
      let [params, l1] = step(p0, x, y);
      const checked = { loss: (await l1.data())[0] } as MlpResult;
      for (const k of MLP_PARAM_NAMES) checked[k] = await params[k].data();
      return {
        per: stepsPerReadback,
        sampling: SAMPLING.mlp(stepsPerReadback),
        async iter() {
          let loss: Tensor | undefined;
          for (let s = 0; s < stepsPerReadback; s++) {
            loss?.[Symbol.dispose]();
            [params, loss] = step(params, x, y);
          }
          await loss!.data();
          loss![Symbol.dispose]();
        },
        result: () => Promise.resolve(checked),
      };
    },

    conv(): Promise<Prepared<ConvResult>> {
      const d = convData();
      const x = put(d.x), k1 = put(d.k1), k2 = put(d.k2), c = put(d.c);
      const f = jit(valueAndGrad(convLoss, { argnums: [0, 1, 2] }));
      return Promise.resolve({
        per: 1,
        sampling: SAMPLING.conv,
        async iter() {
          const [loss, grads] = f(x, k1, k2, c);
          await loss.data();
          disposeAll([loss, ...grads]);
        },
        async result() {
          const [loss, [dx, dk1, dk2]] = f(x, k1, k2, c);
          return {
            loss: (await loss.data())[0],
            dx: await dx.data(),
            dk1: await dk1.data(),
            dk2: await dk2.data(),
          };
        },
      });
    },
  };
}
