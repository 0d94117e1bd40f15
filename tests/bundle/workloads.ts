/**
 * What `tests/bundle_test.ts` computes with the sources and, in a child process
 * (`tests/bundle/child.ts`), with the bundle: written against the library passed in.
 *
 * @module
 */
import type * as Denax from "../../mod.ts";
import type { Tensor } from "../../mod.ts";

/** What `mod.ts` exports (the sources' or the bundle's). */
export type DenaxLib = typeof Denax;

const data = (n: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
};

const SHAPES: Record<string, number[]> = { k1: [6, 3, 3, 3], k2: [8, 6, 3, 3], w: [8, 5] };

/**
 * A small conv net's SGD step (conv, ReLU, max pool, conv, mean, dense, cross-entropy), jitted:
 * on webgpu, a program of more kernels than the compile helper's threshold.
 *
 * @returns The loss and the updated parameters, flattened.
 */
export async function convStep(dx: DenaxLib): Promise<number[][]> {
  const { jit, grad, lax, nn, np } = dx;
  const loss = (p: Record<string, Tensor>, x: Tensor, y: Tensor) => {
    let h = nn.relu(lax.conv(x, p.k1, [1, 1], "SAME"));
    h = lax.maxPool(h, { kernelSize: 2 });
    h = nn.relu(lax.conv(h, p.k2, [1, 1], "SAME"));
    const logits = h.mean({ axis: [2, 3] }).matmul(p.w);
    return y.mul(nn.logSoftmax(logits)).sum({ axis: -1 }).mean().neg();
  };
  const step = jit((p: Record<string, Tensor>, x: Tensor, y: Tensor) => {
    const g = grad(loss)(p, x, y);
    return [loss(p, x, y), ...Object.keys(SHAPES).map((k) => p[k].sub(g[k].mul(0.1)))];
  });
  const p = Object.fromEntries(
    Object.entries(SHAPES).map(([k, s], i) => [
      k,
      np.array(data(s.reduce((a, b) => a * b, 1), 10 + i), { shape: s }).mul(0.5),
    ]),
  );
  const x = np.array(data(4 * 3 * 10 * 10, 3), { shape: [4, 3, 10, 10] });
  const outs = step(p, x, np.eye(4, 5));
  return await Promise.all(outs.map(async (t: Tensor) => Array.from(await t.data())));
}

/** An elementwise op over 2¹⁸ values and its sum (the native backend's pool takes it). */
export async function bigElementwise(dx: DenaxLib): Promise<number> {
  const { np } = dx;
  const x = np.array(data(1 << 18, 7), { shape: [1 << 18] });
  return Number(await np.sin(x).mul(x).sum().item());
}
