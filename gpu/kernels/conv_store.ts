/**
 * The stores of a convolution multiply's tile of accumulators (`conv_texture.ts`): written out,
 * or, where the output's `storeC` carries a heavy fused epilogue, by a loop (llvmpipe's compile
 * time).
 *
 * @module
 */
import { u } from "./common.ts";

/**
 * Whether a `storeC` is heavy enough to store a tile by a loop ({@link tileStores}): it accesses
 * a buffer besides the output (a fused epilogue reading a bias, a batch norm's statistics …).
 *
 * @param storeFn The WGSL of `storeC`.
 * @returns Whether to loop.
 */
export function heavyStore(storeFn: string): boolean {
  return (storeFn.match(/\[/g) ?? []).length > 1;
}

/**
 * The statements storing a TM × TN tile of accumulators `c{i}_{c}`: `put(i, n, v)` guards and
 * stores `v`, row `i` of the tile, column `n` (`nb + c`). Written out once per element
 * (`looped` false), or, for heavy epilogues, copied into an array and stored by a loop. Written
 * out, a fused epilogue is inlined 16 to 192 times with its bounds-checked reads, most of
 * llvmpipe's compile time: a ResNet-18 gradient kernel with a batch-norm epilogue compiled in
 * ~450 ms unrolled, ~250 ms looped (back to back, loaded machine); plain stores compile faster
 * unrolled (the array's dynamic index costs more). The trip count reads `arrayLength(&o)`,
 * which Mesa cannot fold, so its loop unroller leaves the loop alone; the loop runs once per
 * invocation, after the multiply.
 */
export function tileStores(
  TM: number,
  TN: number,
  t: string,
  looped: boolean,
  put: (i: string, n: string, v: string) => string,
): string[] {
  if (!looped) {
    const st: string[] = [];
    for (let i = 0; i < TM; i++) {
      for (let c = 0; c < TN; c++) st.push(put(u(i), `nb + ${u(c)}`, `c${i}_${c}`));
    }
    return st;
  }
  const accs: string[] = [];
  for (let i = 0; i < TM; i++) for (let c = 0; c < TN; c++) accs.push(`c${i}_${c}`);
  return [
    `var acc = array<${t}, ${TM * TN}>(${accs.join(", ")});`,
    `let ne = select(${u(TM * TN)}, 0u, arrayLength(&o) == 0u);`,
    `for (var e = 0u; e < ne; e = e + 1u) {`,
    `  let ti = e / ${u(TN)};`,
    `  let n = nb + e % ${u(TN)};`,
    `  ${put("ti", "n", "acc[e]")}`,
    `}`,
  ];
}
