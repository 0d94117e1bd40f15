/**
 * Kernel profiling with timestamp queries (`DENAX_PROFILE=1`, on devices with the
 * `timestamp-query` feature: llvmpipe/lavapipe have it).
 *
 * While profiling, every dispatch gets its own compute pass whose `timestampWrites` record the
 * GPU clock at the pass's start and end (slower than one shared pass, but nothing else times
 * single kernels). Each command encoder has its own query set; when the encoder is submitted
 * its queries are resolved into a buffer and read back asynchronously, and the kernels' GPU
 * times, grouped by op, are printed as one block per submit — one per flush of the eager
 * encoder, one per call of a jitted program — and added to running totals, which
 * {@link KernelProfiler.report} formats (the runtime prints them at exit). `DENAX_PROFILE=2`
 * also lists every dispatch of a submit in order. Timestamps are in nanoseconds (checked
 * against wall-clock time on llvmpipe).
 *
 * Code that records its own encoders takes part through `GpuRuntime.beginPass` and
 * `GpuRuntime.submitEncoder`.
 *
 * @module
 */

/** Per-op totals of the timed kernels. */
export interface KernelTime {
  /** The op (the label the runtime dispatched under). */
  readonly op: string;
  /** Dispatches timed. */
  readonly count: number;
  /** Total GPU time in milliseconds. */
  readonly ms: number;
}

interface _Slot {
  readonly querySet: GPUQuerySet;
  readonly resolve: GPUBuffer;
  readonly readback: GPUBuffer;
}

// QUERY_RESOLVE 0x200 | COPY_SRC 0x4; MAP_READ 0x1 | COPY_DST 0x8
const _RESOLVE_USAGE = 0x200 | 0x4;
const _READ_USAGE = 0x1 | 0x8;

/** Times dispatches with timestamp queries, per command encoder (see the module doc). */
export class KernelProfiler {
  /** Dispatches one command encoder can time (two queries each; the rest go untimed). */
  readonly capacity: number;
  #device: GPUDevice;
  #free: _Slot[] = [];
  #open = new Map<GPUCommandEncoder, { slot: _Slot; ops: string[] }>();
  #totals = new Map<string, { count: number; ns: number }>();
  #untimed = 0;
  #submits = 0;
  #print: (line: string) => void;
  #inflight = new Set<Promise<void>>();
  #each: boolean;

  /**
   * Makes a profiler on a device that has `timestamp-query`.
   *
   * @param device The device.
   * @param opts `capacity`: timed dispatches per encoder (default 2048, the most a query set
   *   allows); `print`: where the per-submit blocks go (default `console.error`; `null` keeps
   *   only the totals); `each`: also list every dispatch in order.
   */
  constructor(
    device: GPUDevice,
    opts: { capacity?: number; print?: ((line: string) => void) | null; each?: boolean } = {},
  ) {
    this.#device = device;
    this.#each = opts.each ?? false;
    this.capacity = opts.capacity ?? 2048;
    this.#print = opts.print === undefined ? (l) => console.error(l) : opts.print ?? (() => {});
  }

  /**
   * Whether `encoder` has no room for another timed dispatch.
   *
   * @param encoder The command encoder.
   * @returns True when full.
   */
  full(encoder: GPUCommandEncoder): boolean {
    return (this.#open.get(encoder)?.ops.length ?? 0) >= this.capacity;
  }

  /**
   * The descriptor of a compute pass on `encoder` that times the one dispatch of `op` it will
   * hold (a plain pass once the encoder is {@link full}).
   *
   * @param encoder The command encoder the pass is begun on.
   * @param op The op's label.
   * @returns A pass descriptor with `timestampWrites`.
   */
  pass(encoder: GPUCommandEncoder, op: string): GPUComputePassDescriptor {
    let e = this.#open.get(encoder);
    if (!e) this.#open.set(encoder, e = { slot: this.#free.pop() ?? this.#makeSlot(), ops: [] });
    if (e.ops.length >= this.capacity) {
      this.#untimed++;
      return {};
    }
    const i = e.ops.length;
    e.ops.push(op);
    return {
      timestampWrites: {
        querySet: e.slot.querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    };
  }

  /**
   * Records the resolve of `encoder`'s queries at its end (call right before `finish`).
   *
   * @param encoder The encoder about to be submitted.
   * @returns A callback to call right after the submit, or null when nothing was timed.
   */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const e = this.#open.get(encoder);
    if (!e) return null;
    this.#open.delete(encoder);
    const { slot, ops } = e;
    const n = ops.length * 2;
    encoder.resolveQuerySet(slot.querySet, 0, n, slot.resolve, 0);
    encoder.copyBufferToBuffer(slot.resolve, 0, slot.readback, 0, n * 8);
    const id = ++this.#submits;
    return () => {
      const p: Promise<void> = slot.readback.mapAsync(0x1, 0, n * 8).then(() => {
        const t = new BigUint64Array(slot.readback.getMappedRange(0, n * 8).slice(0));
        slot.readback.unmap();
        this.#free.push(slot);
        this.#record(id, ops, t);
      }, () => {/* device lost: the runtime reports it */}).finally(() => this.#inflight.delete(p));
      this.#inflight.add(p);
    };
  }

  /** Dispatches that went untimed because their encoder was full. */
  get untimed(): number {
    return this.#untimed;
  }

  /** Waits until every submitted batch of timings has been read back. */
  async settled(): Promise<void> {
    while (this.#inflight.size) await Promise.all(this.#inflight);
  }

  /** The totals per op since the start (or the last {@link reset}), slowest first. */
  totals(): KernelTime[] {
    return [...this.#totals].map(([op, v]) => ({ op, count: v.count, ms: v.ns / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }

  /** Forgets the totals. */
  reset(): void {
    this.#totals.clear();
  }

  /**
   * The totals as a table: op, dispatches, total and mean GPU milliseconds.
   *
   * @returns The table's text.
   */
  report(): string {
    return _table("[denax:profile] GPU time per op (all submits)", this.totals());
  }

  #makeSlot(): _Slot {
    const n = this.capacity * 2;
    return {
      querySet: this.#device.createQuerySet({ type: "timestamp", count: n }),
      resolve: this.#device.createBuffer({ size: n * 8, usage: _RESOLVE_USAGE }),
      readback: this.#device.createBuffer({ size: n * 8, usage: _READ_USAGE }),
    };
  }

  #record(id: number, ops: readonly string[], t: BigUint64Array): void {
    const per = new Map<string, { count: number; ns: number }>();
    ops.forEach((op, i) => {
      const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
      for (const m of [per, this.#totals]) {
        const e = m.get(op) ?? { count: 0, ns: 0 };
        e.count++;
        e.ns += ns;
        m.set(op, e);
      }
    });
    const rows = [...per].map(([op, v]) => ({ op, count: v.count, ms: v.ns / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
    this.#print(_table(`[denax:profile] submit #${id}: ${ops.length} kernels`, rows));
    if (this.#each) {
      const each = ops.map((op, i) => {
        const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
        return `  ${String(i).padStart(4)} ${(ns / 1e6).toFixed(3).padStart(9)} ms  ${op}`;
      });
      this.#print(`[denax:profile] submit #${id}, each dispatch:\n${each.join("\n")}`);
    }
  }
}

function _table(title: string, rows: readonly KernelTime[]): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const w = Math.max(4, ...rows.map((r) => r.op.length));
  const lines = rows.map((r) =>
    `  ${r.op.padEnd(w)} ${String(r.count).padStart(6)} × ${(r.ms / r.count).toFixed(3)} ms = ${
      r.ms.toFixed(3)
    } ms`
  );
  return `${title}, ${total.toFixed(3)} ms GPU\n${lines.join("\n")}`;
}
