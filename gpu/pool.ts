/**
 * A size-bucketed pool of GPU buffers. Buffers are created in a few sizes (powers of two and
 * 1.5 times powers of two, at least 256 bytes), so that a released buffer can serve the next
 * request of a similar size instead of a fresh `createBuffer`. A `FinalizationRegistry` helper
 * returns the buffer of a collected owner object to the pool, so that Tensors need no
 * `.dispose()`.
 *
 * The pool does not know about in-flight work: the runtime releases a buffer only once no
 * unsubmitted command can still use it (see `runtime.ts`).
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

/** Counters of a pool, for leak tests and profiling. */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  readonly live: number;
  /** Buffers waiting in the pool. */
  readonly pooled: number;
  /** Bytes in the buffers waiting in the pool. */
  readonly pooledBytes: number;
  /** Buffers ever created. */
  readonly created: number;
}

/** A pool of buffers of one usage, bucketed by size. */
export class BufferPool {
  #device: GPUDevice;
  #usage: number;
  #free = new Map<number, GPUBuffer[]>();
  #owned = new WeakSet<GPUBuffer>();
  #live = 0;
  #pooled = 0;
  #pooledBytes = 0;
  #created = 0;
  #maxPooledBytes: number;

  /**
   * Makes a pool of buffers with the given usage flags.
   *
   * @param device The device that creates the buffers.
   * @param usage `GPUBufferUsage` flags of every buffer of the pool.
   * @param maxPooledBytes Buffers released beyond this many pooled bytes are destroyed.
   */
  constructor(device: GPUDevice, usage: number, maxPooledBytes = 1 << 30) {
    this.#device = device;
    this.#usage = usage;
    this.#maxPooledBytes = maxPooledBytes;
  }

  /**
   * Hands out a buffer of at least `bytes` bytes (its `size` is the bucket's).
   *
   * @param bytes The size needed; 0 gives a 256-byte buffer.
   * @returns A buffer, not zeroed when it comes from the pool.
   */
  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    const list = this.#free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.#pooled--;
      this.#pooledBytes -= size;
    } else {
      buf = this.#device.createBuffer({ size, usage: this.#usage });
      this.#owned.add(buf);
      this.#created++;
    }
    this.#live++;
    return buf;
  }

  /**
   * Takes a buffer back for reuse (or destroys it when the pool is full).
   *
   * @param buf A buffer this pool handed out.
   * @throws {Error} When the buffer does not belong to this pool.
   */
  release(buf: GPUBuffer): void {
    if (!this.#owned.has(buf)) throw new Error("internal: buffer released to the wrong pool");
    this.#live--;
    if (this.#pooledBytes + buf.size > this.#maxPooledBytes) {
      this.#owned.delete(buf);
      buf.destroy();
      return;
    }
    let list = this.#free.get(buf.size);
    if (!list) this.#free.set(buf.size, list = []);
    list.push(buf);
    this.#pooled++;
    this.#pooledBytes += buf.size;
  }

  /** Destroys every pooled buffer (live ones are untouched). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#owned.delete(b);
        b.destroy();
      }
    }
    this.#free.clear();
    this.#pooled = 0;
    this.#pooledBytes = 0;
  }

  /** The pool's counters. */
  get stats(): PoolStats {
    return {
      live: this.#live,
      pooled: this.#pooled,
      pooledBytes: this.#pooledBytes,
      created: this.#created,
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
