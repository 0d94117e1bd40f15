/**
 * Kernels that differ only in integer literals share one pipeline.
 *
 * The kernels of a program are specialised: sizes, strides and tile counts are literals in
 * the WGSL, which LLVM folds. On a software adapter every distinct source is an LLVM compile
 * at its first dispatch (14 ms for a trivial kernel, 20–150 ms for most), and a network
 * repeats the same kernel with other sizes: ResNet-18's step had 151 sources of which 50
 * differed from another only in literals, DenseNet's 282 of which 157 did (its dense layers
 * differ in their input channels alone). {@link shareKernels} groups a program's dispatches by
 * their source with the `u`/`i`-suffixed integer and `f`-suffixed float literals blanked out;
 * in each group of two or more sources, the literals that differ between them are read from a
 * uniform buffer instead (`_hl`, bound after the kernel's own bindings, one word per distinct
 * column of values) and the ones they agree on stay literals, so the group compiles once. The
 * arithmetic is the same and so are the bits.
 *
 * Divisions are where this costs running time: llvmpipe divides by a non-literal one lane at a
 * time (hoisting every divisor made ResNet-18's training step up to 1.7× slower). A differing
 * divisor is hoisted only in the setup of a kernel that loops (outside every loop: once per
 * invocation), and then as a multiply-high by a multiplier and shift from the uniform
 * (`udivMagic`); anywhere else it keeps the sources apart.
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
import {
  directivesFirst,
  dividendStart,
  genericWork,
  UDIV_WGSL,
  udivMagic,
} from "../kernels/common.ts";
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

/**
 * Ops whose kernels are never shared: pooling and its gradient walk their windows with the
 * sizes folded into every tap's address; with those sizes from a uniform GoogLeNet's pooling
 * gradients ran 2.2× and its pools 1.7× slower (the whole step 970 → 1240 ms).
 */
const UNSHARED = new Set(["select_and_scatter_add", "reduce_window"]);

/** The uniform's name in shared sources (a source that already uses it is left alone). */
const NAME = "_hl";
const LITERAL = /\b(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)([uif])\b/g;
/** Spans whose literals must stay constant expressions. */
const FIXED = [/@\w+\([^)]*\)/g, /\b(?:const|override)\b[^;]*;/g, /\bcase\b[^:{]*[:{]/g];

interface _Lit {
  readonly at: number;
  readonly text: string;
  readonly suffix: string;
  /** For a divisor (`x / N`, `x % N`): the operator, and where the dividend `x` starts. */
  readonly div?: { readonly op: "/" | "%"; readonly from: number; readonly opAt: number };
}

/** The spans of loop statements (`for`, `while`, `loop`: header and body). */
function _loops(src: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of src.matchAll(/\b(?:for|while|loop)\b/g)) {
    let j = src.indexOf("{", m.index!), depth = 0;
    if (j < 0) continue;
    for (; j < src.length; j++) {
      if (src[j] === "{") depth++;
      else if (src[j] === "}" && --depth === 0) break;
    }
    out.push([m.index!, j]);
  }
  return out;
}

/**
 * The integer divisor literal at `at` as a hoistable division, or null (undefined: not an
 * integer divisor; a float divisor is a plain literal, divided in hardware either way): a u32
 * divisor outside every
 * loop, of a kernel that loops (its setup, run once per invocation: a division by a uniform
 * costs ~15 instructions where a literal one costs ~4, which an elementwise kernel or a loop
 * would pay per element) or of a `small` one (every dispatch of it under `genericWork`'s limit,
 * where compiling costs more than running, as for the shape-generic kernels), whose dividend
 * {@link dividendStart} finds.
 */
function _division(
  src: string,
  at: number,
  suffix: string,
  loops: [number, number][],
  small: boolean,
) {
  const m = /([/%])(=?)\s*$/.exec(src.slice(Math.max(0, at - 8), at));
  if (!m || suffix === "f") return undefined;
  const inLoop = loops.some(([a, b]) => at >= a && at < b);
  if (m[2] || suffix !== "u" || inLoop || (!loops.length && !small)) return null;
  const opAt = at - m[0].length;
  let end = opAt;
  while (end > 0 && src[end - 1] === " ") end--;
  const from = dividendStart(src, end);
  return from < 0 ? null : { op: m[1] as "/" | "%", from, opAt: end };
}

/** The hoistable literals of `src`, in order (`small`: see {@link _division}). */
function _literals(src: string, small: boolean): _Lit[] {
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
  const loops = _loops(src);
  const out: _Lit[] = [];
  for (const m of [...src.matchAll(LITERAL)]) {
    if (m[2] !== "f" && !/^\d+$/.test(m[1])) continue;
    if (inFixed(m.index!)) continue;
    const div = _division(src, m.index!, m[2], loops, small);
    if (div === null) continue;
    out.push({ at: m.index!, text: m[0], suffix: m[2], div });
  }
  return out;
}

function _template(src: string, lits: readonly _Lit[]): string {
  let out = "", from = 0;
  for (const l of lits) {
    out += src.slice(from, l.at) + "\u0000" + l.suffix + (l.div ? "d" : "");
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

/**
 * The division helpers of shared sources: `common.ts`'s multiply-high division renamed (a
 * shared source may hold the originals too), and `_hl_div(x, d, m, s)`, `x / d` with `m`, `s`
 * from {@link udivMagic}, `x` itself for `d` ≤ 1.
 */
const DIV_WGSL = `${UDIV_WGSL.replace(/\b_(mulhi|udiv|umod)\b/g, "_hl_$1")}
fn _hl_div(x: u32, d: u32, m: u32, s: u32) -> u32 { return select(_hl_udiv(x, m, s), x, d <= 1u); }
fn _hl_mod(x: u32, d: u32, m: u32, s: u32) -> u32 { return x - _hl_div(x, d, m, s) * d; }
`;

/** One source for the distinct sources `srcs` (same template), or null when none pays. */
function _share(srcs: readonly string[], lits: ReadonlyMap<string, _Lit[]>): _Shared | null {
  const first = lits.get(srcs[0])!;
  // a column: one word (a literal's value) or three (a divisor's d, multiplier and shift)
  const columns = new Map<string, number>();
  let nwords = 0;
  const colOf: (number | null)[] = first.map((l, p) => {
    const vals = srcs.map((s) => lits.get(s)![p].text);
    if (vals.every((v) => v === vals[0])) return null;
    const key = (l.div ? "d" : "") + vals.join(",");
    let k = columns.get(key);
    if (k === undefined) {
      columns.set(key, k = nwords);
      nwords += l.div ? 3 : 1;
    }
    return k;
  });
  if (columns.size === 0) return null;
  // a hoisted divisor's dividend is copied as it is: no hoisted literal may sit in it
  const hoisted = first.filter((_, p) => colOf[p] !== null);
  for (const l of hoisted) {
    if (l.div && hoisted.some((q) => q.at >= l.div!.from && q.at < l.div!.opAt)) return null;
  }
  const base = srcs[0];
  const word = (k: number) => `${NAME}[${k >> 2}].${"xyzw"[k & 3]}`;
  let body = "", from = 0, divs = false;
  for (let p = 0; p < first.length; p++) {
    const l = first[p], k = colOf[p];
    if (k === null) continue;
    if (l.div) {
      const x = base.slice(l.div.from, l.div.opAt);
      const fn = l.div.op === "/" ? "_hl_div" : "_hl_mod";
      body += `${base.slice(from, l.div.from)}${fn}(${x}, ${word(k)}, ${word(k + 1)}, ${
        word(k + 2)
      })`;
      divs = true;
    } else {
      const w = word(k);
      body += base.slice(from, l.at) +
        (l.suffix === "u" ? w : `bitcast<${l.suffix === "i" ? "i32" : "f32"}>(${w})`);
    }
    from = l.at + l.text.length;
  }
  body += base.slice(from);
  const binding = Math.max(...[...base.matchAll(/@binding\((\d+)\)/g)].map((m) => +m[1])) + 1;
  const vecs = Math.ceil(nwords / 4);
  const decl = `@group(0) @binding(${binding}) var<uniform> ${NAME}: array<vec4u, ${vecs}>;\n`;
  const words = new Map<string, number[]>();
  for (const s of srcs) {
    const w = new Array<number>(vecs * 4).fill(0);
    lits.get(s)!.forEach((l, p) => {
      const k = colOf[p];
      if (k === null) return;
      w[k] = _word(l);
      if (l.div && w[k] >= 2) {
        const { m, s: shift } = udivMagic(w[k]);
        w[k + 1] = m;
        w[k + 2] = shift;
      }
    });
    words.set(s, w);
  }
  return { wgsl: directivesFirst(decl + (divs ? DIV_WGSL : "") + body), binding, words };
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
 * differing only in literals share one source (see the module comment).
 *
 * @param p The program.
 * @returns The program with shared sources (`p` itself when nothing is shared).
 */
export function shareKernels(p: Program): Program {
  // whether every dispatch of a source is small (see _division)
  const small = new Map<string, boolean>();
  for (const op of p.ops) {
    if (op.kind !== "dispatch") continue;
    const wg = /@workgroup_size\(([^)]*)\)/.exec(op.wgsl)?.[1].split(",").map(Number) ?? [NaN];
    const work = wg.reduce((a, b) => a * b, 1) * op.grid[0] * op.grid[1] * op.grid[2];
    small.set(op.wgsl, (small.get(op.wgsl) ?? true) && genericWork(work));
  }
  const lits = new Map<string, _Lit[]>();
  const groups = new Map<string, string[]>();
  for (const op of p.ops) {
    if (op.kind !== "dispatch" || lits.has(op.wgsl) || op.wgsl.includes(NAME)) continue;
    if (UNSHARED.has(op.label)) continue;
    const ls = _literals(op.wgsl, small.get(op.wgsl)!);
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
