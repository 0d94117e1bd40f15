/**
 * WGSL expressions of fused values. A value that is not materialized is computed where it is
 * read: `gen(v, idx)` returns a WGSL expression of `v` at an index, recursing through its
 * producer: elementwise ops evaluate their operands at the same index, and movement ops
 * (broadcast, reshape, transpose, slice, rev, pad, concatenate, iota, `step_slice`) are index
 * arithmetic on their operand's index, never copies. Materialized values (leaves) are loads
 * from their storage binding. Every intermediate gets a `let`, memoised per (value, index), so
 * a value read twice at one index is computed once.
 *
 * Indices are kept linear (`lin`, row-major) or per dimension (`dims`), converting lazily:
 * elementwise chains and reshapes never decode, transposes and broadcasts do.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import { paramsOf } from "../../core/primitive.ts";
import {
  broadcast_in_dim_p,
  concatenate_p,
  iota_p,
  pad_p,
  rev_p,
  slice_p,
  transpose_p,
} from "../../core/prims/structural.ts";
import { F32_SPECIALS, Helpers, i as i32Lit, storageType, strides, u } from "../kernels/common.ts";
import { binaryExpr, convertExpr, unaryExpr } from "../kernels/elementwise.ts";
import { roundF16Expr } from "../kernels/f16.ts";
import {
  BINARY_PRIMS,
  type BinaryPrim,
  ELEMENTWISE_PRIMS,
  MOVEMENT_PRIMS,
  UNARY_PRIMS,
  type UnaryPrim,
} from "../../core/prims/names.ts";
import { activeProfile } from "../target.ts";
import { literalValue } from "../../core/jit_graph.ts";
import type { GEqn, GVal } from "./graph.ts";

/** An index into an array of `shape`: linear (row-major) or per dimension (u32 expressions). */
export interface Idx {
  /** The array's shape. */
  readonly shape: readonly number[];
  /** The linear index, when known. */
  readonly lin?: string;
  /** The per-dimension indices, when known. */
  readonly dims?: readonly string[];
}

const _UNARY = new Set<string>(UNARY_PRIMS);
const _BINARY = new Set<string>(BINARY_PRIMS);
const _EW = new Set<string>(ELEMENTWISE_PRIMS);
// the jit graph's own nodes (`literal`, `step_slice`) move values too
const _MOVE = new Set<string>([...MOVEMENT_PRIMS, "literal", "step_slice"]);

/** Whether a primitive is elementwise (same index in, same index out). */
export function isElementwise(prim: string): boolean {
  return _EW.has(prim);
}

/** Whether a primitive is index arithmetic on its operands (fusible, no arithmetic). */
export function isMovement(prim: string): boolean {
  return _MOVE.has(prim);
}

/** What the emitter needs to know about the graph. */
export interface ValueInfo {
  /** Whether `v` has a buffer (a kernel reads it instead of computing it). */
  isLeaf(v: GVal): boolean;
  /** The equation that computes `v`. */
  producer(v: GVal): GEqn | undefined;
}

/** One storage binding a kernel reads or writes. */
export interface LeafBinding {
  /** The value in the buffer. */
  readonly val: GVal;
  /** The WGSL variable. */
  readonly name: string;
  /** Bound as `array<vec4<T>>` (read four lanes at a time). */
  readonly vec?: boolean;
}

/**
 * A kernel that computes four consecutive elements per invocation: the linear indices in
 * `lanes` are lanes of the vec4 at index `q`, so leaves read at exactly those indices are read
 * through `array<vec4<T>>` bindings (llvmpipe loads and stores whole vectors much faster).
 */
export interface VecLanes {
  /** The vec4 index. */
  readonly q: string;
  /** Linear index expression → lane (0–3); lane j's index is lane 0's plus j. */
  readonly lanes: ReadonlyMap<string, number>;
  /**
   * The vec4 of leaf `v` at `q` read from a texture the leaf was copied into, when the kernel
   * stages it so (undefined: read the storage binding).
   */
  readonly texRead?: (v: GVal) => string | undefined;
  /**
   * Whether a leaf read at lanes of its own last dim (a bias broadcast along the rows of a
   * GEMM's result) is read as vec4s: lane 0's index must be a multiple of 4 (as `q * 4`
   * is), and the leaf is then bound as `array<vec4<T>>` (see {@link KernelCtx.mixedLeaves}).
   * The lanes' indices of a shape whose last dim is a multiple of 4 then skip the carry: the
   * source depends on that divisibility, so set it only where sizes are literals that stay
   * (a GEMM's `storeC4`, not a `main` made shape-generic).
   */
  readonly aligned?: boolean;
  /**
   * With `aligned`, in a GEMM's `storeC4`: shapes whose last dim has `size` (the GEMM's N)
   * have lane 0's last-dim index `n` (the column), and the vec4 of a leaf read there is
   * `read(v)`, a value the template loads once per column group (a bias), not once per row.
   */
  readonly cols?: {
    readonly size: number;
    readonly n: string;
    readonly read: (v: GVal) => string;
  };
}

/**
 * The per-kernel state: leaf bindings, helper functions, fresh names, and values known at the
 * kernel's own output index (a GEMM accumulator, a reduction's result).
 */
export class KernelCtx {
  /** Helper functions the expressions call. */
  readonly helpers: Helpers;
  /** Leaves read, in first-use order. */
  readonly leaves: LeafBinding[] = [];
  /** Whether an expression reads the scan step (`_step.x`). */
  usesStep = false;
  /** Values given by name at {@link canonical} (the output index of the kernel). */
  readonly known = new Map<GVal, string>();
  /** The linear index expression at which {@link known} values are given. */
  canonical = "";
  /** Leaves whose buffer is an output's (in-place): read through the output's name. */
  readonly aliases = new Map<GVal, string>();
  /** Whether aliased leaves may be read (only in the part that runs at the output index). */
  aliasReadable = false;
  /** Set in four-lanes-per-invocation kernels. */
  vec: VecLanes | null = null;
  readonly #info: ValueInfo;
  readonly #names = new Map<GVal, string>();
  readonly #vecNames = new Map<GVal, string>();
  #n = 0;

  /** Makes the state of one kernel (sharing `helpers` with the kernel's other functions). */
  constructor(info: ValueInfo, helpers: Helpers = new Helpers()) {
    this.#info = info;
    this.helpers = helpers;
  }

  /** The graph facts. */
  get info(): ValueInfo {
    return this.#info;
  }

  /** A fresh WGSL identifier. */
  fresh(prefix = "t"): string {
    return `${prefix}${this.#n++}`;
  }

  /**
   * The binding name of a leaf, registering it; `preferred` names the first leaf of a GEMM
   * operand (`a`, `b`), which the GEMM template binds itself.
   */
  leafName(v: GVal, preferred?: string): string {
    const alias = this.aliases.get(v);
    if (alias !== undefined) {
      if (!this.aliasReadable) throw new Error("internal: in-place leaf read off the output index");
      return alias;
    }
    let n = this.#names.get(v);
    if (n === undefined) {
      n = preferred ?? `x${v.id}`;
      this.#names.set(v, n);
      this.leaves.push({ val: v, name: n });
    }
    return n;
  }

  /** Whether some leaf is read both as vec4 lanes and elementwise (two bindings of one buffer). */
  get mixedLeaves(): boolean {
    return [...this.#vecNames.keys()].some((v) => this.#names.has(v));
  }

  /**
   * How to read leaf `v` at linear index `lin`: an element expression, or (four-lane kernels,
   * at a lane index) lane `lane` of the vec4 expression `vec`.
   */
  leafRead(v: GVal, lin: string): string | { vec: string; lane: number } {
    const vec = this.vec;
    if (vec === null) return `${this.leafName(v)}[${lin}]`;
    const lane = vec.lanes.get(lin);
    const alias = this.aliases.get(v);
    if (alias !== undefined) {
      // an in-place output is bound as vec4
      if (!this.aliasReadable) throw new Error("internal: in-place leaf read off the output index");
      return lane !== undefined
        ? { vec: `${alias}[${vec.q}]`, lane }
        : `${alias}[(${lin}) / 4u][(${lin}) % 4u]`;
    }
    if (lane === undefined || v.aval.size % 4 !== 0) return `${this.leafName(v)}[${lin}]`;
    const tex = vec.texRead?.(v);
    if (tex !== undefined) return { vec: tex, lane };
    return { vec: `${this.#vecName(v)}[${vec.q}]`, lane };
  }

  /**
   * Lane `lane` of the vec4 of leaf `v` whose first element is at `lin0` (a multiple of 4):
   * a read at lanes of the leaf's own last dim (see {@link VecLanes.aligned}).
   */
  leafReadAligned(v: GVal, lin0: string, lane: number): { vec: string; lane: number } {
    if (this.aliases.has(v)) throw new Error("internal: an aligned read of an in-place leaf");
    return { vec: `${this.#vecName(v)}[(${lin0}) / 4u]`, lane };
  }

  #vecName(v: GVal): string {
    let n = this.#vecNames.get(v);
    if (n === undefined) {
      n = `x${v.id}v`;
      this.#vecNames.set(v, n);
      this.leaves.push({ val: v, name: n, vec: true });
    }
    return n;
  }
}

/** A statement list with memoised `let`s: the body of `main` or of a helper function. */
export class Scope {
  /** The statements emitted. */
  readonly lines: string[] = [];
  readonly #k: KernelCtx;
  readonly #memo = new Map<string, string>();
  readonly #dimsMemo = new Map<string, readonly string[]>();
  /**
   * Last-dim indices of four-lane kernels known to be `base + lane` with `base` a multiple of
   * 4 (the lanes of a last dim whose size is a multiple of 4 never carry into the next dim).
   */
  readonly #aligned = new Map<string, { readonly base: string; readonly lane: number }>();

  /** Makes an empty scope of a kernel. */
  constructor(k: KernelCtx) {
    this.#k = k;
  }

  /** Emits `let t = expr;` and returns `t`. */
  let(expr: string, prefix = "t"): string {
    const hit = this.#memo.get(`=${expr}`);
    if (hit) return hit;
    const name = this.#k.fresh(prefix);
    this.lines.push(`let ${name} = ${expr};`);
    this.#memo.set(`=${expr}`, name);
    return name;
  }

  /** The linear index of `idx`. */
  lin(idx: Idx): string {
    if (idx.lin !== undefined) return idx.lin;
    const st = strides(idx.shape);
    const parts = idx.dims!.flatMap((d, k) =>
      idx.shape[k] === 1 || d === "0u" ? [] : [st[k] === 1 ? d : `${d} * ${u(st[k])}`]
    );
    return parts.length === 0 ? "0u" : parts.length === 1 ? parts[0] : this.let(parts.join(" + "));
  }

  /** The per-dimension indices of `idx`. */
  dims(idx: Idx): readonly string[] {
    if (idx.dims !== undefined) return idx.dims;
    const key = `#${idx.lin}|${idx.shape.join(",")}`;
    const hit = this.#dimsMemo.get(key);
    if (hit) return hit;
    const r = idx.shape.length;
    const out: string[] = new Array(r);
    const lane = this.#k.vec?.lanes.get(idx.lin!);
    if (lane !== undefined && lane > 0) {
      this.#laneDims(idx, lane, out);
      this.#dimsMemo.set(key, out);
      return out;
    }
    let rest = idx.lin!;
    const cols = lane === 0 ? this.#k.vec!.cols : undefined;
    for (let d = r - 1; d >= 1; d--) {
      const n = idx.shape[d];
      if (n === 1) out[d] = "0u";
      else if (d === r - 1 && cols?.size === n) {
        out[d] = cols.n; // lin = row · N + n
        rest = this.let(`${rest} / ${u(n)}`, "q");
      } else {
        out[d] = this.let(`${rest} % ${u(n)}`, "d");
        rest = this.let(`${rest} / ${u(n)}`, "q");
      }
    }
    if (r > 0) out[0] = idx.shape[0] === 1 ? "0u" : rest;
    if (lane === 0 && this.#k.vec!.aligned && r > 0 && idx.shape[r - 1] % 4 === 0) {
      this.#aligned.set(out[r - 1], { base: out[r - 1], lane: 0 });
    }
    this.#dimsMemo.set(key, out);
    return out;
  }

  /**
   * The per-dimension indices of lane `lane` (> 0) of a four-lane kernel, whose linear index is
   * the previous lane's plus one: the previous lane's indices with a carry rippling from the
   * last dimension (an index reaching its size wraps to 0), instead of a division and a
   * remainder per dimension (in a shape-generic kernel, ~15 instructions each: the lanes' index
   * arithmetic made most of llvmpipe's compile time of the fused elementwise kernels).
   */
  #laneDims(idx: Idx, lane: number, out: string[]): void {
    const vec = this.#k.vec!;
    const r = idx.shape.length;
    if (vec.aligned && r > 0 && idx.shape[r - 1] % 4 === 0) {
      // lane 0's index is a multiple of 4, so its last-dim index is too: no lane carries
      const lin0 = [...vec.lanes].find(([, j]) => j === 0)![0];
      const d0 = this.dims({ lin: lin0, shape: idx.shape });
      for (let d = 0; d < r - 1; d++) out[d] = d0[d];
      out[r - 1] = this.let(`${d0[r - 1]} + ${u(lane)}`, "e");
      this.#aligned.set(out[r - 1], { base: d0[r - 1], lane });
      return;
    }
    const prevLin = [...vec.lanes].find(([, j]) => j === lane - 1)![0];
    const prev = this.dims({ lin: prevLin, shape: idx.shape });
    let carry = "1u";
    for (let d = idx.shape.length - 1; d >= 0; d--) {
      const n = idx.shape[d];
      if (n === 1) {
        out[d] = prev[d];
        continue;
      }
      const e = this.let(`${prev[d]} + ${carry}`, "e");
      if (d === 0) {
        out[d] = e; // below the size: the lane's linear index is in range
        continue;
      }
      const c = this.let(`select(0u, 1u, ${e} == ${u(n)})`, "c");
      out[d] = this.let(`select(${e}, 0u, ${c} == 1u)`, "d");
      carry = c;
    }
  }

  /**
   * A WGSL expression (usually a `let` name) of `v` at `idx`, in `v`'s storage type.
   *
   * @param v The value.
   * @param idx The index, into `v.aval.shape`.
   * @returns The expression.
   */
  gen(v: GVal, idx: Idx): string {
    const k = this.#k;
    const known = k.known.get(v);
    if (known !== undefined) {
      const lin = this.lin(idx);
      // in a four-lane kernel the known value is a vec4 holding the lanes
      const lane = k.vec?.lanes.get(lin);
      if (lane !== undefined) return `${known}[${lane}]`;
      // a one-element value is the same wherever it is read (every lane computed it at 0)
      if (lin !== k.canonical && v.aval.shape.some((d) => d !== 1)) {
        throw new Error("internal: a kernel's result read off its output index");
      }
      return known;
    }
    const key = `${v.id}@${idx.lin ?? ""}|${idx.dims?.join(",") ?? ""}`;
    const hit = this.#memo.get(key);
    if (hit) return hit;
    const r = this.#compute(v, idx);
    this.#memo.set(key, r);
    return r;
  }

  #compute(v: GVal, idx: Idx): string {
    const k = this.#k;
    if (k.info.isLeaf(v)) {
      const sh = v.aval.shape, last = sh.length - 1;
      const al = k.vec?.aligned && idx.dims && last >= 0 && sh[last] % 4 === 0 &&
          !k.aliases.has(v)
        ? this.#aligned.get(idx.dims[last])
        : undefined;
      if (al !== undefined) {
        // base + lane along the leaf's contiguous last dim: one vec4 load serves the lanes
        const lin0 = this.lin({ shape: sh, dims: idx.dims!.with(last, al.base) });
        const cols = k.vec!.cols;
        if (cols !== undefined && lin0 === cols.n) return `${cols.read(v)}[${al.lane}]`;
        const r = k.leafReadAligned(v, lin0, al.lane);
        return `${this.let(r.vec, "w")}[${r.lane}]`;
      }
      const r = k.leafRead(v, this.lin(idx));
      // one vector load serves the four lanes (the `let` is memoised)
      return typeof r === "string" ? this.let(r, "v") : `${this.let(r.vec, "w")}[${r.lane}]`;
    }
    const e = k.info.producer(v);
    if (!e) throw new Error(`internal: value ${v.aval} has no producer and no buffer`);
    const p = e.params;
    const ins = e.inputs;
    const same = (j: number) => this.gen(ins[j], { shape: ins[j].aval.shape, ...this.#pass(idx) });
    const dt = (j: number): DType => ins[j].aval.dtype;
    const h = k.helpers;
    if (_UNARY.has(e.prim)) return this.let(unaryExpr(e.prim as UnaryPrim, dt(0), same(0), h));
    if (_BINARY.has(e.prim)) {
      return this.let(binaryExpr(e.prim as BinaryPrim, dt(0), same(0), same(1), h));
    }
    switch (e.prim) {
      case "select":
        return this.let(`select(${same(2)}, ${same(1)}, ${same(0)} != 0u)`);
      case "convert": // `dtype: "f16"` on f32 storage rounds (core/f16_jit.ts)
        return this.let(
          p.dtype === "f16"
            ? roundF16Expr(dt(0), same(0), h)
            : convertExpr(dt(0), v.aval.dtype, same(0), h),
        );
      case "bitcast":
        return this.let(`bitcast<${storageType(v.aval.dtype)}>(${same(0)})`);
      case "literal":
        return _literal(literalValue(e), v.aval.dtype, k);
      case "iota": {
        const d = this.dims(idx)[paramsOf(iota_p, p).dimension];
        return v.aval.dtype === "f32" ? `f32(${d})` : v.aval.dtype === "i32" ? `i32(${d})` : d;
      }
      case "reshape":
        return this.gen(ins[0], { shape: ins[0].aval.shape, lin: this.lin(idx) });
      case "step_slice": {
        k.usesStep = true;
        const n = v.aval.size;
        const off = n === 1 ? "_step.x" : `_step.x * ${u(n)}`;
        const lin = this.lin(idx);
        return this.gen(ins[0], { shape: ins[0].aval.shape, lin: this.let(`${off} + ${lin}`) });
      }
      case "broadcast_in_dim":
        return this.#broadcast(v, e, idx);
      case "transpose": {
        const od = this.dims(idx), perm = paramsOf(transpose_p, p).perm;
        const dims: string[] = new Array(perm.length);
        perm.forEach((src, d) => (dims[src] = od[d]));
        return this.gen(ins[0], { shape: ins[0].aval.shape, dims });
      }
      case "slice": {
        const od = this.dims(idx), { start: st, strides: sd } = paramsOf(slice_p, p);
        const dims = od.map((d, j) => {
          const s = sd[j];
          const scaled = s === 1 ? d : `${d} * ${u(s)}`;
          return st[j] === 0 ? scaled : `(${u(st[j])} + ${scaled})`;
        });
        return this.gen(ins[0], { shape: ins[0].aval.shape, dims });
      }
      case "rev": {
        const axes = paramsOf(rev_p, p).axes, sh = ins[0].aval.shape;
        const dims = this.dims(idx).map((d, j) =>
          axes.includes(j) ? `(${u(sh[j] - 1)} - ${d})` : d
        );
        return this.gen(ins[0], { shape: sh, dims });
      }
      case "pad":
        return this.#pad(e, idx);
      case "concatenate":
        return this.#concat(e, idx);
      default:
        throw new Error(`internal: ${e.prim} cannot be fused`);
    }
  }

  /** The index to hand to an elementwise operand: the same (a shape-free linear index). */
  #pass(idx: Idx): { lin?: string; dims?: readonly string[] } {
    return idx.lin !== undefined ? { lin: idx.lin } : { dims: idx.dims };
  }

  #broadcast(v: GVal, e: GEqn, idx: Idx): string {
    const x = e.inputs[0], xs = x.aval.shape;
    if (x.aval.size === 1) return this.gen(x, { shape: xs, lin: "0u" });
    const bd = paramsOf(broadcast_in_dim_p, e.params).broadcastDimensions;
    if (xs.length === v.aval.shape.length && xs.every((n, j) => n === v.aval.shape[j])) {
      return this.gen(x, { shape: xs, ...this.#pass(idx) });
    }
    const od = this.dims(idx);
    return this.gen(x, { shape: xs, dims: xs.map((n, j) => (n === 1 ? "0u" : od[bd[j]])) });
  }

  #pad(e: GEqn, idx: Idx): string {
    const [x, pv] = e.inputs;
    const xs = x.aval.shape;
    const { lo, interior } = paramsOf(pad_p, e.params);
    const od = this.dims(idx);
    const conds: string[] = [];
    const dims = od.map((d, j) => {
      const t = this.let(`i32(${d}) - ${i32Lit(lo[j])}`, "p");
      const s = interior[j] + 1;
      const q = s === 1 ? t : `${t} / ${i32Lit(s)}`;
      conds.push(`${t} >= 0i`, `${q} < ${i32Lit(xs[j])}`);
      if (s !== 1) conds.push(`${t} % ${i32Lit(s)} == 0i`);
      return `u32(clamp(${q}, 0i, ${i32Lit(Math.max(xs[j] - 1, 0))}))`;
    });
    const inside = this.let(conds.length ? conds.join(" && ") : "true", "m");
    const xv = this.gen(x, { shape: xs, dims });
    return this.let(`select(${this.gen(pv, { shape: [], lin: "0u" })}, ${xv}, ${inside})`);
  }

  #concat(e: GEqn, idx: Idx): string {
    const axis = paramsOf(concatenate_p, e.params).axis;
    const od = this.dims(idx);
    const a = od[axis];
    let off = 0;
    const parts = e.inputs.map((x) => {
      const n = x.aval.shape[axis];
      const dims = [...od];
      dims[axis] = off === 0
        ? `min(${a}, ${u(Math.max(n - 1, 0))})`
        : `min(${a} - ${u(off)}, ${u(Math.max(n - 1, 0))})`;
      const start = off;
      off += n;
      return { x, dims, start, n };
    }).filter((q) => q.n > 0);
    let acc = this.gen(parts[parts.length - 1].x, {
      shape: parts[parts.length - 1].x.aval.shape,
      dims: parts[parts.length - 1].dims,
    });
    for (let j = parts.length - 2; j >= 0; j--) {
      const q = parts[j];
      const xv = this.gen(q.x, { shape: q.x.aval.shape, dims: q.dims });
      acc = this.let(`select(${acc}, ${xv}, ${a} < ${u(q.start + q.n)})`);
    }
    return acc;
  }
}

const _bitsView = new DataView(new ArrayBuffer(4));
function _f32Bits(value: number): number {
  _bitsView.setFloat32(0, value);
  return _bitsView.getUint32(0);
}

/** An f32 literal WGSL parses to exactly `value` (a finite f32). */
function _plainF32(value: number): string {
  const f = Math.fround(value);
  if (Object.is(f, -0)) return "(-0.0f)";
  // shortest decimal that round-trips through f32 (JS's toString round-trips the f64 of it)
  let t = String(f);
  for (let p = 1; p <= 9; p++) {
    const c = f.toPrecision(p);
    if (Math.fround(Number(c)) === f) {
      t = c;
      break;
    }
  }
  if (!/[.eE]/.test(t)) t += ".0";
  return f < 0 ? `(${t}f)` : `${t}f`;
}

function _literal(value: number, dtype: DType, k: KernelCtx): string {
  if (dtype === "f32") {
    if (Number.isNaN(value)) {
      k.helpers.add(F32_SPECIALS);
      return "_nan()";
    }
    if (!Number.isFinite(value)) {
      k.helpers.add(F32_SPECIALS);
      return value > 0 ? "_inf()" : "(-_inf())";
    }
    if (!activeProfile().literalMask) return _plainF32(value);
    // The bits XORed with the (always zero) `_step.w`: a value the shader compiler cannot see
    // through, so it does not reassociate products with it (Mesa rewrites (a·b)·#c as a·(b·#c),
    // which changes the rounding) and results stay those of the eager ops and the cpu backend.
    k.usesStep = true;
    return `bitcast<f32>(${u(_f32Bits(value))} ^ _step.w)`;
  }
  if (dtype === "i32") return `(${i32Lit(value | 0)})`;
  if (dtype === "bool") return value ? "1u" : "0u";
  return u(value >>> 0);
}
