// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * The leak check (DESIGN.md §5): after a jitted training loop on webgpu, once the program's
 * results are dropped and collected, the storage pool's live count is back at its baseline.
 *
 * Collection needs `gc()`: the test task runs with `--v8-flags=--expose-gc`. Without it the
 * GC-driven check is skipped and only the explicit-dispose check runs.
 */
import { assert, assertEquals } from "@std/assert";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { jit, np, random, type Tensor, tree, valueAndGrad } from "../mod.ts";
import { sequential } from "../layers/combinators.ts";
import { linear } from "../layers/linear.ts";
import { crossEntropy } from "../layers/losses.ts";
import { applyUpdates, sgd } from "../optim/mod.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import { gpu, HAS_GPU } from "./gpu_helpers_test.ts";

const gc = (globalThis as { gc?: () => void }).gc;

/** Runs `f` with `b` as the current backend. */
async function on<T>(b: Backend, f: () => Promise<T>): Promise<T> {
  const prev = currentBackend();
  setBackend(b);
  try {
    return await f();
  } finally {
    setBackend(prev);
  }
}

/** Collects garbage until the pool's live count stops changing (finalizers run later). */
async function settle(g: WebGpuBackend): Promise<number> {
  await g.sync!();
  let live = -1;
  for (let i = 0; i < 20 && live !== g.runtime.stats.storage.live; i++) {
    live = g.runtime.stats.storage.live;
    gc!();
    await new Promise((r) => setTimeout(r, 5));
  }
  return g.runtime.stats.storage.live;
}

const net = sequential([
  linear({ inFeatures: 8, outFeatures: 32 }),
  (x: Tensor) => np.maximum(x, 0),
  linear({ inFeatures: 32, outFeatures: 3 }),
]);
const opt = sgd({ lr: 0.1 });
const loss = (p: any, x: Tensor, y: Tensor) => crossEntropy(net.apply(p, x), y);
const step = jit((p: any, s: any, x: Tensor, y: Tensor) => {
  const [l, g] = valueAndGrad(loss)(p, x, y);
  const [u, s2] = opt.update(g, s, p);
  return [applyUpdates(p, u), s2, l];
});

const leaves = (...xs: unknown[]): Tensor[] => xs.flatMap((x) => tree.leaves(x) as Tensor[]);

/** A batch and initial parameters and optimizer state. */
function setup(): { x: Tensor; y: Tensor; params: any; state: any } {
  const params = net.init(random.key(0));
  return {
    x: random.normal(random.key(1), [16, 8]),
    y: random.randint(random.key(2), [16], 0, 3),
    params,
    state: opt.init(params),
  };
}

/** 20 SGD steps of a small MLP, disposing each step's inputs if asked; returns the last loss. */
async function train(
  { x, y, params, state }: ReturnType<typeof setup>,
  dispose: boolean,
): Promise<number> {
  let l: Tensor | null = null;
  for (let i = 0; i < 20; i++) {
    const [p2, s2, li] = step(params, state, x, y) as [any, any, Tensor];
    if (dispose) { for (const t of leaves(params, state, l)) t[Symbol.dispose](); }
    [params, state, l] = [p2, s2, li];
  }
  const last = await l!.item() as number;
  if (dispose) { for (const t of leaves(params, state, l, x, y)) t[Symbol.dispose](); }
  return last;
}

Deno.test({
  name:
    "the webgpu pool's live count returns to its baseline after a collected jitted training loop",
  ignore: !HAS_GPU || !gc,
  fn: async () => {
    const g = await gpu();
    await on(g, async () => {
      await train(setup(), false); // compiles, and fills the caches (kept for the process)
      const base = await settle(g);
      const last = await train(setup(), false);
      assert(Number.isFinite(last), `loss ${last}`);
      assertEquals(await settle(g), base);
    });
  },
});

Deno.test({
  name: "disposing a jitted training loop's tensors returns every buffer it used to the pool",
  ignore: !HAS_GPU,
  fn: async () => {
    const g = await gpu();
    await on(g, async () => {
      await train(setup(), true);
      const s = setup();
      await g.sync!();
      const base = g.runtime.stats.storage.live;
      await train(s, true); // disposes s too
      await g.sync!();
      // Without gc() the collector may free older garbage meanwhile, never add any.
      const after = g.runtime.stats.storage.live;
      const n = leaves(s.params, s.state, s.x, s.y).length;
      assert(after <= base - n, `live went from ${base} to ${after} (${n} inputs disposed)`);
    });
  },
});
