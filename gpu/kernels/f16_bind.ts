/**
 * An f32-storage plan bound straight to f16 storage (2 bytes an element): its kernels read f16
 * operands as `array<f16>` (widened as each element is loaded) and write f16 results as
 * `array<f16>` (each value rounded once, ties to even, as it is stored), so that reductions,
 * convolutions, movement ops and their gradients need no f32 temporaries of their f16
 * operands and results and no widening and rounding passes.
 *
 * The kernels stay the f32 ones: the rewrite changes a binding's declaration and its accesses.
 * An operand binding `a: array<f32>` (or `array<vec4<f32>>`) becomes `array<f16>` (or
 * `array<vec4<f16>>`: four elements an entry either way, so indices keep their meaning) and
 * every `a[i]` becomes `f32(a[i])`. A result binding `o` is rewritten only where each of its
 * accesses is a whole store `o[i] = v;` (no read, no compound assignment): it becomes
 * `o[i] = f16(round_f16(v));` (`round_f16` is exact, so WGSL's inexact f32 → f16 conversion never
 * rounds). A binding the rewrite cannot follow (a name shadowed by a local, an access that is not
 * an index, a result that is read back, a copy or texture upload of the buffer) keeps its f32
 * temporary and widening or rounding pass ({@link viaF32Plan}), for that operand or result alone.
 *
 * @module
 */
import type { BufRef, Kernel, Plan, Step, TexRef } from "./common.ts";
import { ROUND_F16_WGSL, viaF32Plan } from "./f16.ts";

/** An operand or result of a plan: its element count, and whether it is f16 storage. */
export interface HalfSlot {
  /** The element count. */
  readonly n: number;
  /** Whether it is f16 storage (2 bytes an element). */
  readonly half: boolean;
}

const _ROUND4 = `fn round_f16x4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(round_f16(v.x), round_f16(v.y), round_f16(v.z), round_f16(v.w));
}`;

/**
 * `inner` (a plan over f32 storage) run on f16 storage: every f16 operand and result its kernels
 * can bind as `array<f16>` is bound so (see the module doc), the others go through f32
 * temporaries as {@link viaF32Plan} does.
 *
 * @param inner The plan over f32 storage (its inputs and outputs in the same order).
 * @param ins The operands' element counts, and whether each is f16 storage.
 * @param outs The results' element counts, and whether each is f16 storage.
 * @param exact Whether every result value is an f16 value already (a primitive that moves or
 *   selects values): results are stored without the rounding.
 * @returns The plan.
 */
export function halfStoragePlan(
  inner: Plan,
  ins: readonly HalfSlot[],
  outs: readonly HalfSlot[],
  exact = false,
): Plan {
  const direct = new Set<string>();
  ins.forEach((s, k) => s.half && direct.add(`in${k}`));
  outs.forEach((s, k) => s.half && direct.add(`out${k}`));
  let kernels: (Kernel | null)[] = [];
  for (let changed = true; changed;) {
    changed = _dropCopied(inner.steps, direct);
    kernels = inner.steps.map((s) => (s.kind === "dispatch" ? s.kernel : null));
    for (let i = 0; i < kernels.length && !changed; i++) {
      const k = kernels[i];
      if (!k) continue;
      const r = halfBindKernel(k, (ref) => direct.has(_key(ref)), exact);
      if (typeof r === "string") direct.delete(r), changed = true;
      else kernels[i] = r;
    }
  }
  const steps: Step[] = inner.steps.map((s, i) => {
    if (s.kind === "dispatch") return { kind: "dispatch", kernel: kernels[i]! };
    if (s.kind === "copy" && direct.has(_key(s.src))) {
      // both ends are f16 storage (`_dropCopied`): the same elements take half the bytes
      return { ...s, bytes: Math.ceil(s.bytes / 8) * 4 };
    }
    return s;
  });
  const rest = (as: readonly HalfSlot[], kind: string) =>
    as.map((s, k) => ({ n: s.n, half: s.half && !direct.has(`${kind}${k}`) }));
  return viaF32Plan(
    { steps, temps: inner.temps, textures: inner.textures },
    rest(ins, "in"),
    rest(outs, "out"),
  );
}

const _key = (r: BufRef | TexRef): string => `${r.kind}${r.index}`;

/**
 * Drops from `direct` the slots a copy or texture upload moves to or from a buffer that is not
 * f16 storage bound directly (the bytes would be misread). Returns whether it dropped any.
 */
function _dropCopied(steps: readonly Step[], direct: Set<string>): boolean {
  let dropped = false;
  const drop = (r: BufRef) => {
    if (direct.delete(_key(r))) dropped = true;
  };
  for (let again = true; again;) {
    again = false;
    for (const s of steps) {
      if (s.kind === "toTexture") {
        if (direct.has(_key(s.src))) drop(s.src), again = true;
      } else if (s.kind === "copy") {
        const a = direct.has(_key(s.src)), b = direct.has(_key(s.dst));
        if (a !== b) drop(s.src), drop(s.dst), again = true;
      }
    }
  }
  return dropped;
}

/** A storage binding's declaration: `@group(0) @binding(k) var<storage, access> name: array<T>;`. */
const _DECL =
  /@group\(0\)\s*@binding\((\d+)\)\s*var<storage,\s*(read|read_write)>\s*(\w+)\s*:\s*array<(f32|vec4<f32>)>;/g;

/** An f32 storage binding's declaration: its access (`read` or `read_write`), name and type. */
export interface F32StorageDecl {
  readonly access: string;
  readonly name: string;
  /** `f32` or `vec4<f32>`. */
  readonly type: string;
}

/**
 * The f32 storage arrays that a kernel declares, by binding number.
 *
 * @param wgsl The kernel's source.
 * @returns Binding number → declaration.
 */
export function f32StorageDecls(wgsl: string): Map<number, F32StorageDecl> {
  const decls = new Map<number, F32StorageDecl>();
  for (const m of wgsl.matchAll(_DECL)) {
    decls.set(Number(m[1]), { access: m[2], name: m[3], type: m[4] });
  }
  return decls;
}

/**
 * `k` with each binding that `half` selects rewritten to f16 storage (see the module doc), or
 * the key (`in0`, `out1`, ...) of the first selected binding it cannot rewrite.
 *
 * @param k The kernel over f32 storage.
 * @param half Whether a binding's buffer is f16 storage to bind directly.
 * @param exact Whether stored values are f16 values already (stored without rounding).
 * @returns The rewritten kernel, or the key of a binding that cannot be rewritten.
 */
export function halfBindKernel(
  k: Kernel,
  half: (r: BufRef) => boolean,
  exact: boolean,
): Kernel | string {
  const decls = f32StorageDecls(k.wgsl);
  let wgsl = k.wgsl, touched = false, rounds = false, rounds4 = false;
  for (let b = 0; b < k.bindings.length; b++) {
    const ref = k.bindings[b];
    if (ref.kind === "tex" || !half(ref)) continue;
    const d = decls.get(b);
    if (!d) return _key(ref);
    const vec = d.type !== "f32";
    const declRe = new RegExp(
      `(@binding\\(${b}\\)\\s*var<storage,\\s*${d.access}>\\s*${d.name}\\s*:\\s*array<)${
        d.type.replace(/[<>]/g, "\\$&")
      }>`,
    );
    const body = wgsl.replace(declRe, `$1${vec ? "vec4<f16>" : "f16"}>`);
    // operands are read only; results are written only (read back: not followed)
    const r = ref.kind === "in"
      ? d.access === "read" ? _rewriteReads(body, d.name, vec ? "vec4<f32>" : "f32") : null
      : d.access === "read_write"
      ? _rewriteStores(body, d.name, (v) => {
        if (exact) return `${vec ? "vec4<f16>" : "f16"}(${v})`;
        if (vec) rounds4 = true;
        rounds = true;
        return vec ? `vec4<f16>(round_f16x4(${v}))` : `f16(round_f16(${v}))`;
      })
      : null;
    if (r === null) return _key(ref);
    wgsl = r, touched = true;
  }
  if (!touched) return k;
  if (!/^\s*enable f16;/m.test(wgsl)) wgsl = `enable f16;\n${wgsl}`;
  if (rounds && !wgsl.includes("fn round_f16(")) wgsl += `\n${ROUND_F16_WGSL}\n`;
  if (rounds4) wgsl += `\n${_ROUND4}\n`;
  return { ...k, wgsl };
}

/**
 * The occurrences of the identifier `name` in `src` that refer to the module-scope binding (not
 * its declaration, not a member, not inside another name, not in a function that declares a
 * parameter or local of that name), or null where one such function indexes a `name`.
 */
function _occurrences(src: string, name: string): number[] | null {
  const shadowed: [number, number][] = [];
  for (const f of src.matchAll(/\bfn\s+\w+\s*\(/g)) {
    const open = f.index! + f[0].length - 1, close = _close(src, open);
    const brace = close < 0 ? -1 : src.indexOf("{", close);
    const end = brace < 0 ? -1 : _closeBrace(src, brace);
    if (end < 0) return null;
    const params = src.slice(open + 1, close - 1), body = src.slice(brace, end);
    if (
      new RegExp(`(^|,)\\s*${name}\\s*:`).test(params) ||
      new RegExp(`\\b(let|var|const)\\s+${name}\\b`).test(body)
    ) {
      if (new RegExp(`(?<![\\w.])${name}\\s*\\[`).test(src.slice(f.index!, end))) return null;
      shadowed.push([f.index!, end]);
    }
  }
  return [...src.matchAll(new RegExp(`(?<![\\w.])${name}(?!\\w)(?!\\s*:\\s*array<)`, "g"))]
    .map((m) => m.index!)
    .filter((p) => !shadowed.some(([a, b]) => p >= a && p < b));
}

/** The index just past the brace closing the one at `open`, or -1. */
function _closeBrace(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === "{") depth++;
    else if (src[i] === "}" && --depth === 0) return i + 1;
  }
  return -1;
}

/** The index just past the bracket closing the one at `open`, or -1. */
function _close(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === "[" || c === "(") depth++;
    else if (c === "]" || c === ")") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** `src` with every `name[i]` as `T(name[i])`, or null where `name` is used otherwise. */
function _rewriteReads(src: string, name: string, t: string): string | null {
  const at = _occurrences(src, name);
  if (!at) return null;
  let res = "", from = 0;
  for (const p of at) {
    const open = p + name.length;
    if (src[open] !== "[") return null;
    const end = _close(src, open);
    if (end < 0) return null;
    // an index that reads `name` itself is rewritten by the next occurrences: keep them apart
    if (at.some((q) => q > p && q < end)) return null;
    res += `${src.slice(from, p)}${t}(${src.slice(p, end)})`;
    from = end;
  }
  return res + src.slice(from);
}

/**
 * `src` with every `name[i] = v;` as `name[i] = wrap(v);`, or null where `name` is accessed
 * otherwise (read, compound assignment, ...).
 */
function _rewriteStores(
  src: string,
  name: string,
  wrap: (v: string) => string,
): string | null {
  const at = _occurrences(src, name);
  if (!at) return null;
  let res = "", from = 0;
  for (const p of at) {
    if (p < from) return null;
    const open = p + name.length;
    if (src[open] !== "[") return null;
    const end = _close(src, open);
    if (end < 0) return null;
    const eq = /^\s*=(?!=)\s*/.exec(src.slice(end));
    if (!eq) return null;
    const v0 = end + eq[0].length;
    let depth = 0, i = v0;
    for (; i < src.length; i++) {
      const c = src[i];
      if (c === "(" || c === "[") depth++;
      else if (c === ")" || c === "]") depth--;
      else if (c === ";" && depth === 0) break;
    }
    if (i >= src.length) return null;
    const value = src.slice(v0, i);
    if (new RegExp(`(?<![\\w.])${name}(?!\\w)`).test(value)) return null;
    res += `${src.slice(from, v0)}${wrap(value)}`;
    from = i;
  }
  return res + src.slice(from);
}
