/**
 * A worker of the native backend's pool (`pool.ts`): it instantiates the kernels it is sent
 * over the shared memory, and on each task takes chunks of the index range (a compare-exchange
 * on the task's generation and next chunk) until none is left. A failure sets the error word;
 * the main thread then computes everything itself. Not part of the public API.
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import { CTL } from "./pool.ts";

type Kernel = (base: number, n: number, stride: number, ...scalars: number[]) => void;

/** A message from the main thread. */
type Msg =
  | { kind: "memory"; mem: WebAssembly.Memory }
  | { kind: "kernel"; id: number; bytes: Uint8Array<ArrayBuffer> }
  | {
    kind: "task";
    id: number;
    gen: number;
    chunks: number;
    chunk: number;
    n: number;
    base: number;
    stride: number;
    scalars: number[];
  };

let mem: WebAssembly.Memory | null = null;
let ctl: Int32Array | null = null;
const kernels = new Map<number, Kernel>();

parentPort!.on("message", (m: Msg) => {
  try {
    if (m.kind === "memory") {
      mem = m.mem;
      ctl = new Int32Array(mem.buffer, 0, CTL.words);
    } else if (m.kind === "kernel") {
      const inst = new WebAssembly.Instance(new WebAssembly.Module(m.bytes), { m: { mem: mem! } });
      kernels.set(m.id, inst.exports.k as Kernel);
    } else {
      const c = ctl!, k = kernels.get(m.id)!;
      for (;;) {
        const w = Atomics.load(c, CTL.next);
        if (w >>> 16 !== (m.gen & 0xffff)) return;
        const q = w & 0xffff;
        if (q >= m.chunks) return;
        if (Atomics.compareExchange(c, CTL.next, w, w + 1) !== w) continue;
        const s = q * m.chunk, e = Math.min(m.n, s + m.chunk);
        k(m.base + 4 * s, e - s, m.stride, ...m.scalars);
        Atomics.add(c, CTL.done, 1);
        Atomics.notify(c, CTL.done);
      }
    }
  } catch {
    if (ctl) {
      Atomics.store(ctl, CTL.error, 1);
      Atomics.notify(ctl, CTL.done);
    }
  }
});
