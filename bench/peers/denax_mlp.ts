/**
 * W3's MLP and W5's first step for denax, written against the library passed in rather than an
 * import of it: `denax.ts` passes the sources (`mod.ts`), `cold.ts` either them or the bundle
 * (`dist/mod.js`, `tools/bundle.ts`), so that W5 times one import or the other and nothing else.
 * Only types are imported from `mod.ts` here (erased at run time).
 *
 * @module
 */
import type * as Denax from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { type HostTensor, MLP_LR, MLP_PARAM_NAMES, mlpData } from "./workloads.ts";

/** What `mod.ts` exports (the sources' or the bundle's). */
export type DenaxLib = typeof Denax;

/** The MLP's parameters. */
export type MlpParams = Record<(typeof MLP_PARAM_NAMES)[number], Tensor>;

/** The MLP of W3 and W5 over the library `dx`. */
export function mlpFns(dx: DenaxLib): {
  /** Softmax cross-entropy of the MLP 784-256-256-10 with ReLU. */
  loss: (p: MlpParams, x: Tensor, y: Tensor) => Tensor;
  /** One SGD step, `(params, x, y) → [params', loss]`, to be jitted with params donated. */
  step: (p: MlpParams, x: Tensor, y: Tensor) => [MlpParams, Tensor];
  /** The MLP parameters and batch on the device. */
  inputs: () => { params: MlpParams; x: Tensor; y: Tensor };
} {
  const { nn, np, tree, valueAndGrad } = dx;
  const put = (t: HostTensor): Tensor => np.array(t.data, { shape: t.shape });
  const loss = (p: MlpParams, x: Tensor, y: Tensor): Tensor => {
    const h1 = nn.relu(x.matmul(p.w1).add(p.b1));
    const h2 = nn.relu(h1.matmul(p.w2).add(p.b2));
    const logits = h2.matmul(p.w3).add(p.b3);
    return y.mul(nn.logSoftmax(logits)).sum({ axis: -1 }).mean().neg();
  };
  const step = (p: MlpParams, x: Tensor, y: Tensor): [MlpParams, Tensor] => {
    const [l, g] = valueAndGrad(loss)(p, x, y);
    return [tree.map((w: Tensor, gw: Tensor) => w.sub(gw.mul(MLP_LR)), p, g), l];
  };
  const inputs = () => {
    const d = mlpData();
    const params = Object.fromEntries(
      MLP_PARAM_NAMES.map((k) => [k, put(d.params[k])]),
    ) as MlpParams;
    return { params, x: put(d.x), y: put(d.y) };
  };
  return { loss, step, inputs };
}

/**
 * W5 with the library `dx`: initialises `backend`, runs the first jitted MLP step, and reads its
 * loss back.
 */
export async function firstStepLossWith(dx: DenaxLib, backend = "webgpu"): Promise<number> {
  await dx.init({ backend });
  const { step, inputs } = mlpFns(dx);
  const { params, x, y } = inputs();
  const [, loss] = dx.jit(step, { donateArgnums: [0] })(params, x, y);
  return (await loss.data())[0];
}
