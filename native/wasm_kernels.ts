/**
 * Generated WebAssembly SIMD128 kernels for f32 elementwise chains: one Wasm function per
 * chain (the jit's fused loops, the eager transcendental ops), four lanes per instruction,
 * with the vector math of `wasm_math.ts`. The data stays in the caller's `Float32Array`s and
 * moves through a small Wasm memory in blocks of {@link BLOCK} elements (each operand's block
 * copied in, the chain run over it, each result's block copied out): the blocks stay in the
 * L1/L2 cache, so the copies cost little beside the math, and no caller array has to live in
 * Wasm memory. Every f32 operation of a chain rounds as the JavaScript paths do (`Math.fround`
 * of the float64 operation), so the kernels give the bits of op-by-op evaluation.
 *
 * The memory is shared where the engine allows: with `DENAX_NATIVE_THREADS` above 1, a chain
 * over at least `poolConfig.minElements` values copies its whole range into it and splits it
 * between the main thread and a worker pool (`pool.ts`; off by default: not faster on the
 * 2-core machine it was measured on).
 *
 * Where WebAssembly SIMD is missing (or `wasmConfig.enabled` is false when a chain is
 * compiled) {@link compileChain} returns null and callers run the JavaScript loops, which use
 * the scalar ports of the same math.
 *
 * @module
 */
import { env } from "../core/env.ts";
import { buildModule, O, S, T, WasmFunc } from "./wasm_emit.ts";
import { type Opd, SCALAR_MATH, VecBuilder, VECTOR_MATH } from "./wasm_math.ts";
import { type PoolKernel, poolWanted, runPooled } from "./pool.ts";

/** Elements per block moved through Wasm memory. */
export const BLOCK = 4096;

/** One operation of a chain: `name = prim(...ins)`. */
export interface ChainOp {
  /** The result's name. */
  readonly name: string;
  /** The primitive (one of {@link WASM_PRIMS}). */
  readonly prim: string;
  /** Operand names: loads, earlier results or literals. */
  readonly ins: readonly string[];
  /**
   * The operands' dtypes and the result's, when a bool is involved (a bool is a lane mask
   * inside a chain: comparisons make them, `select`, `and`/`or`/`xor`/`not` and `convert` read
   * them); absent: all f32.
   */
  readonly types?: { readonly ins: readonly string[]; readonly out: string };
}

/** The f32 ↔ bool primitives a chain may contain, beside {@link WASM_PRIMS}' f32 ones. */
const _CMP: Readonly<Record<string, number>> = {
  eq: S.f32x4_eq,
  ne: S.f32x4_ne,
  lt: S.f32x4_lt,
  le: S.f32x4_le,
  gt: S.f32x4_gt,
  ge: S.f32x4_ge,
};

/**
 * Whether a chain can compute `prim` with these operand and result dtypes.
 *
 * @param prim the primitive
 * @param ins the operands' dtypes
 * @param out the result's dtype
 * @returns whether {@link compileChain} emits it
 * @example
 * ```ts
 * import { chainSupports } from "./wasm_kernels.ts";
 * if (!chainSupports("gt", ["f32", "f32"], "bool")) throw new Error("comparisons are masks");
 * if (chainSupports("add", ["i32", "i32"], "i32")) throw new Error("f32 only");
 * ```
 */
export function chainSupports(prim: string, ins: readonly string[], out: string): boolean {
  const all = (t: string) => ins.every((d) => d === t);
  if (WASM_PRIMS.has(prim) && prim !== "convert") return out === "f32" && all("f32");
  if (prim in _CMP || prim === "is_nan" || prim === "is_inf") return out === "bool" && all("f32");
  if (["and", "or", "xor", "not"].includes(prim)) return out === "bool" && all("bool");
  if (prim === "select") {
    return out === "f32" && ins[0] === "bool" && ins[1] === "f32" && ins[2] === "f32";
  }
  if (prim === "convert") return (out === "f32" || out === "bool") && (all("f32") || all("bool"));
  return false;
}

/** An f32 elementwise chain over blocks. */
export interface ChainSpec {
  /** The operations, in order. */
  readonly ops: readonly ChainOp[];
  /** Operands read per element (one array each). */
  readonly vec: readonly string[];
  /**
   * Those of `vec` that are bool masks stored one byte per element (0 or 1) in their slot,
   * widened to lane masks by the kernel (the caller copies a bool array's bytes as they are).
   */
  readonly bytes?: readonly string[];
  /** Operands that are one value for the whole call. */
  readonly scalars: readonly string[];
  /** The operand stored in each output, in order. */
  readonly outs: readonly string[];
  /** Values of literal operands by name. */
  readonly lits: ReadonlyMap<string, number>;
}

/** A compiled chain. */
export interface WasmChain {
  /**
   * Runs the chain over `n` elements: `outs[k][outOff[k] + i] = chain(vec[j][vecOff[j] + i],
   * scalars)` for `i < n`. An output may be one of the inputs at the same offset (in place).
   */
  run(
    n: number,
    vec: readonly Float32Array[],
    vecOff: readonly number[],
    scalars: readonly number[],
    outs: readonly Float32Array[],
    outOff: readonly number[],
  ): void;
  /** The chain as text (for debugging). */
  readonly text: string;
  /**
   * The operand slots of one block in Wasm memory (inputs, then outputs; {@link BLOCK}
   * elements each), for callers that fill them themselves (several short rows per block),
   * and `exec(m, scalars)`, which runs the chain over the first `m` elements of the slots.
   */
  readonly block: {
    readonly slots: readonly Float32Array[];
    exec(m: number, scalars: readonly number[]): void;
  };
}

/** Primitives a chain may contain (all f32 → f32). */
export const WASM_PRIMS: ReadonlySet<string> = new Set([
  "neg",
  "abs",
  "sign",
  "sqrt",
  "floor",
  "ceil",
  "stop_gradient",
  "convert",
  "add",
  "sub",
  "mul",
  "div",
  "max",
  "min",
  ...Object.keys(VECTOR_MATH),
]);

let _simd: boolean | undefined;

/** Whether this engine runs WebAssembly SIMD128 (checked once). */
export function simdAvailable(): boolean {
  if (_simd === undefined) {
    try {
      const f = new WasmFunc([], [T.v128]).f32x4(1).f32x4(2).simd(S.f32x4_add);
      _simd = typeof WebAssembly === "object" &&
        WebAssembly.validate(buildModule([{ name: "f", f }], { min: 1 }));
    } catch {
      _simd = false;
    }
  }
  return _simd;
}

/**
 * Whether chains compile to Wasm (`DENAX_NATIVE_WASM=0` turns it off; read when a chain is
 * compiled). Off, or without SIMD128, the JavaScript loops run the same math (same bits).
 *
 * @example
 * ```ts
 * import { wasmConfig } from "./wasm_kernels.ts";
 * const prev = wasmConfig.enabled;
 * wasmConfig.enabled = false; // chains compiled from now on run as JavaScript
 * wasmConfig.enabled = prev;
 * if (typeof prev !== "boolean") throw new Error("a flag");
 * ```
 */
export const wasmConfig: { enabled: boolean } = { enabled: env("DENAX_NATIVE_WASM") !== "0" };

/** Bytes before the blocks (the pool's control words). */
const BLOCK_BASE = 4096;
/** Most operand slots of a chain (inputs and outputs). */
const MAX_SLOTS = 64;
/** Where the pool's operands start (after the blocks). */
const POOL_BASE = BLOCK_BASE + MAX_SLOTS * BLOCK * 4;
const MAX_PAGES = 32768; // 2 GiB (reserved, not committed)

let _mem: WebAssembly.Memory | null = null;
let _shared = false;
let _heap: Float32Array<ArrayBufferLike> = new Float32Array(0);

/** The kernels' memory (shared where the engine allows, so the pool can use it). */
function _memory(): WebAssembly.Memory {
  if (!_mem) {
    const initial = Math.ceil(POOL_BASE / 65536);
    try {
      _mem = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true });
      _shared = true;
    } catch {
      _mem = new WebAssembly.Memory({ initial });
    }
  }
  return _mem;
}

/** Grows the memory to `bytes` at least. */
function _reserve(bytes: number): void {
  const m = _memory(), have = m.buffer.byteLength / 65536, pages = Math.ceil(bytes / 65536);
  if (have < pages) m.grow(pages - have);
}

const _view = (): Float32Array => {
  if (_heap.buffer !== _mem!.buffer || _heap.length * 4 !== _mem!.buffer.byteLength) {
    _heap = new Float32Array(_mem!.buffer);
  }
  return _heap;
};

let _ids = 0;

/**
 * Emits the load of four bool bytes (0 or 1) at the address on the stack plus `offset`,
 * widened to four 32-bit lanes of 0 or all ones (a chain's bool).
 *
 * @param f the function
 * @param offset the constant byte offset
 */
export function loadMaskBytes(f: WasmFunc, offset: number): void {
  f.simd(0x5c /* v128.load32_zero */).op(2).uleb(offset);
  f.simd(0x89 /* i16x8.extend_low_i8x16_u */).simd(0xa9 /* i32x4.extend_low_i16x8_u */);
  f.simd(0xa1 /* i32x4.neg */);
}

/**
 * Emits one chain operation over four lanes (also for `wasm_reduce.ts`'s kernels).
 *
 * @param v the builder
 * @param prim the primitive
 * @param xs its operands
 * @param types the dtypes where a bool is involved
 * @returns the result, or null when the primitive is not supported
 */
export function emitChainOp(
  v: VecBuilder,
  prim: string,
  xs: readonly Opd[],
  types: ChainOp["types"],
): Opd | null {
  const [a, b] = xs;
  const math = VECTOR_MATH[prim];
  if (math) return math(v, a);
  if (prim in _CMP) return v.bin(_CMP[prim], a, b);
  switch (prim) {
    case "is_nan":
      return v.bin(S.f32x4_ne, a, a);
    case "is_inf":
      return v.bin(S.f32x4_eq, v.un(S.f32x4_abs, a), { f: Infinity });
    case "and":
      return v.bin(S.and, a, b);
    case "or":
      return v.bin(S.or, a, b);
    case "xor":
      return v.bin(S.xor, a, b);
    case "not":
      return v.un(S.not, a);
    case "select": // pred ? on_true : on_false
      return v.sel(b, xs[2], a);
    case "convert":
      if (types && types.ins[0] === "bool" && types.out === "f32") return v.bin(S.and, a, { f: 1 });
      if (types && types.ins[0] === "f32" && types.out === "bool") {
        return v.bin(S.f32x4_ne, a, { f: 0 });
      }
      return a;
  }
  switch (prim) {
    case "neg":
      return v.un(S.f32x4_neg, a);
    case "abs":
      return v.un(S.f32x4_abs, a);
    case "sqrt":
      return v.un(S.f32x4_sqrt, a);
    case "floor":
      return v.un(S.f32x4_floor, a);
    case "ceil":
      return v.un(S.f32x4_ceil, a);
    case "stop_gradient":
    case "convert":
      return a;
    case "sign":
      return v.sel(
        { f: 1 },
        v.sel({ f: -1 }, a, v.bin(S.f32x4_lt, a, { f: 0 })),
        v.bin(S.f32x4_gt, a, { f: 0 }),
      );
    case "add":
      return v.bin(S.f32x4_add, a, b);
    case "sub":
      return v.bin(S.f32x4_sub, a, b);
    case "mul":
      return v.bin(S.f32x4_mul, a, b);
    case "div":
      return v.bin(S.f32x4_div, a, b);
    case "max": // a where a > b or a is NaN, else b (the JavaScript loops' choice)
    case "min": {
      const cmp = v.bin(prim === "max" ? S.f32x4_gt : S.f32x4_lt, a, b);
      return v.sel(a, b, v.bin(S.or, cmp, v.bin(S.f32x4_ne, a, a)));
    }
  }
  return null;
}

/**
 * Compiles a chain to a Wasm function over blocks.
 *
 * @param spec the chain
 * @returns the compiled chain, or null where Wasm SIMD is unavailable or disabled, or the
 *   chain has an operation outside {@link WASM_PRIMS}
 * @example
 * ```ts
 * import { compileChain } from "./wasm_kernels.ts";
 * const k = compileChain({
 *   ops: [{ name: "t0", prim: "mul", ins: ["x", "2"] }, { name: "t1", prim: "exp", ins: ["t0"] }],
 *   vec: ["x"],
 *   scalars: [],
 *   outs: ["t1"],
 *   lits: new Map([["2", 2]]),
 * });
 * const x = new Float32Array([0, 0.5, 1]), y = new Float32Array(3);
 * if (k) k.run(3, [x], [0], [], [y], [0]);
 * else y.set(x.map((v) => Math.exp(2 * v)));
 * if (Math.abs(y[2] - Math.exp(2)) > 1e-5) throw new Error(`got ${y[2]}`);
 * ```
 */
export function compileChain(spec: ChainSpec): WasmChain | null {
  if (!wasmConfig.enabled || !simdAvailable()) return null;
  const ok = (o: ChainOp) =>
    o.types ? chainSupports(o.prim, o.types.ins, o.types.out) : WASM_PRIMS.has(o.prim);
  if (!spec.ops.every(ok)) return null;
  const nv = spec.vec.length, ns = spec.scalars.length, no = spec.outs.length;
  const slots = nv + no;
  if (slots > MAX_SLOTS) return null;
  // k(base, n, stride, ...scalars): operand slot j at base + j·stride bytes
  const f = new WasmFunc([T.i32, T.i32, T.i32, ...spec.scalars.map(() => T.f32)], []);
  const v = new VecBuilder(f);
  const names = new Map<string, Opd>();
  spec.scalars.forEach((s, k) => {
    f.get(3 + k).simd(S.f32x4_splat);
    names.set(s, v.put());
  });
  const i = f.local(T.i32), end = f.local(T.i32);
  const ptr = Array.from({ length: slots }, (_, j) => {
    const l = f.local(T.i32);
    f.get(0).get(2).i32(j).op(0x6c, /* i32.mul */ O.i32_add).set(l);
    return l;
  });
  // end = ceil(n / 4) · 16 bytes (the lanes past n compute on stale data, never copied out)
  f.get(1).i32(3).op(O.i32_add).i32(2).op(0x76 /* i32.shr_u */).i32(4).op(O.i32_shl).set(end);
  f.i32(0).set(i);
  const loopAt = f.code.length;
  f.op(O.block, 0x40, O.loop, 0x40);
  f.get(i).get(end).op(O.i32_ge_u, O.br_if, 1);
  spec.vec.forEach((name, j) => {
    if (spec.bytes?.includes(name)) {
      // four bytes at element i/4 of the slot, widened to 0 / all-ones lanes
      f.get(ptr[j]).get(i).i32(2).op(0x76, /* i32.shr_u */ O.i32_add);
      loadMaskBytes(f, 0);
    } else f.get(ptr[j]).get(i).op(O.i32_add).mem(S.load, 0);
    names.set(name, v.put());
  });
  const opd = (s: string, type = "f32"): Opd => {
    const n = names.get(s);
    if (n !== undefined) return n;
    const lit = spec.lits.get(s);
    if (lit === undefined) throw new Error(`internal: wasm chain has no operand ${s}`);
    return type === "bool" ? { i: lit ? -1 : 0 } : { f: lit };
  };
  for (const o of spec.ops) {
    const r = emitChainOp(v, o.prim, o.ins.map((x, k) => opd(x, o.types?.ins[k])), o.types);
    if (r === null) return null;
    names.set(o.name, r);
  }
  spec.outs.forEach((s, k) => {
    f.get(ptr[nv + k]).get(i).op(O.i32_add);
    v.push(opd(s));
    f.mem(S.store, 0);
  });
  f.get(i).i32(16).op(O.i32_add).set(i).op(O.br, 0, O.end, O.end);
  f.code.splice(loopAt, 0, ...v.prologue.code); // the constants, set once before the loop
  const mem = _memory();
  const bytes = buildModule([{ name: "k", f }], {
    min: 1,
    max: _shared ? MAX_PAGES : undefined,
    shared: _shared,
  });
  const fn = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { mem } }).exports
    .k as PoolKernel;
  const id = _ids++;
  const args = new Array<number>(3 + ns).fill(0);
  const text =
    `wasm (${spec.vec.join(", ")}; ${spec.scalars.join(", ")}) -> ${spec.outs.join(", ")}\n` +
    spec.ops.map((o) => `  ${o.name} = ${o.prim}(${o.ins.join(", ")})`).join("\n");
  const buf = mem.buffer; // the blocks lie in the initial pages: these views stay valid
  const block = {
    slots: Array.from(
      { length: slots },
      (_, j) => new Float32Array(buf, BLOCK_BASE + j * BLOCK * 4, BLOCK),
    ),
    exec(m: number, scalars: readonly number[]): void {
      args[0] = BLOCK_BASE;
      args[1] = m;
      args[2] = BLOCK * 4;
      for (let k = 0; k < ns; k++) args[3 + k] = scalars[k];
      (fn as (...a: number[]) => void).apply(null, args);
    },
  };
  return {
    text,
    block,
    run(n, vec, vecOff, scalars, outs, outOff): void {
      if (_shared && poolWanted(n)) {
        // the whole range in shared memory, cut between the threads
        const stride = Math.ceil(n / 4) * 16;
        _reserve(POOL_BASE + slots * stride);
        const H = _view();
        for (let j = 0; j < nv; j++) {
          H.set(vec[j].subarray(vecOff[j], vecOff[j] + n), (POOL_BASE + j * stride) / 4);
        }
        runPooled(mem, id, bytes, fn, n, POOL_BASE, stride, scalars);
        const H2 = _view();
        for (let k = 0; k < no; k++) {
          const b = (POOL_BASE + (nv + k) * stride) / 4;
          outs[k].set(H2.subarray(b, b + n), outOff[k]);
        }
        return;
      }
      const H = _view();
      args[0] = BLOCK_BASE;
      args[2] = BLOCK * 4;
      for (let k = 0; k < ns; k++) args[3 + k] = scalars[k];
      for (let s = 0; s < n; s += BLOCK) {
        const m = n - s < BLOCK ? n - s : BLOCK;
        for (let j = 0; j < nv; j++) {
          const a = vecOff[j] + s;
          H.set(vec[j].subarray(a, a + m), BLOCK_BASE / 4 + j * BLOCK);
        }
        args[1] = m;
        (fn as (...a: number[]) => void).apply(null, args);
        for (let k = 0; k < no; k++) {
          const b = BLOCK_BASE / 4 + (nv + k) * BLOCK;
          outs[k].set(H.subarray(b, b + m), outOff[k] + s);
        }
      }
    },
  };
}

const _unary = new Map<string, WasmChain | null>();

/**
 * The eager loop of a transcendental f32 op (`exp`, `log`, `tanh`, `logistic`): the Wasm
 * kernel where available, else the scalar port; both give the jit's bits.
 *
 * @param prim the primitive
 * @returns `(x, out) => void` over arrays of one length, or undefined for another primitive
 * @example
 * ```ts
 * import { unaryMathF32 } from "./wasm_kernels.ts";
 * const x = new Float32Array([0, 1]), y = new Float32Array(2);
 * unaryMathF32("tanh")!(x, y);
 * if (y[0] !== 0 || Math.abs(y[1] - Math.tanh(1)) > 1e-7) throw new Error(`got ${y}`);
 * ```
 */
export function unaryMathF32(
  prim: string,
): ((x: Float32Array, out: Float32Array) => void) | undefined {
  if (!SCALAR_MATH[prim]) return undefined;
  return (x, out) => {
    const n = x.length;
    if (n >= EAGER_MIN) {
      let k = _unary.get(prim);
      if (k === undefined) {
        k = compileChain({
          ops: [{ name: "t", prim, ins: ["x"] }],
          vec: ["x"],
          scalars: [],
          outs: ["t"],
          lits: new Map(),
        });
        _unary.set(prim, k);
      }
      if (k) {
        k.run(n, [x], [0], [], [out], [0]);
        return;
      }
    }
    const scalar = scalarMath()[prim];
    for (let i = 0; i < n; i++) out[i] = scalar(x[i]);
  };
}

const _simple = new Map<string, WasmChain | null>();

/**
 * A Wasm kernel of one f32 operation over whole arrays (`neg`, `abs`, `sqrt`, `add`, `sub`,
 * `mul`, `div`: their f32 results equal the JavaScript loops' rounded ones), or null where
 * Wasm is unavailable or off: the eager loops call it above {@link EAGER_MIN} elements (with
 * the copies through Wasm memory it is still about twice as fast as a typed-array loop).
 *
 * @param prim the primitive
 * @param arity 1 or 2
 * @returns the compiled kernel, or null
 * @example
 * ```ts
 * import { simpleChain } from "./wasm_kernels.ts";
 * const k = simpleChain("mul", 2);
 * const a = new Float32Array([1, 2, 3]), o = new Float32Array(3);
 * if (k) k.run(3, [a, a], [0, 0], [], [o], [0]);
 * else o.set(a.map((v) => v * v));
 * if (o[2] !== 9) throw new Error(`got ${o[2]}`);
 * ```
 */
export function simpleChain(prim: string, arity: 1 | 2): WasmChain | null {
  const key = `${prim}/${arity}`;
  let k = _simple.get(key);
  if (k === undefined) {
    const ins = arity === 1 ? ["x"] : ["x", "y"];
    k = compileChain({
      ops: [{ name: "t", prim, ins }],
      vec: ins,
      scalars: [],
      outs: ["t"],
      lits: new Map(),
    });
    _simple.set(key, k);
  }
  return k;
}

/** Elements from which the eager loops run as Wasm kernels. */
export const EAGER_MIN = 64;

let _scalarWasm: Record<string, (x: number) => number> | null | undefined;

/**
 * The scalar `exp`, `log`, `tanh` and `logistic` the JavaScript loops call: Wasm functions
 * running the vector code on one lane where SIMD128 is available and enabled (several times
 * faster than the ports: no `Math.fround` after every step), else the JavaScript ports. Both
 * give the kernels' bits.
 *
 * @returns the functions by primitive name
 * @example
 * ```ts
 * import { scalarMath } from "./wasm_kernels.ts";
 * const e = scalarMath().exp(1);
 * if (Math.abs(e - Math.E) > 1e-6) throw new Error(`got ${e}`);
 * ```
 */
export function scalarMath(): Readonly<Record<string, (x: number) => number>> {
  if (!wasmConfig.enabled || !simdAvailable()) return SCALAR_MATH;
  if (_scalarWasm === undefined) {
    const funcs = Object.keys(VECTOR_MATH).map((name) => {
      const f = new WasmFunc([T.f32], [T.f32]);
      const v = new VecBuilder(f);
      f.get(0).simd(S.f32x4_splat);
      const r = VECTOR_MATH[name](v, v.put());
      f.get(r).simd(S.f32x4_extract_lane).op(0);
      f.code.splice(0, 0, ...v.prologue.code);
      return { name, f };
    });
    const mod = new WebAssembly.Module(buildModule(funcs, { min: 1 }));
    const mem = new WebAssembly.Memory({ initial: 1 });
    _scalarWasm = { ...new WebAssembly.Instance(mod, { m: { mem } }).exports } as Record<
      string,
      (x: number) => number
    >;
  }
  return _scalarWasm ?? SCALAR_MATH;
}
