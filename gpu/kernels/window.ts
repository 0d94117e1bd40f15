/**
 * `reduce_window` (sum, max or min pooling): one invocation per output element loops over its
 * window. Window element w of output position o along dim d sits at
 * `o · stride + w · windowDilation - padLo` in the base-dilated, padded operand; positions in
 * the padding or between dilated base elements contribute the op's identity.
 *
 * The window selections of max/min pooling's derivatives share that addressing:
 * `select_and_gather_add` (one invocation per window: find the selected element, read the
 * tangent there) and `select_and_scatter_add` in two steps (one invocation per window records
 * the selected element's index; then, in gather form, one invocation per operand element visits
 * the windows that contain it and adds the cotangents of those that selected it) — no scatter,
 * no atomics, no copies of the windows.
 *
 * Every kernel first merges adjacent trivial dims (one tap, stride 1, no padding or dilation:
 * pooling's batch and channels) into one ({@link canonicalWindow}), and walks a window in a
 * helper function (`win`, `pick`, `tang`, `gath`) that `main` calls with its linear index. The
 * lowerings make these kernels shape-generic (`genericKernel` moves the literals of `main` alone
 * into a uniform): layers that differ only in batch and channels share one pipeline, while the
 * window's addressing keeps its literals (with all sizes from a uniform, pooling ran 1.7-2.2×
 * slower).
 *
 * @module
 */
import type { WindowParams } from "../../core/prims/window.ts";
import type { DType } from "../../core/dtype.ts";
import {
  decode,
  elementwiseKernel,
  F32_SPECIALS,
  GPU_ITEM_BYTES,
  Helpers,
  i,
  inp,
  type Kernel,
  out,
  type Plan,
  size,
  storageType,
  strides,
  tmp,
  u,
} from "./common.ts";
import { accumulate, accumulated, accumulator, type Monoid } from "./reduce.ts";

/** Windows longer than this are visited several elements per loop iteration. */
const _UNROLL_FROM = 16384;
/** The most window elements visited per loop iteration. */
const _MAX_UNROLL = 64;

/** Parameters of `reduce_window`, as the core primitive declares them. */
export type { WindowParams } from "../../core/prims/window.ts";

/**
 * The output shape of `reduce_window`.
 *
 * @param shape The operand's shape.
 * @param p The parameters.
 * @returns The output shape.
 */
export function windowOutShape(shape: readonly number[], p: WindowParams): number[] {
  return shape.map((n, d) => {
    const din = n === 0 ? 0 : (n - 1) * p.baseDilation[d] + 1;
    const dw = (p.windowDimensions[d] - 1) * p.windowDilation[d] + 1;
    const span = din + p.padding[d][0] + p.padding[d][1] - dw;
    return span < 0 ? 0 : Math.floor(span / p.windowStrides[d]) + 1;
  });
}

/** Whether dim `d` of a window is trivial: one tap, stride 1, no padding, no dilation. */
function _trivial(p: WindowParams, d: number): boolean {
  return p.windowDimensions[d] === 1 && p.windowStrides[d] === 1 && p.padding[d][0] === 0 &&
    p.padding[d][1] === 0 && p.baseDilation[d] === 1 && p.windowDilation[d] === 1;
}

/**
 * The problem with each run of adjacent trivial dims merged into one (their product): the same
 * linear layouts of operand, windows and output, fewer indices to compute, and no bounds check
 * on the merged dim (its output index is its input index). Pooling's `[N, C, H, W]` becomes
 * `[N·C, H, W]`, whose kernels then differ between layers only in the element count, which
 * the shape-generic form reads from a uniform (see the module doc).
 *
 * @param shape The operand's shape.
 * @param p The window parameters.
 * @returns The merged shape and parameters.
 */
export function canonicalWindow(
  shape: readonly number[],
  p: WindowParams,
): { shape: number[]; p: WindowParams } {
  const keep: number[] = [], sh: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (_trivial(p, d) && keep.length && _trivial(p, keep[keep.length - 1])) {
      sh[sh.length - 1] *= shape[d];
    } else {
      keep.push(d);
      sh.push(shape[d]);
    }
  }
  const pick = <T>(xs: readonly T[]) => keep.map((d) => xs[d]);
  return {
    shape: sh,
    p: {
      ...p,
      windowDimensions: pick(p.windowDimensions),
      windowStrides: pick(p.windowStrides),
      padding: pick(p.padding),
      baseDilation: pick(p.baseDilation),
      windowDilation: pick(p.windowDilation),
    },
  };
}

/**
 * The `reduce_window` kernel.
 *
 * @param dtype The dtype.
 * @param shape The operand's shape.
 * @param p The parameters.
 * @returns The kernel: input 0 → output 0.
 */
export function reduceWindowKernel(
  dtype: DType,
  shape0: readonly number[],
  p0: WindowParams,
): Kernel {
  const { shape, p } = canonicalWindow(shape0, p0);
  const h = new Helpers();
  const m: Monoid = p.op;
  const t = storageType(dtype);
  const outShape = windowOutShape(shape, p);
  const visit = (w: string): string[] => [
    ..._tapLines(shape, p, w),
    `  if (ok) { let x = a[off]; ${accumulate(m, dtype, "x", h)} }`,
  ];
  // the window in a function of its own: the shape-generic form leaves its literals alone
  const lines = [decode("ol", outShape, "o"), accumulator(m, dtype, h)];
  lines.push(..._windowLoop("reduce_window", dtype, shape, p, visit));
  lines.push(`return ${accumulated(m, dtype)};`);
  h.add(`fn win(ol: u32, wid: vec3u) -> ${t} {\n  ${lines.join("\n  ")}\n}`);
  return elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: inp(0) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: size(outShape),
    helpers: String(h),
    body: "o[i] = win(i, wid);",
  });
}

/**
 * Lines that set `ok` (window tap `w` of the output position `o0, o1, …` lands on an element of
 * the operand, not in padding or a hole of the base dilation) and `off` (that element's linear
 * index).
 */
function _tapLines(shape: readonly number[], p: WindowParams, w: string): string[] {
  const st = strides(shape);
  const ls = [`  ${decode(w, p.windowDimensions, "w")}`, "  var ok = true;", "  var off = 0u;"];
  for (let d = 0; d < shape.length; d++) {
    const bd = p.baseDilation[d];
    if (_trivial(p, d)) {
      // the output index is the operand's: always within it
      ls.push(`  off = off + o${d} * ${u(st[d])};`);
      continue;
    }
    ls.push(
      `  let q${d} = i32(o${d} * ${u(p.windowStrides[d])} + w${d} * ${u(p.windowDilation[d])}) - ${
        i(p.padding[d][0])
      };`,
    );
    if (bd === 1) {
      ls.push(`  ok = ok && q${d} >= 0i && q${d} < ${i(shape[d])};`);
      ls.push(`  off = off + u32(q${d}) * ${u(st[d])};`);
    } else {
      ls.push(
        `  ok = ok && q${d} >= 0i && q${d} % ${i(bd)} == 0i && q${d} / ${i(bd)} < ${i(shape[d])};`,
      );
      ls.push(`  off = off + u32(q${d} / ${i(bd)}) * ${u(st[d])};`);
    }
  }
  return ls;
}

/**
 * A loop over the window's taps running `visit` on each: windows longer than `_UNROLL_FROM`
 * taps visit U of them per iteration, so that a loop runs at most `_UNROLL_FROM` times
 * (llvmpipe ends loops after 65535 iterations).
 */
function _windowLoop(
  op: string,
  dtype: DType,
  shape: readonly number[],
  p: WindowParams,
  visit: (w: string) => string[],
): string[] {
  const W = size(p.windowDimensions);
  const U = W > _UNROLL_FROM ? Math.ceil(W / _UNROLL_FROM) : 1;
  if (U > _MAX_UNROLL) {
    throw new RangeError(
      `${op}: a window of ${W} elements ([${p.windowDimensions}]) on ${dtype}[${shape}] ` +
        `is longer than WebGPU supports (${_MAX_UNROLL * _UNROLL_FROM})`,
    );
  }
  if (U === 1) return [`for (var w = 0u; w < ${u(W)}; w = w + 1u) {`, ...visit("w"), "}"];
  const lines = [`for (var wb = 0u; wb < ${u(W)}; wb = wb + ${u(U)}) {`];
  for (let k = 0; k < U; k++) {
    lines.push(`  if (wb + ${u(k)} < ${u(W)}) {`, ...visit(`wb + ${u(k)}`), "  }");
  }
  lines.push("}");
  return lines;
}

/** The value that marks a window without a selected element (every tap in padding or holes). */
const _NONE = 0xffffffff;

/**
 * The WGSL function `pick(ol: u32) -> u32`: the linear index in `x` of the element that window
 * `ol` (a linear output index) selects — its first NaN, else its first extremum in row-major
 * window order — or `_NONE`.
 */
function _pickFn(dtype: DType, shape: readonly number[], p: WindowParams, h: Helpers): string {
  const t = storageType(dtype);
  const outShape = windowOutShape(shape, p);
  const cmp = p.op === "max" ? ">" : "<";
  let better = `v ${cmp} best`;
  let stop = "";
  if (dtype === "f32") {
    h.add(F32_SPECIALS);
    better = `_isnan(v) || v ${cmp} best`;
    stop = " || _isnan(best)";
  }
  const visit = (w: string): string[] => [
    ..._tapLines(shape, p, w),
    `  if (ok) {`,
    `    let v = x[off];`,
    `    if (at == ${u(_NONE)} || (!(false${stop}) && (${better}))) { best = v; at = off; }`,
    "  }",
  ];
  const body = [
    decode("ol", outShape, "o"),
    `var best = ${t}(0);`,
    `var at = ${u(_NONE)};`,
    ..._windowLoop(`select (${p.op}) of a window`, dtype, shape, p, visit),
    "return at;",
  ];
  return `fn pick(ol: u32) -> u32 {\n  ${body.join("\n  ")}\n}`;
}

/**
 * The `select_and_gather_add` kernel: per window, the element of `t` where `x` selects.
 *
 * @param dtype The dtype of `t` and `x`.
 * @param shape The shape of `t` and `x`.
 * @param p The window params (`op` "max" or "min").
 * @returns The kernel: inputs (t, x) → output 0, of `reduce_window`'s shape.
 */
export function selectGatherKernel(
  dtype: DType,
  shape0: readonly number[],
  p0: WindowParams,
): Kernel {
  const { shape, p } = canonicalWindow(shape0, p0);
  const h = new Helpers();
  const t = storageType(dtype);
  h.add(_pickFn(dtype, shape, p, h));
  // the sentinel compared in a helper too: `main` keeps no literal but the count
  h.add(`fn tang(ol: u32) -> ${t} {
  let s = pick(ol);
  if (s == ${u(_NONE)}) { return ${t}(0); }
  return tg[s];
}`);
  return elementwiseKernel({
    bindings: [
      { name: "tg", type: t, access: "read", ref: inp(0) },
      { name: "x", type: t, access: "read", ref: inp(1) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: size(windowOutShape(shape, p)),
    helpers: String(h),
    body: "o[i] = tang(i);",
  });
}

/**
 * The `select_and_scatter_add` plan, in two dispatches with a u32 temporary `sel` of one word
 * per window:
 *
 * 1. per window (`reduce_window`'s output), the linear index in `x` of the element it selects,
 *    or `_NONE` for a window wholly in padding or holes (`pick`, as `select_and_gather_add`);
 * 2. gather form: each element of `x` visits the windows that contain it (per dim, the taps j
 *    with `(index · baseDilation + padLo − j · windowDilation)` a non-negative multiple of the
 *    stride below the output size), in row-major tap order, and adds the cotangent of those
 *    whose selection is itself. No atomics, no scatter, no re-selection per visit; an element
 *    in no window gets 0.
 *
 * @param dtype The dtype of `ct` and `x`.
 * @param shape The shape of `x`.
 * @param p The window params (`op` "max" or "min").
 * @returns The plan: inputs (ct, x) → output 0, of `x`'s shape.
 */
export function selectScatterPlan(
  dtype: DType,
  shape0: readonly number[],
  p0: WindowParams,
): Plan {
  const { shape, p } = canonicalWindow(shape0, p0);
  const t = storageType(dtype);
  const outShape = windowOutShape(shape, p), ost = strides(outShape);
  const h = new Helpers();
  h.add(_pickFn(dtype, shape, p, h));
  const select = elementwiseKernel({
    bindings: [
      { name: "x", type: t, access: "read", ref: inp(1) },
      { name: "sel", type: "u32", access: "read_write", ref: tmp(0) },
    ],
    total: size(outShape),
    helpers: String(h),
    body: "sel[i] = pick(i);",
  });
  const lines = [decode("e", shape, "c"), `var acc = ${t}(0);`];
  let close = 0;
  for (let d = 0; d < shape.length; d++) {
    if (_trivial(p, d)) {
      lines.push(`let o${d} = c${d};`); // one window per element along d: its own
      continue;
    }
    const W = p.windowDimensions[d], s = p.windowStrides[d];
    const bd = p.baseDilation[d], wd = p.windowDilation[d], lo = p.padding[d][0];
    if (W > 1) {
      lines.push(`for (var j${d} = 0u; j${d} < ${u(W)}; j${d} = j${d} + 1u) {`);
      close++;
    }
    const pos = `i32(c${d}${bd === 1 ? "" : ` * ${u(bd)}`}) + ${i(lo)}`;
    lines.push(`let r${d} = ${pos}${W > 1 ? ` - i32(j${d} * ${u(wd)})` : ""};`);
    const conds = [`r${d} >= 0i`, `r${d} / ${i(s)} < ${i(outShape[d])}`];
    if (s > 1) conds.splice(1, 0, `r${d} % ${i(s)} == 0i`);
    lines.push(`if (${conds.join(" && ")}) {`, `let o${d} = u32(r${d} / ${i(s)});`);
    close++;
  }
  const ol = shape.map((_, d) => `o${d} * ${u(ost[d])}`).join(" + ") || "0u";
  lines.push(`let ol = ${ol};`, "if (sel[ol] == e) { acc = acc + ct[ol]; }");
  for (let k = 0; k < close; k++) lines.push("}");
  lines.push("return acc;");
  const scatter = elementwiseKernel({
    bindings: [
      { name: "ct", type: t, access: "read", ref: inp(0) },
      { name: "sel", type: "u32", access: "read", ref: tmp(0) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: size(shape),
    helpers: `fn gath(e: u32) -> ${t} {\n  ${lines.join("\n  ")}\n}`,
    body: "o[i] = gath(i);",
  });
  return {
    steps: [{ kind: "dispatch", kernel: select }, { kind: "dispatch", kernel: scatter }],
    temps: [size(outShape) * GPU_ITEM_BYTES],
  };
}
