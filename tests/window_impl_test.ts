/**
 * The reference `reduce_window` takes a flat two-dimensional path when the leading dims map one
 * to one (pooling's layout). It must agree with a direct evaluation of the definition in every
 * case the general path handles: strides, padding, base and window dilation, NaN, integers.
 */
import "./backend.ts";
import { assertEquals } from "@std/assert";
import { lax, np, type Tensor } from "../mod.ts";
import { rng } from "./helpers.ts";

type Op = "sum" | "max" | "min";

/** reduce_window from its definition, over the last two dims of [L, H, W] (L flattened). */
function direct(
  x: number[],
  [L, H, W]: number[],
  op: Op,
  win: number[],
  str: number[],
  pad: [number, number][],
  base: number[],
  wdil: number[],
): number[] {
  const dim = (n: number, k: number) => {
    const bn = (n - 1) * base[k] + 1 + pad[k][0] + pad[k][1];
    const wn = (win[k] - 1) * wdil[k] + 1;
    return Math.floor((bn - wn) / str[k]) + 1;
  };
  const OH = dim(H, 0), OW = dim(W, 1), out: number[] = [];
  const id = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
  for (let l = 0; l < L; l++) {
    for (let y = 0; y < OH; y++) {
      for (let z = 0; z < OW; z++) {
        let acc = id;
        for (let a = 0; a < win[0]; a++) {
          for (let b = 0; b < win[1]; b++) {
            const ph = y * str[0] + a * wdil[0] - pad[0][0];
            const pw = z * str[1] + b * wdil[1] - pad[1][0];
            if (ph < 0 || pw < 0 || ph % base[0] || pw % base[1]) continue;
            const r = ph / base[0], c = pw / base[1];
            if (r >= H || c >= W) continue;
            const v = x[(l * H + r) * W + c];
            acc = op === "sum"
              ? acc + v
              : Number.isNaN(acc) || Number.isNaN(v)
              ? NaN
              : op === "max"
              ? Math.max(acc, v)
              : Math.min(acc, v);
          }
        }
        out.push(acc);
      }
    }
  }
  return out;
}

Deno.test("reduce_window over the last two dims agrees with its definition", async () => {
  const r = rng(7);
  for (let trial = 0; trial < 40; trial++) {
    const [N, C, H, W] = [1 + (trial % 2), 1 + (trial % 3), 3 + (trial % 5), 4 + (trial % 4)];
    const op = (["sum", "max", "min"] as const)[trial % 3];
    const win = [1 + (trial % 3), 1 + ((trial >> 1) % 3)];
    const str = [1 + ((trial >> 2) % 2), 1 + (trial % 2)];
    const pad: [number, number][] = [[trial % 2, (trial >> 1) % 2], [(trial >> 2) % 2, trial % 2]];
    const base = [1 + ((trial >> 3) % 2), 1];
    const wdil = [1, 1 + ((trial >> 4) % 2)];
    const vals = Array.from({ length: N * C * H * W }, () => Math.round(r() * 20 - 10));
    if (trial % 5 === 0) vals[trial % vals.length] = NaN;
    const x = np.reshape(np.array(vals), [N, C, H, W]);
    const got: Tensor = lax.reduceWindow(x, op, {
      windowDimensions: [1, 1, ...win],
      windowStrides: [1, 1, ...str],
      padding: [[0, 0], [0, 0], ...pad],
      baseDilation: [1, 1, ...base],
      windowDilation: [1, 1, ...wdil],
    });
    const want = direct(vals, [N * C, H, W], op, win, str, pad, base, wdil);
    const flat = Array.from(await got.data() as Float32Array);
    assertEquals(flat.map(String), want.map(String), `trial ${trial} (${op})`);
  }
});

Deno.test("reduce_window of integers wraps as the dtype does", async () => {
  const x = np.array([[[[2 ** 30, 2 ** 30], [1, 2]]]], "i32");
  const got = lax.reduceWindow(x, "sum", { windowDimensions: [1, 1, 1, 2] });
  assertEquals(await got.toArray(), [[[[-(2 ** 31)], [3]]]]);
});
