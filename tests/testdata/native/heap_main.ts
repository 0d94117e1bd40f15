/**
 * Child process of `tests/native_test.ts`'s heap test: jitted results of 40 MiB (over glibc's
 * largest `mmap` threshold), each dropped and collected before the next, and the minor page
 * faults of the last calls; prints `{ keep, faultsPerCall, pages }` as JSON. Run with
 * `--v8-flags=--expose-gc`.
 *
 * @module
 */
import process from "node:process";
import { init, jit, nn, np, type Tensor } from "../../../mod.ts";
import { keepFreedMemory } from "../../../native/heap.ts";

await init({ backend: "native" });
const n = 10 * 1024 * 1024;
const x = np.ones([n]).mul(0.5), b = np.ones([n]);
const f = jit((x: Tensor, b: Tensor) => nn.relu(x.add(b)));
const gc = (globalThis as { gc?: () => void }).gc!;
const faults = () => process.resourceUsage().minorPageFault;
let total = 0;
const calls = 6;
for (let r = 0; r < 3 + calls; r++) {
  const t = faults();
  let y: Tensor | null = f(x, b);
  if ((await y.data())[0] !== 1.5) throw new Error("wrong result");
  y = null;
  gc();
  await new Promise((res) => setTimeout(res, 20));
  if (r >= 3) total += faults() - t;
}
console.log(JSON.stringify({ keep: keepFreedMemory(), faultsPerCall: total / calls, pages: n * 4 / 4096 }));
