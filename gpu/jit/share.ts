/**
 * Kernels that differ only in integer literals share one pipeline.
 *
 * The kernels of a program are specialised: sizes, strides and tile counts are literals in
 * the WGSL, which LLVM folds. On a software adapter every distinct source is an LLVM compile
 * at its first dispatch (14 ms for a trivial kernel, 20–150 ms for most), and a network
 * repeats the same kernel with other sizes: ResNet-18's step had 151 sources of which 50 differed
 * from another only in literals, DenseNet's 282 of which 157 did (its dense layers differ in
 * their input channels alone). {@link shareKernels} groups a program's dispatches by their
 * source with the `u`/`i`-suffixed integer and `f`-suffixed float literals blanked out; in each group of two or more
 * sources, the literals that differ between them are read from a uniform buffer instead
 * (`_hl`, one word per distinct column of values, bound after the kernel's own bindings) and
 * the ones they agree on stay literals, so the group compiles once. The arithmetic is the
 * same and so are the bits; the index arithmetic on hoisted sizes no longer folds, which costs
 * a little running time in the setup of each invocation.
 *
 * Literals where WGSL needs a constant expression are never hoisted: attributes
 * (`@workgroup_size(…)`, `@binding(…)`), array sizes (`array<f32, 256>`), `const`/`override`
 * declarations and `case` selectors. Unsuffixed (abstract) numbers stay as they are, since
 * their type comes from the context. A float literal's word is its f32 bits (`bitcast<f32>`):
 * the value the compiler would have used.
 *
 * @module
 */
import { envVar } from "../device.ts";
import type { DispatchOp, Op, Program } from "./program.ts";

let _on: boolean | null = null;

/**
 * Whether jitted programs share kernels (`DENAX_SHARE_KERNELS=0` turns it off, for comparing
 * the two forms; the program cache keys on it).
 *
 * @returns The switch.
 */
export function kernelSharingEnabled(): boolean {
  return _on ??= envVar("DENAX_SHARE_KERNELS") !== "0";
}

/**
 * Sets {@link kernelSharingEnabled} for this process (tests); `null` rereads the environment.
 *
 * @param on The switch.
 */
export function setKernelSharing(on: boolean | null): void {
  _on = on;
}

/** The uniform's name in shared sources (a source that already uses it is left alone). */
const NAME = "_hl";
const LITERAL = /\b(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)([uif])\b/g;
/** Spans whose literals must stay constant expressions. */
const FIXED = [/@\w+\([^)]*\)/g, /\b(?:const|override)\b[^;]*;/g, /\bcase\b[^:{]*[:{]/g];

interface _Lit {
  readonly at: number;
  readonly text: string;
  readonly suffix: string;
}

/** The hoistable literals of `src`, in order. */
function _literals(src: string): _Lit[] {
  const fixed: [number, number][] = [];
  for (const re of FIXED) {
    for (const m of src.matchAll(re)) fixed.push([m.index!, m.index! + m[0].length]);
  }
  for (let i = src.indexOf("array<"); i >= 0; i = src.indexOf("array<", i + 1)) {
    let depth = 0, j = i + 5;
    for (; j < src.length; j++) {
      if (src[j] === "<") depth++;
      else if (src[j] === ">" && --depth === 0) break;
    }
    fixed.push([i, j]);
  }
  const inFixed = (k: number) => fixed.some(([a, b]) => k >= a && k < b);
  const out: _Lit[] = [];
  for (const m of src.matchAll(LITERAL)) {
    if (m[2] !== "f" && !/^\d+$/.test(m[1])) continue;
    if (!inFixed(m.index!)) out.push({ at: m.index!, text: m[0], suffix: m[2] });
  }
  return out;
}

function _template(src: string, lits: readonly _Lit[]): string {
  let out = "", from = 0;
  for (const l of lits) {
    out += src.slice(from, l.at) + "\u0000" + l.suffix;
    from = l.at + l.text.length;
  }
  return out + src.slice(from);
}

const _f32 = new Float32Array(1);
const _u32 = new Uint32Array(_f32.buffer);

/** The uniform word of a literal: its u32 value, its i32 bits, or its f32 bits. */
function _word(l: _Lit): number {
  const v = Number(l.text.slice(0, -1));
  if (l.suffix !== "f") return v >>> 0;
  _f32[0] = v;
  return _u32[0];
}

interface _Shared {
  readonly wgsl: string;
  /** The uniform's binding (the members' own bindings are 0 … binding − 1). */
  readonly binding: number;
  /** The uniform's words for each member source. */
  readonly words: ReadonlyMap<string, readonly number[]>;
}

/** One source for the distinct sources `srcs` (same template), or null when none pays. */
function _share(srcs: readonly string[], lits: ReadonlyMap<string, _Lit[]>): _Shared | null {
  const first = lits.get(srcs[0])!;
  const columns = new Map<string, number>();
  const colOf: (number | null)[] = first.map((_, p) => {
    const vals = srcs.map((s) => lits.get(s)![p].text);
    if (vals.every((v) => v === vals[0])) return null;
    const key = vals.join(",");
    let k = columns.get(key);
    if (k === undefined) columns.set(key, k = columns.size);
    return k;
  });
  if (columns.size === 0) return null;
  const base = srcs[0];
  let body = "", from = 0;
  first.forEach((l, p) => {
    const k = colOf[p];
    if (k === null) return;
    const word = `${NAME}[${k >> 2}].${"xyzw"[k & 3]}`;
    const read = l.suffix === "u" ? word : `bitcast<${l.suffix === "i" ? "i32" : "f32"}>(${word})`;
    body += base.slice(from, l.at) + read;
    from = l.at + l.text.length;
  });
  body += base.slice(from);
  const binding = Math.max(...[...base.matchAll(/@binding\((\d+)\)/g)].map((m) => +m[1])) + 1;
  const decl = `@group(0) @binding(${binding}) var<uniform> ${NAME}: array<vec4u, ${
    Math.ceil(columns.size / 4)
  }>;\n`;
  const words = new Map<string, number[]>();
  for (const s of srcs) {
    const w = new Array<number>(Math.ceil(columns.size / 4) * 4).fill(0);
    lits.get(s)!.forEach((l, p) => {
      const k = colOf[p];
      if (k !== null) w[k] = _word(l);
    });
    words.set(s, w);
  }
  return { wgsl: decl + body, binding, words };
}

const _pot = (n: number) => ((n & (n - 1)) === 0 ? "1" : "0");

/**
 * What else llvmpipe compiles a kernel for: its shader variants are keyed by the state of the
 * textures bound, so sources sharing a pipeline over textures of another kind would each
 * compile again. Measured (Mesa 22.3, one kernel dispatched over textures of several sizes):
 * a new variant whenever the width or the height changes between a power of two and not, or
 * the layers between one and more; 8×8×1 → 8×8×2 compiled again, 8×8×2 → 8×8×3 did not.
 */
function _variant(p: Program, op: DispatchOp): string {
  return op.bindings.map((r) => {
    if (r.kind !== "tex") return "";
    const t = p.textures[r.index];
    return `|${t.format}${_pot(t.width)}${_pot(t.height)}${t.layers > 1 ? "L" : "1"}`;
  }).join("");
}

/**
 * Rewrites the dispatches of `p` (and of its scan bodies, each on its own) so that kernels
 * differing only in integer literals share one source (see the module comment).
 *
 * @param p The program.
 * @returns The program with shared sources (`p` itself when nothing is shared).
 */
export function shareKernels(p: Program): Program {
  const lits = new Map<string, _Lit[]>();
  const groups = new Map<string, string[]>();
  for (const op of p.ops) {
    if (op.kind !== "dispatch" || lits.has(op.wgsl) || op.wgsl.includes(NAME)) continue;
    const ls = _literals(op.wgsl);
    lits.set(op.wgsl, ls);
    const key = _template(op.wgsl, ls) + _variant(p, op);
    groups.set(key, [...(groups.get(key) ?? []), op.wgsl]);
  }
  const shared = new Map<string, _Shared>();
  for (const srcs of groups.values()) {
    if (srcs.length < 2) continue;
    const s = _share(srcs, lits);
    if (s) { for (const src of srcs) shared.set(src, s); }
  }
  let changed = false;
  const ops = p.ops.map((op): Op => {
    if (op.kind === "scan") {
      const body = shareKernels(op.body);
      if (body === op.body) return op;
      changed = true;
      return { ...op, body };
    }
    if (op.kind !== "dispatch") return op;
    const s = shared.get(op.wgsl);
    if (!s || op.bindings.length !== s.binding) return op;
    changed = true;
    const out: DispatchOp = {
      ...op,
      wgsl: s.wgsl,
      bindings: [...op.bindings, { kind: "params", words: s.words.get(op.wgsl)! }],
    };
    return out;
  });
  return changed ? { ...p, ops } : p;
}
