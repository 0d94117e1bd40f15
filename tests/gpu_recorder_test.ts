/**
 * The submit interval of a compiled program's first call (`gpu/jit/recorder.ts`): it grows by
 * the time a submit waited for the queue and halves back towards `chunkMs` after a submit that
 * did not wait. A fake runtime and clock: no device, no timing.
 */
import { assertEquals } from "@std/assert";
import { LONG_SOURCE_CHARS, Recorder, recorderSettings } from "../gpu/jit/recorder.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";

/** A runtime whose submits take `wait()` ms of the fake clock, and the clock. */
function fake(wait: () => number) {
  const clock = { t: 0 };
  let submits = 0;
  const encoder = {
    beginComputePass: () => ({ end() {} }),
    finish: () => ({}),
  };
  const rt = {
    ctx: { device: { createCommandEncoder: () => encoder } },
    profiler: null,
    beginPass: () => null,
    submitEncoder: () => {
      submits++;
      clock.t += wait();
    },
  } as unknown as GpuRuntime;
  return { rt, clock, submits: () => submits };
}

Deno.test("a first call's submit interval grows while submits wait and shrinks after", () => {
  const old = recorderSettings.chunkMs;
  recorderSettings.chunkMs = 15;
  try {
    let wait = 40;
    const f = fake(() => wait);
    const rec = new Recorder(f.rt, () => {}, () => f.clock.t);
    const record = (ms: number) => {
      rec.pass("k"); // a dispatch recorded
      f.clock.t += ms; // then a new pipeline is due
      rec.newPipeline(100);
    };
    record(10);
    assertEquals(f.submits(), 0, "10 ms < 15 ms: no submit yet");
    record(10);
    assertEquals(f.submits(), 1);
    assertEquals(rec.interval, 55, "the submit waited 40 ms: 15 + 40");
    wait = 0;
    record(30);
    assertEquals(f.submits(), 1, "30 ms < 55 ms");
    record(30);
    assertEquals(f.submits(), 2);
    assertEquals(rec.interval, 27.5, "no wait: halved");
    record(20);
    record(10);
    assertEquals(f.submits(), 3);
    assertEquals(rec.interval, 15, "never below chunkMs");
    rec.pass("k");
    f.clock.t += 1;
    rec.newPipeline(LONG_SOURCE_CHARS);
    assertEquals(f.submits(), 4, "a long source: submitted before it whatever the interval");
    rec.pass("k");
    rec.submit();
    assertEquals(f.submits(), 5, "the call's last submit");
    rec.submit();
    assertEquals(f.submits(), 5, "nothing recorded: nothing submitted");
    rec.newPipeline(LONG_SOURCE_CHARS);
    assertEquals(f.submits(), 5, "nothing recorded: nothing submitted");
  } finally {
    recorderSettings.chunkMs = old;
  }
});

Deno.test("with chunkMs 0 every new pipeline submits until a submit waits", () => {
  const old = recorderSettings.chunkMs;
  recorderSettings.chunkMs = 0;
  try {
    const f = fake(() => 0);
    const rec = new Recorder(f.rt, () => {}, () => f.clock.t);
    for (let k = 0; k < 3; k++) {
      rec.pass("k");
      rec.newPipeline(100);
    }
    assertEquals(f.submits(), 3);
    assertEquals(rec.interval, 0);
  } finally {
    recorderSettings.chunkMs = old;
  }
});
