/**
 * A small WebAssembly binary emitter for the native backend's generated kernels: functions
 * built instruction by instruction (numeric, control and the SIMD128 instructions the kernels
 * use), assembled into a module that imports one memory (`"m"."mem"`) and exports its
 * functions by name. Only what the kernels need: no tables, globals or data segments.
 *
 * @module
 */

/** Value types. */
export const T = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;

/** SIMD opcodes (after the `0xfd` prefix) of the instructions the kernels emit. */
export const S = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  i32x4_splat: 0x11,
  f32x4_splat: 0x13,
  f32x4_extract_lane: 0x1f,
  i32x4_eq: 0x37,
  f32x4_eq: 0x41,
  f32x4_ne: 0x42,
  f32x4_lt: 0x43,
  f32x4_gt: 0x44,
  f32x4_le: 0x45,
  f32x4_ge: 0x46,
  not: 0x4d,
  and: 0x4e,
  andnot: 0x4f,
  or: 0x50,
  xor: 0x51,
  bitselect: 0x52,
  f32x4_ceil: 0x67,
  f32x4_floor: 0x68,
  i32x4_shl: 0xab,
  i32x4_shr_s: 0xac,
  i32x4_shr_u: 0xad,
  i32x4_add: 0xae,
  i32x4_sub: 0xb1,
  f32x4_abs: 0xe0,
  f32x4_neg: 0xe1,
  f32x4_sqrt: 0xe3,
  f32x4_add: 0xe4,
  f32x4_sub: 0xe5,
  f32x4_mul: 0xe6,
  f32x4_div: 0xe7,
  f32x4_min: 0xe8,
  f32x4_max: 0xe9,
  f32x4_pmin: 0xea,
  f32x4_pmax: 0xeb,
  i32x4_trunc_sat_f32x4_s: 0xf8,
  f32x4_convert_i32x4_s: 0xfa,
} as const;

/** Core opcodes the kernels emit. */
export const O = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  br_if: 0x0d,
  end: 0x0b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  i32_const: 0x41,
  i32_ge_u: 0x4f,
  i32_add: 0x6a,
  i32_shl: 0x74,
} as const;

const _uleb = (out: number[], v: number): void => {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
};

const _sleb = (out: number[], v: number): void => {
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
};

const _f32 = new Float32Array(1),
  _u8 = new Uint8Array(_f32.buffer),
  _i32 = new Int32Array(
    _f32.buffer,
  );

/** One function under construction: its signature, extra locals and code. */
export class WasmFunc {
  /** Parameter types. */
  readonly params: readonly number[];
  /** Result types. */
  readonly results: readonly number[];
  /** Types of the locals after the parameters. */
  readonly locals: number[] = [];
  /** The instruction bytes (without the final `end`). */
  readonly code: number[] = [];

  /**
   * An empty function of this signature.
   *
   * @param params parameter types ({@link T})
   * @param results result types
   */
  constructor(params: readonly number[], results: readonly number[]) {
    this.params = params;
    this.results = results;
  }

  /**
   * Declares a local.
   *
   * @param type its type
   * @returns its index
   */
  local(type: number): number {
    return this.params.length + this.locals.push(type) - 1;
  }

  /**
   * Appends raw bytes.
   *
   * @param bytes opcodes and immediates
   * @returns this
   */
  op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  /**
   * Pushes a local.
   *
   * @param i local index
   * @returns this
   */
  get(i: number): this {
    this.code.push(O.local_get);
    _uleb(this.code, i);
    return this;
  }

  /**
   * Pops into a local.
   *
   * @param i local index
   * @returns this
   */
  set(i: number): this {
    this.code.push(O.local_set);
    _uleb(this.code, i);
    return this;
  }

  /**
   * Pushes an i32 constant.
   *
   * @param v a signed 32-bit value
   * @returns this
   */
  i32(v: number): this {
    this.code.push(O.i32_const);
    _sleb(this.code, v | 0);
    return this;
  }

  /**
   * Appends a SIMD instruction.
   *
   * @param op a SIMD opcode ({@link S})
   * @returns this
   */
  simd(op: number): this {
    this.code.push(0xfd);
    _uleb(this.code, op);
    return this;
  }

  /**
   * Appends an unsigned LEB128 immediate (a memory instruction's offset, an index).
   *
   * @param v a non-negative integer
   * @returns this
   */
  uleb(v: number): this {
    _uleb(this.code, v);
    return this;
  }

  /**
   * A `v128.load` or `v128.store` with a constant byte offset.
   *
   * @param op {@link S.load} or {@link S.store}
   * @param offset the byte offset added to the address operand
   * @returns this
   */
  mem(op: number, offset: number): this {
    this.simd(op);
    this.code.push(4); // alignment 2^4
    _uleb(this.code, offset);
    return this;
  }

  /**
   * Pushes an f32 constant in all four lanes.
   *
   * @param v an f32 value splatted to four lanes
   * @returns this
   */
  f32x4(v: number): this {
    _f32[0] = v;
    return this.i32x4(_i32[0]);
  }

  /**
   * Pushes a 32-bit pattern in all four lanes.
   *
   * @param v a 32-bit pattern splatted to four lanes
   * @returns this
   */
  i32x4(v: number): this {
    this.simd(S.const);
    _i32[0] = v;
    for (let k = 0; k < 4; k++) this.code.push(_u8[0], _u8[1], _u8[2], _u8[3]);
    return this;
  }
}

const _section = (out: number[], id: number, body: number[]): void => {
  out.push(id);
  _uleb(out, body.length);
  for (const b of body) out.push(b);
};

const _name = (out: number[], s: string): void => {
  const b = new TextEncoder().encode(s);
  _uleb(out, b.length);
  for (const x of b) out.push(x);
};

/**
 * Assembles a module importing memory `"m"."mem"` and exporting `funcs` by name.
 *
 * @param funcs the functions and their export names
 * @param memory the imported memory's limits (pages) and whether it is shared
 * @returns the module's bytes
 * @example
 * ```ts
 * import { buildModule, O, T, WasmFunc } from "./wasm_emit.ts";
 * const f = new WasmFunc([T.i32, T.i32], [T.i32]).get(0).get(1).op(O.i32_add);
 * const bytes = buildModule([{ name: "add", f }], { min: 1 });
 * const mem = new WebAssembly.Memory({ initial: 1 });
 * const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { mem } });
 * const add = inst.exports.add as (a: number, b: number) => number;
 * if (add(2, 3) !== 5) throw new Error("2 + 3");
 * ```
 */
export function buildModule(
  funcs: readonly { name: string; f: WasmFunc }[],
  memory: { min: number; max?: number; shared?: boolean },
): Uint8Array<ArrayBuffer> {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  _uleb(types, funcs.length);
  for (const { f } of funcs) {
    types.push(0x60);
    _uleb(types, f.params.length);
    types.push(...f.params);
    _uleb(types, f.results.length);
    types.push(...f.results);
  }
  _section(out, 1, types);
  const imp: number[] = [1];
  _name(imp, "m");
  _name(imp, "mem");
  imp.push(0x02);
  const flags = (memory.max !== undefined ? 1 : 0) | (memory.shared ? 2 : 0);
  imp.push(flags);
  _uleb(imp, memory.min);
  if (memory.max !== undefined) _uleb(imp, memory.max);
  _section(out, 2, imp);
  const fsec: number[] = [];
  _uleb(fsec, funcs.length);
  funcs.forEach((_, i) => _uleb(fsec, i));
  _section(out, 3, fsec);
  const ex: number[] = [];
  _uleb(ex, funcs.length);
  funcs.forEach(({ name }, i) => {
    _name(ex, name);
    ex.push(0x00);
    _uleb(ex, i);
  });
  _section(out, 7, ex);
  const code: number[] = [];
  _uleb(code, funcs.length);
  for (const { f } of funcs) {
    const body: number[] = [];
    // locals, run-length encoded by type
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    _uleb(body, runs.length);
    for (const [n, t] of runs) {
      _uleb(body, n);
      body.push(t);
    }
    for (const b of f.code) body.push(b);
    body.push(O.end);
    _uleb(code, body.length);
    for (const b of body) code.push(b);
  }
  _section(out, 10, code);
  return new Uint8Array(out);
}
