/**
 * Convolutions of an lhs-dilated input (the input gradient of a strided convolution, a
 * transposed convolution) by phases, so that no product with an inserted zero is computed.
 *
 * Along a dim with lhs dilation L > 1 and window stride 1, output position `o = a·L + r`
 * reads the dilated input at `o + k·D − lo` (kernel tap k, rhs dilation D, low padding lo),
 * which holds an input element only when `r + k·D − lo ≡ 0 (mod L)`. For each phase r those
 * taps form an arithmetic progression `k0, k0 + step, …` (step = L / gcd(D, L)), and the
 * phase's outputs are a plain convolution of the undilated input: kernel the taps of the phase
 * (rhs dilation D·step / L), low padding `−(r + k0·D − lo) / L`, outputs `a = 0 … ⌈(OUT − r) / L⌉ − 1`.
 * The plan runs, per combination of phases over the dilated dims, a small gather of the phase's
 * kernel taps then `convPlan` of the sub-convolution (any of its forms), whose `storeC` maps the
 * sub-output's linear index to the full output's — so fused epilogues see the output index
 * they expect. A phase without taps stores zeros (through `storeC` as well). On CPU adapters,
 * where every phase's rows are too short for the sliding multiply, all phases run instead as one
 * texture multiply (`conv_phase_texture.ts`): 3-4 pipelines instead of 4 or 5 per phase.
 *
 * @module
 */
import type { ConvParams } from "../../core/prims/conv.ts";
import type { DType } from "../../core/dtype.ts";
import {
  type BufRef,
  decode,
  elementwiseKernel,
  inp,
  out,
  type Plan,
  size,
  type Step,
  storageType,
  strides,
  type TexRef,
  type TextureSpec,
  tmp,
  u,
} from "./common.ts";
import { convPhaseTexturePlan, type Phase } from "./conv_phase_texture.ts";
import type { GemmCaps } from "./gemm.ts";

const _gcd = (a: number, b: number): number => (b === 0 ? a : _gcd(b, a % b));

/** The phases of one spatial dim (one phase, the dim unchanged, where it is not dilated). */
function _phases(
  n: number,
  K: number,
  OUT: number,
  L: number,
  D: number,
  lo: number,
  hi: number,
): Phase[] {
  if (L === 1) return [{ r: 0, A: OUT, k0: 0, step: 1, Kr: K, lo, hi, rd: D }];
  const step = L / _gcd(D, L);
  const res: Phase[] = [];
  for (let r = 0; r < L && r < OUT; r++) {
    const A = Math.ceil((OUT - r) / L);
    let k0 = -1;
    for (let k = 0; k < Math.min(K, step); k++) {
      if ((((r + k * D - lo) % L) + L) % L === 0) {
        k0 = k;
        break;
      }
    }
    const Kr = k0 < 0 ? 0 : Math.ceil((K - k0) / step);
    if (Kr === 0) {
      res.push({ r, A, k0: 0, step, Kr: 0, lo: 0, hi: 0, rd: 1 });
      continue;
    }
    const slo = -(r + k0 * D - lo) / L, rd = (D * step) / L;
    const dk = (Kr - 1) * rd + 1;
    res.push({ r, A, k0, step, Kr, lo: slo, hi: A - 1 + dk - n - slo, rd });
  }
  return res;
}

/**
 * Whether {@link convPhasePlan} applies: some spatial dim has lhs dilation > 1, and every such
 * dim has window stride 1 (the input gradient of a strided convolution always does).
 *
 * @param p The parameters.
 * @returns Whether the convolution runs by phases.
 */
export function convByPhases(p: ConvParams): boolean {
  const dilated = p.lhsDilation.map((l, d) => l > 1 && p.windowStrides[d] === 1);
  return dilated.some((x) => x) &&
    p.lhsDilation.every((l, d) => l === 1 || p.windowStrides[d] === 1);
}

/** The output shape of a convolution (`conv.ts`'s `convOutShape`, passed in with the planner). */
export type ConvOutShapeFn = (
  lhs: readonly number[],
  rhs: readonly number[],
  p: ConvParams,
) => number[];

/** The plan-building function of `conv.ts`, passed in (it is this module's caller). */
export type ConvPlanFn = (
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  p: ConvParams,
  caps: GemmCaps | undefined,
  store: readonly string[],
) => Plan;

/**
 * The convolution of an lhs-dilated input as a plan of phase sub-convolutions (see the module
 * documentation). Callers check {@link convByPhases} first.
 *
 * @param dtype f32, i32 or u32.
 * @param lhs The lhs shape.
 * @param rhs The rhs shape.
 * @param outShape The output shape.
 * @param p The parameters.
 * @param caps What the GEMM may use.
 * @param store The statements of the output's `storeC`.
 * @param convPlan The convolution planner for the sub-convolutions.
 * @param convOutShape The output shape of a convolution.
 * @returns The plan: inputs (lhs, rhs) → output 0.
 */
export function convPhasePlan(
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  outShape: readonly number[],
  p: ConvParams,
  caps: GemmCaps | undefined,
  store: readonly string[],
  convPlan: ConvPlanFn,
  convOutShape: ConvOutShapeFn,
): Plan {
  const inSp = lhs.slice(2), kSp = rhs.slice(2), oSp = outShape.slice(2);
  const per = inSp.map((n, d) =>
    _phases(n, kSp[d], oSp[d], p.lhsDilation[d], p.rhsDilation[d], ...p.padding[d])
  );
  if (caps?.textures) {
    // on CPU adapters, every phase in one texture multiply where the phases' rows are short
    const tp = convPhaseTexturePlan(dtype, lhs, rhs, outShape, p, per, caps, store);
    if (tp) return tp;
  }
  const steps: Step[] = [];
  const temps: number[] = [];
  const textures: TextureSpec[] = [];
  const t = storageType(dtype);
  // every combination of one phase per dim
  const combos: Phase[][] = per.reduce<Phase[][]>(
    (acc, ph) => acc.flatMap((c) => ph.map((q) => [...c, q])),
    [[]],
  );
  const lead = [outShape[0], outShape[1]];
  for (const ph of combos) {
    const subOut = [...lead, ...ph.map((q) => q.A)];
    const remap = _remapStore(subOut, oSp, ph, p.lhsDilation, store);
    if (ph.some((q) => q.Kr === 0)) {
      steps.push({ kind: "dispatch", kernel: _zeros(t, subOut, remap) });
      continue;
    }
    const subK = [rhs[0], rhs[1], ...ph.map((q) => q.Kr)];
    const kt = temps.length;
    temps.push(size(subK) * 4);
    steps.push({ kind: "dispatch", kernel: _taps(t, rhs, subK, ph, kt) });
    const sp: ConvParams = {
      ...p,
      padding: ph.map((q): [number, number] => [q.lo, q.hi]),
      lhsDilation: ph.map(() => 1),
      rhsDilation: ph.map((q) => q.rd),
    };
    const got = convOutShape(lhs, subK, sp);
    if (got.some((n, d) => n !== subOut[d])) {
      throw new Error(
        `internal: conv phase [${ph.map((q) => q.r)}] gives [${got}], not [${subOut}]`,
      );
    }
    const sub = convPlan(dtype, lhs, subK, sp, caps, remap);
    const t0 = temps.length, x0 = textures.length;
    temps.push(...sub.temps);
    textures.push(...(sub.textures ?? []));
    const buf = (r: BufRef): BufRef =>
      r.kind === "tmp" ? tmp(r.index + t0) : r.kind === "in" && r.index === 1 ? tmp(kt) : r;
    const ref = (r: BufRef | TexRef): BufRef | TexRef =>
      r.kind === "tex" ? { kind: "tex", index: r.index + x0 } : buf(r);
    for (const s of sub.steps) {
      if (s.kind === "dispatch") {
        steps.push({
          kind: "dispatch",
          kernel: { ...s.kernel, bindings: s.kernel.bindings.map(ref) },
        });
      } else if (s.kind === "copy") {
        steps.push({ ...s, src: buf(s.src), dst: buf(s.dst) });
      } else {
        steps.push({ ...s, src: buf(s.src), dst: ref(s.dst) as TexRef });
      }
    }
  }
  return { steps, temps, textures };
}

/**
 * The statements of a sub-convolution's `storeC`: its output's linear index `lin` mapped to the
 * full output's (position a·L + r along each dilated dim), then the caller's statements.
 */
function _remapStore(
  subOut: readonly number[],
  oSp: readonly number[],
  ph: readonly Phase[],
  L: readonly number[],
  store: readonly string[],
): string[] {
  const nsp = oSp.length;
  const lines = [decode("lin", subOut, "ps")];
  let e = "ps0";
  e = `(${e}) * ${u(subOut[1])} + ps1`;
  for (let d = 0; d < nsp; d++) {
    const pos = L[d] === 1 ? `ps${d + 2}` : `ps${d + 2} * ${u(L[d])} + ${u(ph[d].r)}`;
    e = `(${e}) * ${u(oSp[d])} + ${pos}`;
  }
  lines.push(`let plin = ${e};`, `{\n  let lin = plin;\n  ${store.join("\n  ")}\n  }`);
  return lines;
}

/** The kernel taps of one phase combination: `rhs[o, c, k0 + j·step, …]` into temp `kt`. */
function _taps(
  t: string,
  rhs: readonly number[],
  subK: readonly number[],
  ph: readonly Phase[],
  kt: number,
) {
  const st = strides(rhs);
  const terms = [`k0 * ${u(st[0])}`, `k1 * ${u(st[1])}`];
  ph.forEach((q, d) => terms.push(`(${u(q.k0)} + k${d + 2} * ${u(q.step)}) * ${u(st[d + 2])}`));
  return elementwiseKernel({
    bindings: [
      { name: "w", type: t, access: "read", ref: inp(1) },
      { name: "o", type: t, access: "read_write", ref: tmp(kt) },
    ],
    total: size(subK),
    body: `${decode("i", subK, "k")}\n  o[i] = w[${terms.join(" + ")}];`,
  });
}

/** Zeros through `storeC` at every output of a phase combination without kernel taps. */
function _zeros(t: string, subOut: readonly number[], remap: readonly string[]) {
  return elementwiseKernel({
    bindings: [{ name: "o", type: t, access: "read_write", ref: out(0) }],
    total: size(subOut),
    helpers: `fn storeC(g: u32, m: u32, n: u32, v: ${t}) {\n  let lin = m;\n  ${
      remap.join("\n  ")
    }\n}`,
    body: `storeC(0u, i, 0u, ${t}(0));`,
  });
}
