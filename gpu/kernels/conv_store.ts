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

/**
 * The statements of a convolution's `storeC` that store its result swapped: `lin`, the NCHW
 * index of `[N, O, ...spatial]`, becomes that of `[O, N, ...spatial]` for the statements
 * (generated at the swapped result's index).
 *
 * @param swapped The swapped result's shape `[O, N, ...spatial]`.
 * @param lines The statements storing at `lin`.
 * @returns The statements storing at the convolution's `lin`.
 */
export function swapStore(swapped: readonly number[], lines: readonly string[]): string[] {
  const [O, N] = swapped;
  const S = swapped.slice(2).reduce((a, b) => a * b, 1);
  return [
    `let swq = lin / ${u(S)};`,
    `let slin = ((swq % ${u(O)}) * ${u(N)} + swq / ${u(O)}) * ${u(S)} + lin % ${u(S)};`,
    "{",
    "  let lin = slin;",
    ...lines.map((l) => `  ${l}`),
    "}",
  ];
}

/**
 * The epilogue of a convolution's store statements where it reads and writes at `lin` alone
 * (`x[lin]`, no other use of the index): the statements, and whether they store swapped
 * ({@link swapStore}). Such an epilogue is the same text for every shape, so a kernel can
 * compute `lin` from sizes in a uniform (`conv_pack.ts`'s `sumSplitsShared`).
 *
 * @param store The statements of `storeC` (given `lin`, the output's NCHW index).
 * @param O The output's features.
 * @param N The output's batch.
 * @param S The output's positions per feature.
 * @returns The statements at the (swapped) index and whether swapped, or null.
 */
export function linOnlyStore(
  store: readonly string[],
  O: number,
  N: number,
  S: number,
): { readonly body: readonly string[]; readonly swap: boolean } | null {
  const head = swapStore([O, N, S], []).slice(0, 4);
  const swap = store.length > head.length && head.every((l, j) => store[j] === l) &&
    store[store.length - 1] === "}";
  const body = swap ? store.slice(head.length, -1).map((l) => l.slice(2)) : store;
  const text = body.join("\n").replaceAll("[lin]", "[]");
  return /\b(lin|g|m|n)\b/.test(text) ? null : { body, swap };
}
