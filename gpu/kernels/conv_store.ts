/**
 * The accumulators and stores of a texture multiply's tile (`conv_texture.ts`,
 * `conv_phase_texture.ts`, `gemm_texture.ts`, `gemm_flat.ts`): one store statement in a loop
 * over the tile, the accumulators picked by `select`s (llvmpipe's compile time).
 *
 * @module
 */
import { u } from "./common.ts";

/**
 * Whether a `storeC` is light enough to be written out once per column of a tile row
 * ({@link tileStores}' `light`): it accesses no buffer besides the output (no fused epilogue
 * reading a bias, a batch norm's statistics …).
 *
 * @param storeFn The WGSL of `storeC`.
 * @returns Whether it is light.
 */
export function lightStore(storeFn: string): boolean {
  return (storeFn.match(/\[/g) ?? []).length <= 1;
}

/**
 * The statements storing a TM × TN tile of accumulators: `vec(i, j)` is a `vec4<t>` of row `i`,
 * columns `4j … 4j + 3` (lanes past TN are never stored), `put(i, n, v)` guards and stores `v`,
 * row `i` of the tile (a WGSL expression), column `n`: one element (`v` a scalar, `n` is
 * `nb + c`) or, with `quads`, four columns (`v` a `vec4`, `n` is `nb + 4·j`).
 *
 * One loop over the rows picks each row's vectors by a chain of `select`s, and a loop over its
 * columns stores them (with `quads`, one loop over the column quads, then one over the rows, so
 * that `colPre(n)`, statements once per quad such as a bias read, run once): `put` (with the
 * fused epilogue inlined in `storeC`) appears once per 8 rows (`_SEGMENT`). On llvmpipe every
 * storage store is a loop over the SIMD lanes with a branch per lane, and the blocks they add
 * make every instruction of the shader dearer to compile (LLVM's coroutine frame, register allocation): written out
 * once per element, the stores of a 4 × 4 tile cost ~15 ms of a ~55 ms compile, and those of
 * ResNet-18's 7 × 7 stem (7 × 8) ~65 of ~155 ms. Copied into an array and stored by one loop,
 * the dynamic index compiled slower still (a batch-norm epilogue's 4 × 4 tile: 54 ms written
 * out, 76 ms as an array, 41-48 ms by selects). The trip counts read the size of texture `tex`
 * (never 0), which Mesa cannot fold, so its loop unroller leaves the loops alone (not the
 * output's `arrayLength`: `f16_bind.ts` rewrites the output of a kernel that only stores to it);
 * they run once per invocation, after the multiply.
 *
 * @param tex A texture the kernel binds (`TX`, `TA`).
 * @param TM Rows of the tile.
 * @param TN Columns of the tile.
 * @param vec The `vec4` of row `i`, column quad `j`, as a WGSL expression.
 * @param put The guarded store of `v` at tile row `i`, output column `n`.
 * With `light` (a `storeC` without a fused epilogue's reads, {@link lightStore}) the columns of
 * a row are written out in the row loop instead: a loop over them with a dynamic lane made
 * ResNet-18's training step ~2.5% slower (its 512 × 512 kernel gradients, one kernel position
 * and 8 channels, are mostly stores: 4 → 5.3 ms), for ~1.5 ms less compiling per kernel.
 *
 * @param opts `quads`: whether `put` stores four columns at once; `colPre`: with `quads`, the
 *   statements before the stores of the quad at column `n`; `light`: whether to write the
 *   columns out.
 * @returns The statements (they declare `tsr…`, `tsc`, `ti`, `tc`, `tr{j}`, `tq{i}`, `tv`).
 */
export function tileStores(
  tex: string,
  TM: number,
  TN: number,
  vec: (i: number, j: number) => string,
  put: (i: string, n: string, v: string) => string,
  opts: {
    readonly quads?: boolean;
    readonly colPre?: (n: string) => string[];
    readonly light?: boolean;
  } = {},
): string[] {
  const TN4 = Math.ceil(TN / 4);
  const chain = (xs: string[], key: string) =>
    xs.reduce((e, x, k) => (k === 0 ? x : `select(${e}, ${x}, ${key} == ${u(k)})`), "");
  const count = (name: string, n: number) =>
    `let ${name} = select(${u(n)}, 0u, textureDimensions(${tex}).x == 0u);`;
  const rows = Array.from({ length: TM }, (_, i) => i);
  const quads = Array.from({ length: TN4 }, (_, j) => j);
  // rows in segments of at most _SEGMENT, a loop each: picking a row costs a select per row of
  // its segment
  const segments: number[][] = [];
  for (let r0 = 0; r0 < TM; r0 += _SEGMENT) segments.push(rows.slice(r0, r0 + _SEGMENT));
  const loop = (seg: number[], body: (ti: string) => string[]) => [
    count(`tsr${seg[0]}`, seg.length),
    `for (var ti = 0u; ti < tsr${seg[0]}; ti = ti + 1u) {`,
    ...body(seg[0] ? `(ti + ${u(seg[0])})` : "ti").map((l) => `  ${l}`),
    `}`,
  ];
  if (opts.quads) {
    // quads outer: each row's vector of the quad, then loops over the rows
    const n = TN4 === 1 ? "nb" : "nb + tc * 4u";
    const quad = [
      ...(opts.colPre?.(n) ?? []),
      ...rows.map((i) => `let tq${i} = ${chain(quads.map((j) => vec(i, j)), "tc")};`),
      ...segments.flatMap((seg) =>
        loop(seg, (ti) => [
          `let tv = ${chain(seg.map((i) => `tq${i}`), "ti")};`,
          put(ti, n, "tv"),
        ])
      ),
    ];
    return TN4 === 1 ? quad : [
      count("tsc", TN4),
      `for (var tc = 0u; tc < tsc; tc = tc + 1u) {`,
      ...quad.map((l) => `  ${l}`),
      `}`,
    ];
  }
  if (opts.light) {
    // a light store: the columns written out in the row loop (no dynamic lane, no inner loop)
    return segments.flatMap((seg) =>
      loop(seg, (ti) => [
        ...quads.map((j) => `let tr${j} = ${chain(seg.map((i) => vec(i, j)), "ti")};`),
        ...Array.from({ length: TN }, (_, c) =>
          put(ti, `nb + ${u(c)}`, `tr${c >> 2}.${"xyzw"[c & 3]}`)),
      ])
    );
  }
  return [
    count("tsc", TN),
    ...segments.flatMap((seg) =>
      loop(seg, (ti) => [
        ...quads.map((j) => `let tr${j} = ${chain(seg.map((i) => vec(i, j)), "ti")};`),
        `for (var tc = 0u; tc < tsc; tc = tc + 1u) {`,
        `  let tv = ${chain(quads.map((j) => `tr${j}`), "tc / 4u")};`,
        `  ${put(ti, "nb + tc", "tv[tc % 4u]")}`,
        `}`,
      ])
    ),
  ];
}

/**
 * Rows per loop of {@link tileStores}: picking a row's vectors costs a select per row of its
 * loop, TM² in all with one loop. W4's second layer (24 rows × 4
 * features, GPU time on llvmpipe, 60-80 runs alternating in one process) ran 1.7% slower than
 * with the stores written out with one loop of 24, as fast with loops of 8 (compiling in 141
 * instead of 128 ms; 263 ms written out).
 */
const _SEGMENT = 8;

/**
 * The accumulators of a texture multiply, `c{i}_{j}` for row `i` and column quad `j`: a
 * `vec4` of four columns (the last quad of TN not a multiple of 4: a vector of the rest, or a
 * scalar), so that one statement adds a row's products with four columns of W, the same
 * additions in the same order as one per column (the results are bit-identical). By itself
 * this hardly changes llvmpipe's compile time (Mesa splits vectors into scalars before LLVM: a
 * 4 × 4 tile 56.5 → 56.2 ms, the stem's 157 → 154 ms); it makes the accumulators selectable
 * as vectors by {@link tileStores}.
 *
 * @param TM Rows.
 * @param TN Columns.
 * @param t The storage type.
 * @returns The declarations, the width of quad `j`, its swizzle of a `vec4` of W (`""` when
 *   whole), and its `vec4` (for {@link tileStores}).
 */
export function vecAccumulators(TM: number, TN: number, t: string): {
  decls: string[];
  width: (j: number) => number;
  swizzle: (j: number) => string;
  vec: (i: number, j: number) => string;
} {
  const TN4 = Math.ceil(TN / 4);
  const width = (j: number) => Math.min(4, TN - 4 * j);
  const type = (w: number) => (w === 1 ? t : `vec${w}<${t}>`);
  const decls: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN4; j++) decls.push(`var c${i}_${j} = ${type(width(j))}();`);
  }
  return {
    decls,
    width,
    swizzle: (j) => (width(j) === 4 ? "" : `.${"xyzw".slice(0, width(j))}`),
    vec: (i, j) => {
      const w = width(j);
      return w === 4
        ? `c${i}_${j}`
        : `vec4<${t}>(c${i}_${j}, ${Array.from({ length: 4 - w }, () => `${t}(0)`).join(", ")})`;
    },
  };
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
