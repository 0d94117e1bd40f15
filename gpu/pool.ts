/**
 * A size-bucketed pool of GPU buffers. Buffers are created in a few sizes (powers of two and
 * 1.5 times powers of two, at least 256 bytes), so that a released buffer can serve the next
 * request of a similar size instead of a fresh `createBuffer`. A `FinalizationRegistry` helper
 * returns the buffer of a collected owner object to the pool, so that Tensors need no
 * `.dispose()`.
 *
 * What the pool keeps is bounded: in bytes, in buffers per size bucket, and in time (buffers
 * that no request needed for a while are destroyed; see {@link PoolOptions}). The runtime trims
 * it further when its memory budget is exceeded (see `runtime.ts`).
 *
 * The pool does not know about in-flight work: the runtime releases a buffer only once no
 * unsubmitted command can still use it (see `runtime.ts`). Destroying a buffer that submitted
 * work still uses is safe: WebGPU frees it once that work is done.
 *
 * @module
 */

/** The smallest bucket, in bytes. */
export const MIN_BUCKET_BYTES: number = 256;

/**
 * The bucket a request of `bytes` is served from: the smallest of 2^k or 1.5 * 2^k (k >= 8)
 * that holds it, so at most a third of a buffer is wasted.
 *
 * @param bytes The requested size.
 * @returns The bucket size in bytes (a multiple of 4, at least 256).
 */
export function bucketBytes(bytes: number): number {
  if (bytes <= MIN_BUCKET_BYTES) return MIN_BUCKET_BYTES;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  const mid = (p / 4) * 3; // 1.5 * 2^(k-1)
  return mid >= bytes ? mid : p;
}

/** Counters of a pool, for leak tests, memory budgets and profiling. */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  readonly live: number;
  /** Bytes in the buffers handed out (bucket sizes). */
  readonly liveBytes: number;
  /** Buffers waiting in the pool. */
  readonly pooled: number;
  /** Bytes in the buffers waiting in the pool. */
  readonly pooledBytes: number;
  /** Buffers ever created. */
  readonly created: number;
  /** Buffers destroyed (released past a cap, idle, or trimmed). */
  readonly destroyed: number;
}

/** Limits of a {@link BufferPool}. */
export interface PoolOptions {
  /** Released buffers beyond this many pooled bytes are destroyed (default 1 GiB). */
  readonly maxPooledBytes?: number;
  /**
   * Pooled buffers per size bucket at most (default 256): a burst of releases (a garbage
   * collection returning thousands of dead arrays at once) keeps this many of a size.
   */
  readonly maxPerBucket?: number;
  /**
   * Every this many {@link BufferPool.tick}s (the runtime ticks once per submit), the buffers
   * of each bucket that stayed unused through the whole period are destroyed (default 256;
   * 0 keeps idle buffers).
   */
  readonly idleTicks?: number;
}

interface _Bucket {
  readonly free: GPUBuffer[];
  /** The fewest free buffers seen since the last idle sweep: those were never needed. */
  low: number;
}

/** A pool of buffers of one usage, bucketed by size. */
export class BufferPool {
  #device: GPUDevice;
  #usage: number;
  #free = new Map<number, _Bucket>();
  #owned = new WeakSet<GPUBuffer>();
  #live = 0;
  #liveBytes = 0;
  #pooled = 0;
  #pooledBytes = 0;
  #created = 0;
  #destroyed = 0;
  #ticks = 0;
  #maxPooledBytes: number;
  #maxPerBucket: number;
  #idleTicks: number;

  /**
   * Makes a pool of buffers with the given usage flags.
   *
   * @param device The device that creates the buffers.
   * @param usage `GPUBufferUsage` flags of every buffer of the pool.
   * @param opts Caps on pooled buffers (or, as a number, the most pooled bytes).
   */
  constructor(device: GPUDevice, usage: number, opts: PoolOptions | number = {}) {
    const o = typeof opts === "number" ? { maxPooledBytes: opts } : opts;
    this.#device = device;
    this.#usage = usage;
    this.#maxPooledBytes = o.maxPooledBytes ?? 1 << 30;
    this.#maxPerBucket = o.maxPerBucket ?? 256;
    this.#idleTicks = o.idleTicks ?? 256;
  }

  /** The most bytes kept in the pool; lowering it destroys pooled buffers over the cap. */
  get maxPooledBytes(): number {
    return this.#maxPooledBytes;
  }
  set maxPooledBytes(bytes: number) {
    this.#maxPooledBytes = bytes;
    if (this.#pooledBytes > bytes) this.trim(bytes);
  }

  /**
   * Hands out a buffer of at least `bytes` bytes (its `size` is the bucket's).
   *
   * @param bytes The size needed; 0 gives a 256-byte buffer.
   * @returns A buffer, not zeroed when it comes from the pool.
   */
  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    const bucket = this.#free.get(size);
    let buf = bucket?.free.pop();
    if (buf) {
      bucket!.low = Math.min(bucket!.low, bucket!.free.length);
      this.#pooled--;
      this.#pooledBytes -= size;
    } else {
      buf = this.#device.createBuffer({ size, usage: this.#usage });
      this.#owned.add(buf);
      this.#created++;
    }
    this.#live++;
    this.#liveBytes += size;
    return buf;
  }

  /**
   * Takes a buffer back for reuse (or destroys it when the pool, or its bucket, is full).
   *
   * @param buf A buffer this pool handed out.
   * @throws {Error} When the buffer does not belong to this pool.
   */
  release(buf: GPUBuffer): void {
    if (!this.#owned.has(buf)) throw new Error("internal: buffer released to the wrong pool");
    this.#live--;
    this.#liveBytes -= buf.size;
    let bucket = this.#free.get(buf.size);
    if (
      this.#pooledBytes + buf.size > this.#maxPooledBytes ||
      (bucket?.free.length ?? 0) >= this.#maxPerBucket
    ) {
      this.#destroy(buf);
      return;
    }
    if (!bucket) this.#free.set(buf.size, bucket = { free: [], low: 0 });
    bucket.free.push(buf);
    this.#pooled++;
    this.#pooledBytes += buf.size;
  }

  #destroy(buf: GPUBuffer): void {
    this.#owned.delete(buf);
    buf.destroy();
    this.#destroyed++;
  }

  /**
   * Counts one submit; every `idleTicks` of them, destroys the pooled buffers that no request
   * needed since the previous sweep (per bucket, the fewest free buffers seen meanwhile).
   */
  tick(): void {
    if (this.#idleTicks <= 0 || ++this.#ticks < this.#idleTicks) return;
    this.#ticks = 0;
    for (const [size, b] of this.#free) {
      for (let k = 0; k < b.low; k++) this.#destroy(b.free.shift()!);
      this.#pooled -= b.low;
      this.#pooledBytes -= b.low * size;
      if (!b.free.length) this.#free.delete(size);
      b.low = b.free.length;
    }
  }

  /**
   * Destroys pooled buffers (live ones are untouched), the largest buckets first, until at
   * most `keepBytes` bytes stay pooled.
   *
   * @param keepBytes Pooled bytes to keep (default 0: destroy every pooled buffer).
   */
  trim(keepBytes = 0): void {
    const sizes = [...this.#free.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const b = this.#free.get(size)!;
      while (b.free.length && this.#pooledBytes > keepBytes) {
        this.#destroy(b.free.pop()!);
        this.#pooled--;
        this.#pooledBytes -= size;
      }
      b.low = Math.min(b.low, b.free.length);
      if (!b.free.length) this.#free.delete(size);
    }
  }

  /** Buffers handed out and not yet released (as in {@link stats}, without a copy). */
  get liveCount(): number {
    return this.#live;
  }

  /** The pool's counters. */
  get stats(): PoolStats {
    return {
      live: this.#live,
      liveBytes: this.#liveBytes,
      pooled: this.#pooled,
      pooledBytes: this.#pooledBytes,
      created: this.#created,
      destroyed: this.#destroyed,
    };
  }
}

/**
 * Returns the buffer of a JS object to its pool when the object is garbage-collected, unless
 * it was released explicitly first.
 */
export class BufferOwnerRegistry {
  #registry: FinalizationRegistry<GPUBuffer>;

  /**
   * Makes the registry.
   *
   * @param onCollect Called with the buffer of a collected owner.
   */
  constructor(onCollect: (buf: GPUBuffer) => void) {
    this.#registry = new FinalizationRegistry(onCollect);
  }

  /**
   * Ties `buf` to `owner`: when `owner` is collected, `buf` goes to `onCollect`.
   *
   * @param owner The object that owns the buffer (it must not be reachable from `buf`).
   * @param buf The buffer.
   */
  register(owner: object, buf: GPUBuffer): void {
    this.#registry.register(owner, buf, owner);
  }

  /**
   * Unties the buffer of `owner` (after an explicit release).
   *
   * @param owner An object passed to {@link register}.
   */
  unregister(owner: object): void {
    this.#registry.unregister(owner);
  }
}
