// Tiered compiling (gpu/jit/tier.ts): a new program with convolutions starts with every
// convolution in the small form, switches to the program as it would otherwise be once that
// one's kernels are compiled, and computes the same bits on both tiers (and what the cpu does).
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals, assertStrictEquals } from "@std/assert";
import { uniform, withEnv } from "./helpers.ts";
import { checkpoint, grad, jit, lax, makeJaxpr, nn, np, type Tensor } from "../mod.ts";
import { currentBackend } from "../core/backend.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import { lastCompiled, type Program } from "../gpu/jit/mod.ts";
import {
  hasConvolution,
  setTiered,
  setTierTwoCalls,
  TIER_TWO_CALLS,
  tieringEnabled,
  tierStats,
  tierTwoCalls,
} from "../gpu/jit/tier.ts";
import { precompileIdle, precompileStats, setPrecompile } from "../gpu/precompile.ts";
import { setSmallConvMacs } from "../gpu/kernels/conv_small.ts";

const gpu = BACKEND === "webgpu";
const ctx = () => (currentBackend() as WebGpuBackend).runtime.ctx;

/** A small conv net's loss (strided and padded convolutions, pooling, dense, cross-entropy). */
function loss(p: Record<string, Tensor>, x: Tensor, y: Tensor): Tensor {
  let h = lax.conv(x, p.k1, [1, 1], "SAME").add(p.b1.reshape([1, -1, 1, 1]));
  h = lax.maxPool(nn.relu(h), { kernelSize: 2 });
  h = nn.relu(lax.conv(h, p.k2, [2, 2], [[1, 1], [1, 1]]));
  const logits = h.mean({ axis: [2, 3] }).matmul(p.w).add(p.b);
  return y.mul(nn.logSoftmax(logits)).sum({ axis: -1 }).mean().neg();
}

const SHAPES: Record<string, number[]> = {
  k1: [8, 3, 3, 3],
  b1: [8],
  k2: [12, 8, 3, 3],
  w: [12, 5],
  b: [5],
};

function inputs(width: number) {
  const p = Object.fromEntries(
    Object.entries(SHAPES).map(([k, s], i) => [k, uniform(20 + i, s).mul(0.5)]),
  );
  const x = uniform(7, [4, 3, 12, width]);
  return { p, x, y: np.eye(4, 5) };
}

/** One SGD step's loss and new parameters. */
function sgd(p: Record<string, Tensor>, x: Tensor, y: Tensor): Tensor[] {
  const g = grad(loss)(p, x, y);
  return [loss(p, x, y), ...Object.keys(SHAPES).map((k) => p[k].sub(g[k].mul(0.1)))];
}

const read = (ts: Tensor[]) => Promise.all(ts.map((t) => t.data()));

/** Until the compile helper is idle and a turn has passed (tier two's batch is sent in one). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await precompileIdle();
    await ctx().device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs a fresh jitted step on the same inputs (width `width`: a program no other test compiles)
 * once, or with `untilSwitch` until a call runs another program than the first and once more
 * (settling after each call from the second; at most 40 calls), and returns each call's outputs
 * and program.
 */
async function run(width: number, untilSwitch: boolean) {
  const step = jit((p: Record<string, Tensor>, x: Tensor, y: Tensor) => sgd(p, x, y));
  const { p, x, y } = inputs(width);
  const outs: Float32Array[][] = [];
  const programs: unknown[] = [];
  for (let i = 0, switched = -1; i < 40; i++) {
    outs.push((await read(step(p, x, y))) as Float32Array[]);
    programs.push(lastCompiled()!.program);
    if (!untilSwitch || (switched >= 0 && i === switched + 1)) break;
    if (switched < 0 && programs[i] !== programs[0]) switched = i;
    await settle();
  }
  return { outs, programs };
}

Deno.test({
  name: "tier: DENAX_TIERED and setTiered decide over the compile helper",
  ignore: !gpu,
  fn() {
    withEnv({ DENAX_TIERED: "0" }, () => assert(!tieringEnabled(ctx())));
    withEnv({ DENAX_TIERED: "1" }, () => {
      assert(tieringEnabled(ctx()));
      setTiered(false);
      try {
        assert(!tieringEnabled(ctx()));
      } finally {
        setTiered(null);
      }
    });
  },
});

for (const worker of [true, false]) {
  Deno.test({
    name: `tier: a conv step switches to tier two, same bits on both tiers (${
      worker ? "with" : "without"
    } the compile helper)`,
    ignore: !gpu,
    async fn() {
      await precompileIdle();
      setPrecompile(worker);
      setSmallConvMacs(1); // tier two: every convolution in the large form
      setTierTwoCalls(2); // tier two starts once the second call's work is done
      const before = { ...tierStats };
      const sent = precompileStats.kernels;
      try {
        setTiered(true);
        const width = worker ? 13 : 14;
        const tiered = await run(width, true);
        setTiered(false);
        const plain = await run(width, false);
        assertEquals(tierStats.tiered - before.tiered, 1);
        assertEquals(tierStats.switches - before.switches, 1);
        assertEquals(tierStats.failed, before.failed);
        // calls 1 and 2 on tier one, then tier one until the helper has compiled tier two's
        // kernels (a batch per call), then two calls on tier two
        const k = tiered.programs.length;
        assertStrictEquals(tiered.programs[0], tiered.programs[1]);
        assertStrictEquals(tiered.programs[0], tiered.programs[k - 3]);
        assert(tiered.programs[k - 3] !== tiered.programs[k - 2], "switched");
        assertStrictEquals(tiered.programs[k - 2], tiered.programs[k - 1]);
        const sources = (p: unknown) =>
          new Set((p as Program).ops.flatMap((o) => o.kind === "dispatch" ? [o.wgsl] : []));
        const one = sources(tiered.programs[0]), two = sources(tiered.programs[k - 1]);
        // (the real-GPU profile, DENAX_GPU_PROFILE=gpu, has no small form: the same kernels)
        if (ctx().profile.name === "cpu-adapter") {
          assert([...two].some((w) => !one.has(w)), "tier two has kernels of its own");
        }
        if (worker) assert(precompileStats.kernels > sent);
        for (let c = 1; c < k; c++) assertEquals(tiered.outs[c], tiered.outs[0], `call ${c + 1}`);
        assertEquals(plain.outs[0], tiered.outs[0]);
        const want = await withCpu(() => {
          const { p, x, y } = inputs(width);
          return read(sgd(p, x, y));
        });
        tiered.outs[0].forEach((g, i) => assertAllClose(g, want[i], { rtol: 1e-4, atol: 1e-5 }));
      } finally {
        setTiered(null);
        setSmallConvMacs(null);
        setTierTwoCalls(null);
        setPrecompile(null);
        await precompileIdle();
      }
    },
  });
}

Deno.test({
  name: "tier: a loop of calls that never awaits still switches to tier two",
  ignore: !gpu,
  async fn() {
    await precompileIdle();
    setPrecompile(false); // tier two then compiles on this thread, ready at once
    setSmallConvMacs(1);
    setTiered(true);
    setTierTwoCalls(3); // armed at the third call, started at the sixth without a turn
    const switches = tierStats.switches;
    try {
      const step = jit((p: Record<string, Tensor>, x: Tensor, y: Tensor) => sgd(p, x, y));
      const { p, x, y } = inputs(16);
      const outs: Tensor[][] = [];
      const programs: unknown[] = [];
      for (let i = 0; i < 7; i++) {
        outs.push(step(p, x, y));
        programs.push(lastCompiled()!.program);
      }
      assertEquals(tierStats.switches - switches, 1);
      assertStrictEquals(programs[0], programs[5]);
      assert(programs[5] !== programs[6], "the seventh call switched");
      const first = await read(outs[0]), last = await read(outs[6]);
      assertEquals(last, first);
    } finally {
      setTiered(null);
      setSmallConvMacs(null);
      setTierTwoCalls(null);
      setPrecompile(null);
    }
  },
});

Deno.test("tier: DENAX_TIER_TWO_CALLS and setTierTwoCalls set when tier two starts", () => {
  assertEquals(withEnv({ DENAX_TIER_TWO_CALLS: undefined }, tierTwoCalls), TIER_TWO_CALLS);
  assertEquals(withEnv({ DENAX_TIER_TWO_CALLS: "5" }, tierTwoCalls), 5);
  assertEquals(withEnv({ DENAX_TIER_TWO_CALLS: "0" }, tierTwoCalls), TIER_TWO_CALLS);
  setTierTwoCalls(1);
  try {
    assertEquals(withEnv({ DENAX_TIER_TWO_CALLS: "5" }, tierTwoCalls), 1);
  } finally {
    setTierTwoCalls(null);
  }
});

Deno.test({
  name: "tier: programs without convolutions, or with tiering off, compile tier two at once",
  ignore: !gpu,
  async fn() {
    setTiered(true);
    try {
      const before = tierStats.tiered;
      const f = jit((a: Tensor, b: Tensor) => np.tanh(a.matmul(b)).sum());
      await f(uniform(1, [3, 4]), uniform(2, [4, 2])).data();
      assertEquals(tierStats.tiered, before);
      setTiered(false);
      await run(15, false);
      assertEquals(tierStats.tiered, before);
    } finally {
      setTiered(null);
    }
  },
});

Deno.test("tier: hasConvolution finds convolutions also inside checkpointed functions", () => {
  const conv = (x: Tensor, k: Tensor) => lax.conv(x, k, [1, 1], "SAME").sum();
  const x = uniform(1, [1, 2, 5, 5]), k = uniform(2, [3, 2, 3, 3]);
  assert(hasConvolution(makeJaxpr(conv)(x, k).jaxpr));
  const inner = makeJaxpr(grad((a: Tensor) => checkpoint(conv)(a, k)))(x).jaxpr;
  assert(inner.eqns.every((e) => e.prim.name !== "conv_general_dilated"), "only nested ones");
  assert(hasConvolution(inner));
  assert(!hasConvolution(makeJaxpr((a: Tensor) => np.tanh(a).sum())(x).jaxpr));
});
