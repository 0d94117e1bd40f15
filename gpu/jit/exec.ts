/**
 * Replaying a compiled program: one command encoder per call (per segment between `core`
 * equations), pipelines and bind groups cached on the program, scratch buffers, temporaries
 * and textures kept between calls, scan loops encoded step by step into the same encoder
 * (their per-step xs/ys offsets come from a uniform holding each step's index, bound at a
 * 256-byte offset per step). Nothing is read back.
 *
 * Staging an input into a texture (a copy, or a GEMM operand's packing kernel that reads only
 * inputs) is skipped when the call passes the very arrays the texture was last filled from: a
 * live array's contents never change (a donated array is handed on under a new handle), and each
 * texture has one writer. A batch or a constant passed to every step is then staged once.
 *
 * Memory: a program's intermediates live in its own arena of scratch buffers, created at the
 * first call and reused by every later call (the planner reuses a dead value's buffer within a
 * call); only outputs that no donated input can hold, and values a `core` equation reads, come
 * from the pool per call. The arena counts against the runtime's memory budget
 * (`GpuRuntime.trackProgram`) and is destroyed by {@link Executable.release} (the jit cache
 * calls it when it evicts the executable) or when the executable is collected.
 *
 * @module
 */
import type { Backend, Buf } from "../../core/backend.ts";
import { ShapedArray } from "../../core/aval.ts";
import { withF16Boundary } from "../../core/f16_jit.ts";
import { Tensor } from "../../core/tensor.ts";
import { bind } from "../../core/trace.ts";
import type { WebGpuArray } from "../backend.ts";
import type { GemmCaps } from "../kernels/gemm.ts";
import { bucketBytes } from "../pool.ts";
import type { GpuRuntime } from "../runtime.ts";
import { Recorder } from "./recorder.ts";
import type { CoreOp, DispatchOp, Op, Program, ScanOp } from "./program.ts";
import type { HalfIo } from "./half_io.ts";

/** What the executor needs from the backend. */
export interface JitEnv {
  /** The runtime (device, pipeline cache, shared encoder). */
  readonly rt: GpuRuntime;
  /** GEMM capabilities. */
  readonly gemm: GemmCaps;
  /** The backend, owner of the result tensors. */
  readonly backend: Backend;
  /** A fresh pooled array of `bytes` bytes. */
  alloc(bytes: number): WebGpuArray;
  /** The array of a tensor's buffer (throws for other backends). */
  handle(buf: Buf): WebGpuArray;
  /** Takes over a donated array's buffer: the old handle is released, a new one returned. */
  adopt(arr: WebGpuArray): WebGpuArray;
}

/** Counters of compiled execution, for tests and profiling. */
export const jitStats = {
  /** Input stagings skipped because the texture already held those inputs. */
  stagingsKept: 0,
  /** Programs compiled. */
  compiles: 0,
  /** Calls of compiled programs. */
  calls: 0,
  /** Command buffers submitted by compiled programs. */
  submits: 0,
  /** Dispatches recorded by compiled programs. */
  dispatches: 0,
  /** Bind groups created (a cache miss each). */
  bindGroups: 0,
};

// GPUBufferUsage: COPY_SRC 0x4 | COPY_DST 0x8 | STORAGE 0x80; UNIFORM 0x40.
const _STORAGE = 0x80 | 0x4 | 0x8;
const _UNIFORM = 0x40 | 0x8;
const _STEP_STRIDE = 256;

const _ids = new WeakMap<object, number>();
let _nextId = 1;
const _id = (o: object) => {
  let k = _ids.get(o);
  if (k === undefined) _ids.set(o, k = _nextId++);
  return k;
};

/** The resources of a program's arena, and their accounted bytes. */
interface _Arena {
  readonly rt: GpuRuntime;
  readonly list: (GPUBuffer | GPUTexture)[];
  bytes: number;
}

function _destroyArena(a: _Arena): void {
  for (const r of a.list) r.destroy();
  a.rt.trackProgram(-a.bytes, -a.list.length);
  a.list.length = 0;
  a.bytes = 0;
}

const _reclaim = new FinalizationRegistry<_Arena>(_destroyArena);

// Bytes per texel of the formats GEMM textures use.
const _texelBytes = (
  f: GPUTextureFormat,
) => (f.startsWith("rgba32") ? 16 : f.startsWith("rg32") ? 8 : 4);

interface _Dispatch {
  readonly pipe: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly groups: Map<string, GPUBindGroup>;
}

interface _Scan {
  readonly step: GPUBuffer;
  readonly ping: GPUBuffer[][];
  readonly body: ProgramState;
  readonly table: GPUBuffer[];
}

/** The device resources a program keeps between calls. */
export class ProgramState {
  readonly #env: JitEnv;
  readonly #p: Program;
  /** Scratch buffers by slot. */
  readonly scratch: (GPUBuffer | undefined)[];
  /** Temporaries of eager lowerings. */
  readonly temps: GPUBuffer[];
  /** Texture views. */
  readonly views: GPUTextureView[];
  readonly #textures: GPUTexture[];
  readonly #dispatch = new Map<DispatchOp, _Dispatch>();
  readonly #scans = new Map<ScanOp, _Scan>();
  /** Per staging op of inputs only: the ids of the arrays its texture holds now. */
  readonly #staged = new Map<Op, number[]>();
  /** The ops that fill a texture from program inputs alone (top level only). */
  readonly #stagers: ReadonlySet<Op>;
  /** Every resource created, destroyed on release or when the owner is collected. */
  readonly arena: _Arena;

  /** Creates the program's buffers and textures. */
  constructor(env: JitEnv, p: Program, arena: _Arena) {
    this.#env = env;
    this.#p = p;
    this.arena = arena;
    this.scratch = p.slots.map((s) => (s.kind === "scratch" ? this.buffer(s.bytes) : undefined));
    this.temps = p.temps.map((b) => this.buffer(b));
    const device = env.rt.ctx.device;
    this.#textures = p.textures.map((t) => {
      // COPY_DST 0x02 | TEXTURE_BINDING 0x04 | STORAGE_BINDING 0x08
      const tex = device.createTexture({
        size: [t.width, t.height, t.layers],
        format: t.format,
        usage: 0x02 | 0x04 | 0x08,
      });
      this.#own(tex, t.width * t.height * t.layers * _texelBytes(t.format));
      return tex;
    });
    this.views = this.#textures.map((t) => t.createView({ dimension: "2d-array" }));
    this.#stagers = _inputStagers(p);
  }

  /**
   * Whether `op` may be skipped: it stages inputs alone into a texture, and `ids` (the ids of
   * the arrays in its input slots this call) are what the texture was filled from. Records
   * `ids` otherwise.
   */
  keepStaged(op: Op, ids: (slot: number) => number): boolean {
    if (!this.#stagers.has(op)) return false;
    const now = _inputSlots(op).map(ids);
    const before = this.#staged.get(op);
    if (before && before.length === now.length && before.every((v, k) => v === now[k])) {
      return true;
    }
    this.#staged.set(op, now);
    return false;
  }

  /** A storage buffer owned by the program. */
  buffer(bytes: number): GPUBuffer {
    const b = this.#env.rt.ctx.device.createBuffer({ size: bucketBytes(bytes), usage: _STORAGE });
    this.#own(b, b.size);
    return b;
  }

  #own(r: GPUBuffer | GPUTexture, bytes: number): void {
    this.arena.list.push(r);
    this.arena.bytes += bytes;
    this.#env.rt.trackProgram(bytes, 1);
  }

  /** The texture of index `k`. */
  texture(k: number): GPUTexture {
    return this.#textures[k];
  }

  /**
   * The pipeline and bind group cache of a dispatch. The first time, the pipeline is found in
   * the runtime's cache or made, and before it is made `rec` hears of it, to hand the work
   * recorded so far to the queue while this and later pipelines are being created.
   */
  dispatchState(op: DispatchOp, rec: Recorder): _Dispatch {
    let d = this.#dispatch.get(op);
    if (!d) {
      const rt = this.#env.rt;
      if (!rt.hasPipeline(op.wgsl)) rec.newPipeline(op.wgsl.length);
      const pipe = rt.pipeline(op.wgsl, op.label);
      d = { pipe, layout: pipe.getBindGroupLayout(0), groups: new Map() };
      this.#dispatch.set(op, d);
    }
    return d;
  }

  #zeroStep: _Step | null = null;
  /** A step uniform of zeros, for kernels outside scans. */
  get zeroStep(): _Step {
    if (!this.#zeroStep) {
      const buf = this.#env.rt.ctx.device.createBuffer({ size: _STEP_STRIDE, usage: _UNIFORM });
      this.#own(buf, buf.size); // created zeroed
      this.#zeroStep = { buf, k: 0, i: 0 };
    }
    return this.#zeroStep;
  }

  /** The loop state of a scan. */
  scanState(op: ScanOp): _Scan {
    let s = this.#scans.get(op);
    if (!s) {
      const device = this.#env.rt.ctx.device;
      const L = op.length;
      const step = device.createBuffer({ size: Math.max(L, 1) * _STEP_STRIDE, usage: _UNIFORM });
      this.#own(step, step.size);
      const idx = new Uint32Array(Math.max(L, 1) * (_STEP_STRIDE / 4));
      for (let k = 0; k < L; k++) idx[k * (_STEP_STRIDE / 4)] = op.reverse ? L - 1 - k : k;
      device.queue.writeBuffer(step, 0, idx);
      const ping = L > 1 ? [0, 1].map(() => op.carryBytes.map((b) => this.buffer(b))) : [];
      const body = new ProgramState(this.#env, op.body, this.arena);
      s = { step, ping, body, table: new Array(op.body.slots.length) };
      this.#scans.set(op, s);
    }
    return s;
  }
}

/** The slots an op binds (dispatch) or copies from (toTexture), others empty. */
function _inputSlots(op: Op): number[] {
  if (op.kind === "toTexture") return op.src.kind === "slot" ? [op.src.slot] : [];
  if (op.kind !== "dispatch") return [];
  return op.bindings.flatMap((r) => (r.kind === "slot" ? [r.slot] : []));
}

/**
 * The top-level ops of `p` that fill one texture from input slots alone: a copy of an input, or
 * a dispatch binding input slots, uniforms and a single texture (which it then writes), where
 * no other op of the kind writes that texture.
 */
function _inputStagers(p: Program): Set<Op> {
  const isIn = (slot: number) => p.slots[slot].kind === "in";
  const target = (op: Op): number | null => {
    if (op.kind === "toTexture") return op.src.kind === "slot" && isIn(op.src.slot) ? op.tex : null;
    if (op.kind !== "dispatch") return null;
    const tex = op.bindings.filter((r) => r.kind === "tex");
    const ok = tex.length === 1 && op.bindings.some((r) => r.kind === "slot") &&
      op.bindings.every((r) =>
        r.kind === "tex" || r.kind === "params" || r.kind === "step" ||
        (r.kind === "slot" && isIn(r.slot))
      );
    return ok ? (tex[0] as { index: number }).index : null;
  };
  const byTex = new Map<number, Op[]>();
  for (const op of p.ops) {
    const t = target(op);
    if (t !== null) byTex.set(t, [...(byTex.get(t) ?? []), op]);
  }
  return new Set([...byTex.values()].filter((ops) => ops.length === 1).map((ops) => ops[0]));
}

interface _Step {
  readonly buf: GPUBuffer;
  /** The slot of the step in the uniform buffer. */
  readonly k: number;
  /** The index into xs / ys. */
  readonly i: number;
}

function _dispatch(
  env: JitEnv,
  st: ProgramState,
  op: DispatchOp,
  table: readonly GPUBuffer[],
  step: _Step | null,
  rec: Recorder,
): void {
  const [x, y, z] = op.grid;
  if (x === 0 || y === 0 || z === 0) return;
  // outside a scan the step uniform is all zeros (f32 literals read its w)
  step ??= st.zeroStep;
  const d = st.dispatchState(op, rec);
  const key = op.bindings.map((r) =>
    r.kind === "slot"
      ? _id(table[r.slot])
      : r.kind === "step"
      ? `s${step!.k}`
      : r.kind === "params"
      ? "p"
      : r.kind === "tmp"
      ? `t${r.index}`
      : `x${r.index}`
  ).join(",");
  let bg = d.groups.get(key);
  if (!bg) {
    if (d.groups.size >= 512) d.groups.clear();
    bg = env.rt.ctx.device.createBindGroup({
      layout: d.layout,
      entries: op.bindings.map((r, binding): GPUBindGroupEntry => ({
        binding,
        resource: r.kind === "slot"
          ? { buffer: table[r.slot] }
          : r.kind === "tmp"
          ? { buffer: st.temps[r.index] }
          : r.kind === "tex"
          ? st.views[r.index]
          : r.kind === "params"
          ? { buffer: env.rt.paramsBuffer(r.words) }
          : { buffer: step!.buf, offset: step!.k * _STEP_STRIDE, size: 16 },
      })),
    });
    d.groups.set(key, bg);
    jitStats.bindGroups++;
  }
  const pass = rec.pass(op.label);
  pass.setPipeline(d.pipe);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(x, y, z);
  rec.done(pass);
  jitStats.dispatches++;
}

function _scan(
  env: JitEnv,
  st: ProgramState,
  op: ScanOp,
  table: readonly GPUBuffer[],
  rec: Recorder,
): void {
  const s = st.scanState(op);
  const L = op.length, nc = op.numConsts, ncar = op.numCarry;
  const body = op.body;
  for (let k = 0; k < L; k++) {
    body.slots.forEach((spec, slot) => {
      if (spec.kind === "in") {
        const j = spec.index;
        const carry = j >= nc && j < nc + ncar;
        s.table[slot] = carry && k > 0 ? s.ping[(L - k) % 2][j - nc] : table[op.ins[j]];
      } else if (spec.kind === "out") {
        const j = spec.index;
        s.table[slot] = j < ncar && k < L - 1 ? s.ping[(L - 1 - k) % 2][j] : table[op.outs[j]];
      } else if (spec.kind === "scratch") s.table[slot] = s.body.scratch[slot]!;
      else throw new Error(`internal: a scan body has a ${spec.kind} slot`);
    });
    run(env, s.body, body.ops, s.table, { buf: s.step, k, i: op.reverse ? L - 1 - k : k }, rec);
  }
}

/** Records `ops` (no `core` ones) of a program. */
function run(
  env: JitEnv,
  st: ProgramState,
  ops: readonly Op[],
  table: GPUBuffer[],
  step: _Step | null,
  rec: Recorder,
  ids?: (slot: number) => number,
): void {
  for (const op of ops) {
    if (ids && st.keepStaged(op, ids)) {
      jitStats.stagingsKept++;
      continue;
    }
    switch (op.kind) {
      case "dispatch":
        _dispatch(env, st, op, table, step, rec);
        break;
      case "copy": {
        if (op.bytes === 0) break;
        const buf = (r: typeof op.src) =>
          r.kind === "slot" ? table[r.slot] : r.kind === "tmp" ? st.temps[r.index] : null;
        const i = step?.i ?? 0;
        rec.outside().copyBufferToBuffer(
          buf(op.src)!,
          op.srcStep * i,
          buf(op.dst)!,
          op.dstStep * i,
          op.bytes,
        );
        break;
      }
      case "toTexture": {
        const tex = st.texture(op.tex);
        const src = op.src.kind === "slot"
          ? table[op.src.slot]
          : st.temps[(op.src as { index: number }).index];
        rec.outside().copyBufferToTexture(
          { buffer: src, offset: 0, bytesPerRow: op.bytesPerRow, rowsPerImage: tex.height },
          { texture: tex },
          [tex.width, tex.height, tex.depthOrArrayLayers],
        );
        break;
      }
      case "scan":
        _scan(env, st, op, table, rec);
        break;
      case "core":
        throw new Error("internal: core equation inside a compiled segment");
      default:
        throw new Error(`internal: unknown op ${(op satisfies never as Op).kind}`);
    }
  }
}

/** A compiled program as a function of tensors, with its program exposed for tests. */
export interface Executable {
  /** Runs the program. */
  (args: Tensor[]): Tensor[];
  /** The compiled program. */
  readonly program: Program;
  /** Compiled with f16 inputs and results: it takes and gives them as f16 tensors. */
  readonly f16Io: boolean;
  /** Bytes of the buffers and textures the program keeps between calls (0 before a call). */
  readonly deviceBytes: number;
  /**
   * Destroys the program's arena (after the work already issued); a later call makes a new
   * one. The jit compile cache calls it when it evicts the executable.
   */
  release(): void;
}

function _arg(env: JitEnv, a: Tensor, k: number): WebGpuArray {
  let buf = a._buf;
  if (a._backend !== env.backend && a._backend?.readSync) {
    buf = env.backend.upload(a._backend.readSync(buf, a.aval), a.aval);
  }
  if ((buf as { released?: unknown } | undefined)?.released === true) {
    throw new TypeError(
      `jit: argument ${k} (${a.aval}) was donated to an earlier call and its buffer reused` +
        `\nhelp: pass the result of that call instead, or leave the argument out of donateArgnums`,
    );
  }
  return env.handle(buf);
}

/**
 * Makes the function that replays `p` on each call.
 *
 * @param env The backend's hooks.
 * @param p The program.
 * @param io The f16 inputs and results the caller holds as f16 tensors (constants first).
 * @returns The executable.
 */
export function executable(env: JitEnv, p: Program, io?: HalfIo): Executable {
  let st: ProgramState | null = null;
  // with `io`, f16 inputs come and f16 results go as f16 tensors: the ones the program does
  // not bind directly (an f32 storage aval in it, see half_io.ts) are widened and rounded here
  const widen = io?.ins.map((h, i) => h && p.inAvals[i].dtype !== "f16");
  const want = io && p.outAvals.map((a, k) => (io.outs[k] ? new ShapedArray(a.shape, "f16") : a));
  const exe =
    ((args: Tensor[]): Tensor[] =>
      widen ? withF16Boundary(env.backend, args, widen, want!, call) : call(args)) as Executable;
  const call = (args: Tensor[]): Tensor[] => {
    jitStats.calls++;
    if (!st) {
      const arena: _Arena = { rt: env.rt, list: [], bytes: 0 };
      st = new ProgramState(env, p, arena);
      _reclaim.register(exe, arena, exe);
    }
    const state = st; // a release during a held-back segment must not pull it from under it
    const arrs = args.map((a, k) => _arg(env, a, k));
    const inputId = (slot: number) => _id(arrs[(p.slots[slot] as { index: number }).index]);
    const table: GPUBuffer[] = new Array(p.slots.length);
    const owners: (WebGpuArray | undefined)[] = new Array(p.slots.length);
    const ext: (Tensor | undefined)[] = new Array(p.slots.length);
    const rec = new Recorder(env.rt, () => jitStats.submits++);
    const byOutput = new Map(p.plan.donations.map((d) => [d.output, d] as const));
    p.slots.forEach((s, slot) => {
      if (s.kind === "in") table[slot] = arrs[s.index].buffer;
      else if (s.kind === "scratch") table[slot] = state.scratch[slot]!;
      else if (s.kind === "out" || s.kind === "fresh") {
        const d = s.kind === "out" ? byOutput.get(s.index) : undefined;
        const src = d ? arrs[d.input] : undefined;
        if (src && arrs.filter((a) => a.buffer === src.buffer).length === 1) {
          owners[slot] = env.adopt(src);
        } else {
          owners[slot] = env.alloc(s.bytes);
          if (src && d!.inPlace) {
            rec.outside().copyBufferToBuffer(src.buffer, 0, owners[slot]!.buffer, 0, s.bytes);
          }
        }
        table[slot] = owners[slot]!.buffer;
      }
    });
    const tensorOf = (slot: number, aval: Tensor["aval"]): Tensor => {
      const s = p.slots[slot];
      if (s.kind === "in") return args[s.index];
      if (s.kind === "ext") return ext[slot]!;
      return ext[slot] ??= new Tensor(aval, owners[slot], env.backend);
    };
    let seg: Op[] = [];
    const runCore = (op: CoreOp) => {
      const outs = bind(op.prim, op.ins.map((k, j) => tensorOf(k, op.inAvals[j])), op.params);
      op.outs.forEach((slot, j) => {
        ext[slot] = outs[j];
        table[slot] = env.handle(outs[j]._buf).buffer;
      });
    };
    // Segments go through the runtime's scheduler, which holds them back behind pending
    // deferred tasks (a whileLoop's) and keeps the buffers they use out of the pool meanwhile.
    const flushSeg = () => {
      const ops = seg;
      seg = [];
      if (!ops.length && !rec.pending) return;
      const uses = table.filter((b, k) => b !== undefined && p.slots[k].kind !== "scratch");
      env.rt.enqueue(() => {
        run(env, state, ops, table, null, rec, inputId);
        rec.submit();
      }, uses);
    };
    for (const op of p.ops) {
      if (op.kind !== "core") {
        seg.push(op);
        continue;
      }
      flushSeg();
      runCore(op);
    }
    flushSeg();
    return p.plan.outSlots.map((_, k) => tensorOf(p.outValSlots[k], p.outAvals[k]));
  };
  Object.defineProperty(exe, "program", { value: p });
  Object.defineProperty(exe, "f16Io", { value: io !== undefined });
  Object.defineProperty(exe, "deviceBytes", { get: () => st?.arena.bytes ?? 0 });
  Object.defineProperty(exe, "release", {
    value: () => {
      if (!st) return;
      const arena = st.arena;
      st = null;
      _reclaim.unregister(exe);
      // after the segments already issued (held back behind a deferred task, they still run)
      env.rt.enqueue(() => _destroyArena(arena));
    },
  });
  return exe;
}
