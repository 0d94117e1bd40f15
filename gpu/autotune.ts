/**
 * Autotuning of the GEMM-shaped kernels (`dot_general`, `conv_general_dilated`): the first
 * time a problem is seen, a few tile variants (`GEMM_VARIANTS` of `kernels/gemm.ts`) are timed
 * on the device and the fastest is used from then on.
 *
 * - **Key**: adapter description, op, dtype, GEMM path, the operand shapes with every dim
 *   rounded up to a power of two, and the params that change the loop structure (dimension
 *   numbers; conv strides, dilations and groups, not padding). Problems in one bucket share
 *   a choice.
 * - **When**: eager ops must return at once, so tuning runs in the background: the call that
 *   first meets a key runs the default tiles and starts a tuning job; later calls use the
 *   winner once it is known. {@link Autotuner.settled} waits for the jobs (benchmarks warm up
 *   with it). Jobs run one at a time on scratch buffers of their own, so they never touch
 *   user data; tile variants sum over K in the same order, so results do not change.
 * - **Timing**: with `timestamp-query`, each dispatch of each variant is time-stamped on the
 *   GPU (the best of a few repetitions); without it, wall-clock time to `onSubmittedWorkDone`.
 *   A variant must beat the default by 5% to be chosen.
 * - **Cache**: choices live in memory and, where the process may write there, in a JSON file
 *   (`$XDG_CACHE_HOME/denax/autotune.json`, else `$HOME/.cache/denax/autotune.json`), read
 *   when the backend is created. The file maps keys to `{ variant, ms }` under `entries`,
 *   beside the format `version` and the `source` stamps of the kernel code that timed them
 *   (`sourceFingerprint`): a file from other kernel code is ignored and rewritten.
 * - **Off**: `DENAX_AUTOTUNE=0`, or `createWebGpuBackend({ autotune: false })`; the test task
 *   runs with it off so that tests time nothing and write nothing.
 *
 * @module
 */
import type { AvalLike } from "../core/backend.ts";
import { debugLevel, readTextFileOrNull, writeTextFileIfAllowed } from "./device.ts";
import type { BufRef, Plan, TexRef } from "./kernels/common.ts";
import { sourceFingerprint } from "./jit/disk_cache.ts";
import type { GpuRuntime } from "./runtime.ts";

/** Options of the autotuner. */
export interface AutotuneOptions {
  /** The JSON cache file; null keeps choices in memory only. */
  readonly cacheFile?: string | null;
  /** Timed repetitions per variant (default 3; the best counts). */
  readonly reps?: number;
}

/** One tuned key: the chosen variant and the time of every variant tried. */
export interface TuneEntry {
  /** The variant chosen. */
  readonly variant: string;
  /** Milliseconds per variant (the best repetition). */
  readonly ms: Readonly<Record<string, number>>;
}

/** A candidate for a tuning job: a variant's name and its plan for the problem. */
export interface TuneCandidate {
  /** The variant's name. */
  readonly name: string;
  /** Its plan (inputs and outputs as the op's). */
  readonly plan: Plan;
}

const _pow2 = (n: number) => (n <= 1 ? n : 2 ** Math.ceil(Math.log2(n)));
/** The format version of the autotuning cache file (bumped when its layout changes). */
export const AUTOTUNE_CACHE_VERSION = 2;
/** Whether a parsed cache file was written by this kernel code (version and source stamps). */
// deno-lint-ignore no-explicit-any -- parsed JSON
const _current = (j: any): boolean =>
  j?.version === AUTOTUNE_CACHE_VERSION && (j.source ?? "") === sourceFingerprint();
// STORAGE | COPY_SRC | COPY_DST; texture COPY_DST | TEXTURE_BINDING | STORAGE_BINDING
const _SCRATCH_USAGE = 0x80 | 0x4 | 0x8;
const _TEX_USAGE = 0x02 | 0x04 | 0x08;

/** Times GEMM variants on first use and remembers the fastest (see the module doc). */
export class Autotuner {
  #rt: GpuRuntime;
  #file: string | null;
  #reps: number;
  #entries = new Map<string, TuneEntry>();
  #started = new Set<string>();
  #chain: Promise<void> = Promise.resolve();
  #saving: Promise<unknown> = Promise.resolve();
  #jobs = 0;

  /**
   * Makes a tuner for a runtime, loading the cache file if there is one.
   *
   * @param rt The runtime whose device is tuned.
   * @param opts The cache file and repetitions.
   */
  constructor(rt: GpuRuntime, opts: AutotuneOptions = {}) {
    this.#rt = rt;
    this.#file = opts.cacheFile ?? null;
    this.#reps = opts.reps ?? 3;
    if (this.#file) this.#load(this.#file);
  }

  /** The choices known (loaded or tuned), by key. */
  get entries(): ReadonlyMap<string, TuneEntry> {
    return this.#entries;
  }

  /**
   * The key of a GEMM-shaped op application.
   *
   * @param op `dot_general` or `conv_general_dilated`.
   * @param ins The operand avals.
   * @param params The op's params.
   * @param path The GEMM path ("texture" or "shared").
   * @returns The key.
   */
  key(
    op: string,
    ins: readonly AvalLike[],
    params: Readonly<Record<string, unknown>>,
    path: string,
  ): string {
    const p = params as Record<string, unknown>;
    const sig = op === "conv_general_dilated"
      ? [p.windowStrides, p.lhsDilation, p.rhsDilation, p.featureGroupCount, p.batchGroupCount]
      : [p.contracting, p.batch];
    const shapes = ins.map((a) => a.shape.map(_pow2).join("x")).join(",");
    return `${this.#rt.ctx.description}|${op}|${ins[0].dtype}|${path}|${shapes}|${
      JSON.stringify(sig)
    }`;
  }

  /**
   * The variant to use for `key`: the tuned one, or undefined (the default) while unknown, in
   * which case the first call starts a background job that times `candidates()`.
   *
   * @param key From {@link key}.
   * @param candidates The variants' plans for this problem, the default first.
   * @param io Byte sizes of the op's inputs and outputs (for scratch buffers).
   * @returns The variant's name, or undefined.
   */
  choose(
    key: string,
    candidates: () => TuneCandidate[],
    io: { readonly inBytes: readonly number[]; readonly outBytes: readonly number[] },
  ): string | undefined {
    const hit = this.#entries.get(key);
    if (hit) return hit.variant;
    if (this.#started.has(key)) return undefined;
    this.#started.add(key);
    // Distinct plans only: for small problems several variants clip to the same tiles.
    const seen = new Set<string>();
    const cands = candidates().filter((c) => {
      const sig = c.plan.steps.map((s) => (s.kind === "dispatch" ? s.kernel.wgsl : s.kind))
        .join("\0");
      if (seen.has(sig)) return false;
      seen.add(sig);
      return true;
    });
    if (cands.length < 2) {
      this.#entries.set(key, { variant: cands[0]?.name ?? "default", ms: {} });
      return this.#entries.get(key)!.variant;
    }
    this.#jobs++;
    this.#chain = this.#chain.then(() => this.#tune(key, cands, io)).catch(() => {
      /* a failed job leaves the default in place */
    }).finally(() => this.#jobs--);
    return undefined;
  }

  /** Waits for every started tuning job and the cache file write that follows it. */
  async settled(): Promise<void> {
    while (this.#jobs > 0) await this.#chain;
    await this.#saving;
  }

  async #tune(
    key: string,
    cands: readonly TuneCandidate[],
    io: { readonly inBytes: readonly number[]; readonly outBytes: readonly number[] },
  ): Promise<void> {
    // Variants that do not compile (a limit of this device) drop out.
    const ok: TuneCandidate[] = [];
    for (const c of cands) {
      try {
        for (const s of c.plan.steps) {
          if (s.kind === "dispatch") {
            await this.#rt.checkCompile(s.kernel.wgsl, `autotune ${c.name}`);
          }
        }
        ok.push(c);
      } catch { /* skipped */ }
    }
    if (!ok.length) return;
    const times = await timePlans(this.#rt, ok.map((c) => c.plan), io, this.#reps);
    const ms: Record<string, number> = {};
    ok.forEach((c, i) => (ms[c.name] = Math.round(times[i] * 1e4) / 1e4));
    let best = 0;
    times.forEach((t, i) => (t < times[best] ? (best = i) : 0));
    // the default (first) keeps its place unless another variant is clearly faster
    if (times[best] > 0.95 * times[0]) best = 0;
    this.#entries.set(key, { variant: ok[best].name, ms });
    if (debugLevel() >= 1) {
      console.error(`[denax:gpu] autotune ${key} → ${ok[best].name} ${JSON.stringify(ms)}`);
    }
    if (this.#file) this.#save(this.#file);
  }

  #load(file: string): void {
    const text = readTextFileOrNull(file);
    if (!text) return;
    try {
      const j = JSON.parse(text);
      // choices timed on other kernel code (another version or edited sources) are stale
      if (!_current(j) || typeof j.entries !== "object") return;
      for (const [k, v] of Object.entries(j.entries as Record<string, TuneEntry>)) {
        if (typeof v?.variant === "string") this.#entries.set(k, { variant: v.variant, ms: v.ms });
      }
    } catch { /* a corrupt cache is ignored and rewritten */ }
  }

  #save(file: string): void {
    this.#saving = this.#saving.then(async () => {
      // merge with what other processes wrote meanwhile; ours wins on conflicts
      const mine = Object.fromEntries(this.#entries);
      let theirs: Record<string, TuneEntry> = {};
      try {
        const j = JSON.parse(readTextFileOrNull(file) ?? "null");
        if (_current(j)) theirs = j.entries;
      } catch { /* rewritten below */ }
      const entries = { ...theirs, ...mine };
      const text = JSON.stringify({
        version: AUTOTUNE_CACHE_VERSION,
        source: sourceFingerprint(),
        entries,
      });
      await writeTextFileIfAllowed(file, text);
    });
  }
}

/**
 * Times plans on scratch buffers: milliseconds per plan, the best of `reps` repetitions.
 * With `timestamp-query` each dispatch is time-stamped and the dispatch times are summed
 * (packing copies are not timed); without it, wall-clock time to `onSubmittedWorkDone`.
 *
 * @param rt The runtime (device and pipeline cache).
 * @param plans The plans; their inputs and outputs have the byte sizes of `io`.
 * @param io Byte sizes of the inputs and outputs.
 * @param reps Repetitions.
 * @returns Milliseconds per plan.
 */
export async function timePlans(
  rt: GpuRuntime,
  plans: readonly Plan[],
  io: { readonly inBytes: readonly number[]; readonly outBytes: readonly number[] },
  reps: number,
): Promise<number[]> {
  const device = rt.ctx.device;
  const made: { destroy(): void }[] = [];
  const buf = (bytes: number) => {
    const b = device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 4) * 4),
      usage: _SCRATCH_USAGE,
    });
    made.push(b);
    return b;
  };
  // every variant's pipelines, created asynchronously (the recording below finds them cached)
  const sources = new Set(
    plans.flatMap((p) => p.steps.flatMap((s) => (s.kind === "dispatch" ? [s.kernel.wgsl] : []))),
  );
  await Promise.all([...sources].map((w) => rt.pipelineAsync(w, "autotune")));
  const ins = io.inBytes.map(buf), outs = io.outBytes.map(buf);
  const bound = plans.map((plan) => {
    const temps = plan.temps.map(buf);
    const texs = (plan.textures ?? []).map((t) => {
      const tex = device.createTexture({
        size: [t.width, t.height, t.layers],
        format: t.format,
        usage: _TEX_USAGE,
      });
      made.push(tex);
      return tex;
    });
    const pick = (r: BufRef) =>
      r.kind === "in" ? ins[r.index] : r.kind === "out" ? outs[r.index] : temps[r.index];
    const pickAny = (r: BufRef | TexRef) => (r.kind === "tex" ? texs[r.index] : pick(r));
    return { plan, pick, pickAny, texs };
  });
  const record = (
    enc: GPUCommandEncoder,
    i: number,
    pass: (enc: GPUCommandEncoder) => GPUComputePassDescriptor,
  ) => {
    const { plan, pick, pickAny, texs } = bound[i];
    for (const s of plan.steps) {
      if (s.kind === "dispatch") {
        const pipe = rt.pipeline(s.kernel.wgsl, "autotune");
        const bg = device.createBindGroup({
          layout: pipe.getBindGroupLayout(0),
          entries: s.kernel.bindings.map((r, binding) => {
            const x = pickAny(r);
            return {
              binding,
              resource: x instanceof GPUBuffer ? { buffer: x } : x.createView({
                dimension: "2d-array",
              }),
            };
          }),
        });
        const p = enc.beginComputePass(pass(enc));
        p.setPipeline(pipe);
        p.setBindGroup(0, bg);
        p.dispatchWorkgroups(...(s.kernel.dispatch as [number, number, number]));
        p.end();
      } else if (s.kind === "copy") enc.copyBufferToBuffer(pick(s.src), 0, pick(s.dst), 0, s.bytes);
      else {
        const t = plan.textures![s.dst.index];
        enc.copyBufferToTexture(
          { buffer: pick(s.src), offset: 0, bytesPerRow: s.bytesPerRow, rowsPerImage: t.height },
          { texture: texs[s.dst.index] },
          [t.width, t.height, t.layers],
        );
      }
    }
  };
  try {
    return rt.ctx.timestampQuery
      ? await _timeStamped(device, plans, record, reps, made)
      : await _wallClock(device, plans, record, reps);
  } finally {
    for (const m of made) m.destroy();
  }
}

async function _raise(scope: Promise<GPUError | null>): Promise<void> {
  const e = await scope;
  if (e) throw new Error(`autotune: ${e.message}`);
}

type _Record = (
  enc: GPUCommandEncoder,
  i: number,
  pass: (enc: GPUCommandEncoder) => GPUComputePassDescriptor,
) => void;

async function _timeStamped(
  device: GPUDevice,
  plans: readonly Plan[],
  record: _Record,
  reps: number,
  made: { destroy(): void }[],
): Promise<number[]> {
  const per = plans.map((p) => p.steps.filter((s) => s.kind === "dispatch").length);
  const n = 2 * per.reduce((a, b) => a + b, 0);
  const qs = device.createQuerySet({ type: "timestamp", count: n });
  const resolve = device.createBuffer({ size: n * 8, usage: 0x200 | 0x4 });
  const read = device.createBuffer({ size: n * 8, usage: 0x1 | 0x8 });
  made.push(qs, resolve, read);
  const best = plans.map(() => Infinity);
  for (let r = 0; r <= reps; r++) {
    // the scope is pushed and popped synchronously, so it sees no one else's errors
    device.pushErrorScope("validation");
    const enc = device.createCommandEncoder();
    let q = 0;
    plans.forEach((_, i) =>
      record(enc, i, () => ({
        timestampWrites: {
          querySet: qs,
          beginningOfPassWriteIndex: q++,
          endOfPassWriteIndex: q++,
        },
      }))
    );
    enc.resolveQuerySet(qs, 0, n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, n * 8);
    device.queue.submit([enc.finish()]);
    const err = device.popErrorScope();
    await read.mapAsync(0x1);
    await _raise(err);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    if (r === 0) continue; // the first round warms caches up
    let k = 0;
    per.forEach((d, i) => {
      let ns = 0;
      for (let j = 0; j < d; j++, k += 2) ns += t[k + 1] > t[k] ? Number(t[k + 1] - t[k]) : 0;
      best[i] = Math.min(best[i], ns / 1e6);
    });
  }
  return best;
}

async function _wallClock(
  device: GPUDevice,
  plans: readonly Plan[],
  record: _Record,
  reps: number,
): Promise<number[]> {
  const best = plans.map(() => Infinity);
  for (let r = 0; r <= reps; r++) {
    for (let i = 0; i < plans.length; i++) {
      device.pushErrorScope("validation");
      const enc = device.createCommandEncoder();
      record(enc, i, () => ({}));
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      const err = device.popErrorScope();
      await device.queue.onSubmittedWorkDone();
      await _raise(err);
      if (r > 0) best[i] = Math.min(best[i], performance.now() - t0);
    }
  }
  return best;
}
