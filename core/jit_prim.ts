/**
 * The `jit_call` primitive: a call of a staged jaxpr. Its rules transform the jaxpr and bind
 * `jit_call` again, so `jit` composes with every other transformation.
 *
 * Compiled executables (one per jaxpr, backend, donation pattern and set of inlined literals)
 * are kept in one process-wide LRU cache bounded by {@link jitCacheLimits}: at most 256
 * executables and 512 MiB of the device buffers they keep between calls (their scratch
 * arenas), by default; `DENAX_JIT_CACHE` (entries) and `DENAX_JIT_CACHE_BYTES` (bytes) set
 * other defaults. An evicted executable releases its device buffers at once and is compiled
 * again on its next call. The cache holds executables weakly: one whose jitted function was
 * dropped is still freed by the garbage collector.
 *
 * @module
 */
import { fmtAvals } from "./aval.ts";
import { type Backend, currentBackend } from "./backend.ts";
import { definePartialEval, type JaxprBuilder, partialEvalJaxpr } from "./builder.ts";
import { evalJaxpr, type Jaxpr } from "./jaxpr.ts";
import { batchJaxpr, jvpJaxpr, transposeJaxpr } from "./jaxpr_rules.ts";
import { definePrimitive, type Primitive, UndefinedPrimal } from "./primitive.ts";
import type { Tensor } from "./tensor.ts";
import { bind, pushInterpreter } from "./trace.ts";
import { env } from "./env.ts";
import { jaxprHasF16 } from "./f16.ts";
import { f16Executable, type F16Io, f16Io, f16StorageJaxpr } from "./f16_jit.ts";

/**
 * Counters of jit compilation (tests read them): `traces` of jitted functions, `compiles` of
 * jaxprs into executables, executables `cached` now with their `cachedBytes` of device
 * buffers, and `evictions` from the cache.
 */
export const compileStats = { traces: 0, compiles: 0, cached: 0, cachedBytes: 0, evictions: 0 };

const _envCount = (name: string, dflt: number): number => {
  const v = Number(env(name) ?? NaN);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};

/**
 * Bounds of the compiled-executable cache (least recently used out first); assign to change
 * them (the next compile applies them). `maxEntries`: executables (default 256, or
 * `DENAX_JIT_CACHE`); `maxBytes`: device bytes their arenas keep between calls (default
 * 512 MiB, or `DENAX_JIT_CACHE_BYTES`). The most recent executable always stays.
 *
 * @example
 * ```ts
 * import { jit, jitCacheLimits, np } from "@denax/denax";
 * console.log(jitCacheLimits.maxEntries); // 256 (unless DENAX_JIT_CACHE is set)
 * const saved = jitCacheLimits.maxEntries;
 * jitCacheLimits.maxEntries = 1; // keep one trace per function (and one executable)
 * const f = jit((x: any) => x.add(1));
 * for (const n of [2, 3, 2]) await f(np.zeros([n])).toArray();
 * jitCacheLimits.maxEntries = saved;
 * console.log(f.traceCount); // 3: the trace for shape [3] evicted the one for [2]
 * if (f.traceCount !== 3) throw new Error(`got ${f.traceCount}`);
 * ```
 */
export const jitCacheLimits: { maxEntries: number; maxBytes: number } = {
  maxEntries: _envCount("DENAX_JIT_CACHE", 256),
  maxBytes: _envCount("DENAX_JIT_CACHE_BYTES", 512 * 2 ** 20),
};

/** A compiled jaxpr; backends' executables may report and release their device buffers. */
export type CompiledJaxpr = ((args: Tensor[]) => Tensor[]) & {
  /** Device bytes kept between calls. */
  readonly deviceBytes?: number;
  /** Frees what the executable keeps between calls (it stays callable). */
  release?(): void;
  /** Compiled with the `f16` option: it takes and gives the f16 tensors itself. */
  readonly f16Io?: boolean;
};

/** A backend that can compile whole jaxprs (the webgpu backend does). */
export interface JaxprCompiler {
  compileJaxpr(
    j: Jaxpr,
    opts?: {
      donated?: readonly boolean[];
      literals?: readonly (number | undefined)[];
      /** The f16 inputs and results of the original program (`core/f16_jit.ts`). */
      f16?: F16Io;
    },
  ): CompiledJaxpr;
}
const _compiled = new WeakMap<Jaxpr, Map<unknown, Map<string, CompiledJaxpr>>>();

interface _Cached {
  // Weak: an executable whose jitted function is gone is left to the collector, as before
  // the cache was bounded; the entry only bounds the ones still reachable.
  readonly ref: WeakRef<CompiledJaxpr>;
  readonly home: WeakRef<Map<string, CompiledJaxpr>>;
  readonly key: string;
  bytes: number;
}
/** Every cached executable (by a token of its own), least recently used first. */
const _lru = new Map<object, _Cached>();
const _tokens = new WeakMap<CompiledJaxpr, object>();
/** Executables in a call now (a nested jit's compile must not evict its caller). */
const _running = new Set<CompiledJaxpr>();

function _touch(exe: CompiledJaxpr, token: object, c: _Cached): void {
  _lru.delete(token);
  _lru.set(token, c);
  const bytes = exe.deviceBytes ?? 0;
  compileStats.cachedBytes += bytes - c.bytes;
  c.bytes = bytes;
}

function _evict(keep: CompiledJaxpr): void {
  for (const [token, c] of _lru) {
    if (
      _lru.size <= jitCacheLimits.maxEntries && compileStats.cachedBytes <= jitCacheLimits.maxBytes
    ) {
      return;
    }
    const exe = c.ref.deref();
    if (exe && (exe === keep || _running.has(exe))) continue;
    _lru.delete(token);
    compileStats.cachedBytes -= c.bytes;
    compileStats.cached = _lru.size;
    if (!exe) continue; // collected: its finalizer frees what it kept
    const home = c.home.deref();
    if (home?.get(c.key) === exe) home.delete(c.key);
    compileStats.evictions++;
    exe.release?.();
  }
}

/**
 * The executable of `j` on `backend`: its compiled program; for f16 programs the program
 * rewritten to f32 storage (core/f16_jit.ts) where the backend fuses f16 roundings, else
 * primitive by primitive (the backends' compilers see no f16).
 */
function _compile(
  backend: Partial<JaxprCompiler> & Partial<Backend>,
  j: Jaxpr,
  donated?: readonly boolean[],
  literals?: readonly (number | undefined)[],
): CompiledJaxpr {
  const byEqn = (xs: Tensor[]) => evalJaxpr(j, [], xs);
  if (!backend.compileJaxpr) return byEqn;
  if (!jaxprHasF16(j)) return backend.compileJaxpr(j, { donated, literals });
  const s = backend.fusesF16 ? f16StorageJaxpr(j) : null;
  if (!s) return byEqn;
  const exe = backend.compileJaxpr(s, { donated, literals, f16: f16Io(j) });
  return f16Executable(backend as Backend, j, exe);
}

function runCompiled(
  j: Jaxpr,
  args: Tensor[],
  donated?: readonly boolean[],
  literals?: readonly (number | undefined)[],
): Tensor[] {
  const backend = currentBackend() as unknown as Partial<JaxprCompiler>;
  let perJaxpr = _compiled.get(j);
  if (!perJaxpr) _compiled.set(j, perJaxpr = new Map());
  let perBackend = perJaxpr.get(backend);
  if (!perBackend) perJaxpr.set(backend, perBackend = new Map());
  // one executable per backend, donation pattern and set of inlined literals
  const key = `${donated?.map(Number).join("") ?? ""}|${literals?.join(",") ?? ""}`;
  let exe = perBackend.get(key);
  let c: _Cached | undefined;
  if (!exe) {
    compileStats.compiles++;
    exe = _compile(backend, j, donated, literals);
    perBackend.set(key, exe);
    const token = {};
    _tokens.set(exe, token);
    c = { ref: new WeakRef(exe), home: new WeakRef(perBackend), key, bytes: 0 };
    _lru.set(token, c);
    compileStats.cached = _lru.size;
  } else c = _lru.get(_tokens.get(exe)!)!;
  const outer = _running.has(exe);
  _running.add(exe);
  let outs: Tensor[];
  try {
    outs = exe(args);
  } finally {
    if (!outer) _running.delete(exe);
  }
  // after the call: its arena exists from the first call on
  _touch(exe, _tokens.get(exe)!, c);
  _evict(exe);
  return outs;
}

/**
 * Params of `jit_call`: the closed jaxpr, the function's name (printed), and per input whether
 * it is donated and which scalar inputs are inlined as literals.
 */
export type JitCallParams = {
  readonly jaxpr: Jaxpr;
  readonly name: string;
  readonly donated?: readonly boolean[];
  readonly literals?: readonly (number | undefined)[];
};

export const jit_call_p: Primitive<JitCallParams> = definePrimitive<JitCallParams>("jit_call", {
  params: { jaxpr: "required", name: "required", donated: "optional", literals: "optional" },
  higherOrder: true,
  multipleResults: true,
  abstractEval(avals, { jaxpr: j }) {
    if (avals.length !== j.invars.length || avals.some((a, i) => !a.equals(j.invars[i].aval))) {
      throw new TypeError(
        `jit_call: arguments ${fmtAvals(avals)} do not match the jaxpr's inputs ${
          fmtAvals(j.inAvals)
        }`,
      );
    }
    return j.outAvals;
  },
  evalImpl(args, { jaxpr, donated, literals }) {
    return runCompiled(jaxpr, args, donated, literals);
  },
  symbolicZeros: true,
  jvp(primals, tangents: (Tensor | null)[], { jaxpr: j, name }) {
    const nz = tangents.map((t) => t !== null);
    const { jaxpr: jj, outNonzeros } = jvpJaxpr(j, nz, false);
    const outs = bind(
      jit_call_p,
      [...jj.consts, ...primals, ...tangents.filter((t) => t !== null)],
      {
        jaxpr: jj.jaxpr,
        name: `jvp(${name})`,
      },
    );
    const n = j.outvars.length;
    let k = n;
    return [outs.slice(0, n), outNonzeros.map((z) => (z ? outs[k++] : null))];
  },
  transpose(cts, args, { jaxpr: j, name }) {
    const linear = args.map((a) => a instanceof UndefinedPrimal);
    const tj = transposeJaxpr(j, linear);
    const ctsIn = cts.map((c, i) => c ?? zerosOf(j.outvars[i].aval));
    const res = bind(jit_call_p, [
      ...tj.consts,
      ...args.filter((a) => !(a instanceof UndefinedPrimal)) as Tensor[],
      ...ctsIn,
    ], {
      jaxpr: tj.jaxpr,
      name: `transpose(${name})`,
    });
    let k = 0;
    return linear.map((l) => (l ? res[k++] : null));
  },
  batch(args, dims, { jaxpr, name }, size) {
    const { jaxpr: bj, outBatched } = batchJaxpr(jaxpr, dims, size, false);
    const outs = bind(jit_call_p, [...bj.consts, ...args], {
      jaxpr: bj.jaxpr,
      name: `vmap(${name})`,
    });
    return [outs, outBatched.map((b) => (b ? 0 : null))];
  },
});

import { zerosLikeT as zerosOf } from "./prims/structural.ts";

/** Partial evaluation of a call: the known part runs now, the unknown part is staged. */
function callPartialEval(prim: Primitive<JitCallParams>) {
  return (b: JaxprBuilder, args: Tensor[], params: JitCallParams): Tensor[] => {
    const j = params.jaxpr;
    const unknowns = args.map((a) => b.isOwn(a));
    const pe = partialEvalJaxpr(j, unknowns, false);
    let knownOuts: Tensor[];
    {
      using _ = pushInterpreter(b.parent);
      // the inputs are rearranged: per-input flags (donation, literals) no longer apply
      const { donated: _d, literals: _l, ...rest } = params;
      knownOuts = bind(prim, [...pe.known.consts, ...args.filter((_, i) => !unknowns[i])], {
        ...rest,
        jaxpr: pe.known.jaxpr,
      });
    }
    const nKnown = pe.outUnknowns.filter((u) => !u).length;
    const res = knownOuts.slice(nKnown);
    const { donated: _d, literals: _l, ...rest } = params;
    const unkOuts = b.record(prim, [...res, ...args.filter((_, i) => unknowns[i])], {
      ...rest,
      jaxpr: pe.unknown,
    });
    let ki = 0, ui = 0;
    return pe.outUnknowns.map((u) => (u ? unkOuts[ui++] : knownOuts[ki++]));
  };
}
definePartialEval(jit_call_p, callPartialEval(jit_call_p));
export { callPartialEval };
