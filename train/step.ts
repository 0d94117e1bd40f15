/**
 * The train step as one compiled program: loss, gradient, optimizer update and parameter
 * update, jitted together with the parameters, the optimizer state and (for stateful models)
 * the model state donated (the program may write the new values into their buffers).
 * Evaluation is in `evaluate.ts`.
 *
 * @module
 */
import { Tensor } from "../core/tensor.ts";
import { jit, type Jitted, valueAndGrad } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import type { Tree } from "../core/tree.ts";
import { applyUpdates, type GradientTransformation } from "../optim/mod.ts";

/**
 * What a loss returns: the loss, a scalar f32 Tensor, or `[loss, aux]` when the step is made
 * with `hasAux`. An array literal needs no `as const`: the step checks the form when it traces.
 */
export type LossOutput = Tensor | readonly unknown[];

/**
 * A loss: `(params, batch, key) → loss` (a scalar f32 Tensor), or `[loss, aux]` when the step
 * is made with `hasAux`. `key` is a fresh PRNG key per step, for dropout and other noise.
 *
 * @typeParam P the parameters' type
 * @typeParam B the batch's type
 */
export type LossFn<P = unknown, B = unknown> = (params: P, batch: B, key: Tensor) => LossOutput;

/**
 * What a stateful loss returns: `[loss, newState]` (an array literal needs no `as const`), or
 * `{ loss, state, aux }`. The step checks the form when it traces.
 */
export type StatefulLossOutput<M = unknown> =
  | readonly unknown[]
  | { readonly loss: Tensor; readonly state: M; readonly aux?: unknown };

/**
 * The loss of a stateful model (batch norm): `(params, state, batch, key) → [loss, newState]`,
 * or `→ { loss, state, aux }`. `newState` is what the model's `apply(params, x, { state,
 * train: true })` returned (the updated running statistics), with the input state's structure.
 *
 * @typeParam P the parameters' type
 * @typeParam M the model state's type
 * @typeParam B the batch's type
 */
export type StatefulLossFn<P = unknown, M = unknown, B = unknown> = (
  params: P,
  state: M,
  batch: B,
  key: Tensor,
) => StatefulLossOutput<M>;

/** What a train step returns. */
export interface StepResult<P = unknown, S = unknown, A = unknown> {
  /** The updated parameters. */
  readonly params: P;
  /** The updated optimizer state. */
  readonly optState: S;
  /** The loss at the parameters before the update, f32[]. */
  readonly loss: Tensor;
  /** The loss's auxiliary output (`hasAux`, or a stateful loss's `aux`), else null. */
  readonly aux: A;
}

/** What a stateful train step returns: {@link StepResult} plus the new model state. */
export interface StatefulStepResult<P = unknown, S = unknown, M = unknown, A = unknown>
  extends StepResult<P, S, A> {
  /** The model state after the step (running statistics updated by the forward pass). */
  readonly state: M;
}

/**
 * A jitted train step: `(params, optState, batch, key) → { params, optState, loss, aux }`.
 *
 * @typeParam P the parameters' type
 * @typeParam S the optimizer state's type
 * @typeParam B the batch's type
 * @typeParam A the aux output's type (null without `hasAux`)
 */
export type TrainStep<P = unknown, S = unknown, B = unknown, A = unknown> = Jitted<
  (params: P, optState: S, batch: B, key: Tensor) => StepResult<P, S, A>
>;

/**
 * A jitted stateful train step: `(params, optState, state, batch, key) → { params, optState,
 * state, loss, aux }`.
 *
 * @typeParam M the model state's type
 */
export type StatefulTrainStep<P = unknown, S = unknown, M = unknown, B = unknown, A = unknown> =
  Jitted<
    (params: P, optState: S, state: M, batch: B, key: Tensor) => StatefulStepResult<P, S, M, A>
  >;

/** Options of {@link makeTrainStep}. */
export interface TrainStepOptions {
  /** The loss returns `[loss, aux]`; `aux` (a pytree of Tensors) is returned by the step. */
  readonly hasAux?: boolean;
  /**
   * The loss is a {@link StatefulLossFn} `(params, state, batch, key) → [loss, newState]`
   * (or `{ loss, state, aux }`), and the step takes and returns the model state.
   */
  readonly stateful?: boolean;
  /**
   * The step's name, used in errors about its donated arguments (default `"trainStep"`, or
   * the loss function's name: `trainStep(myLoss)`).
   */
  readonly name?: string;
}

function stepName(loss: { readonly name: string }, opts: TrainStepOptions): string {
  return opts.name ?? (loss.name ? `trainStep(${loss.name})` : "trainStep");
}

/** Splits a stateful loss's result into loss, new state and aux (null when it has none). */
function splitStateful<M>(name: string, out: StatefulLossOutput<M>): [Tensor, M, unknown] {
  if (Array.isArray(out) && out.length === 2) return [out[0] as Tensor, out[1] as M, null];
  if (out !== null && typeof out === "object" && "loss" in out && "state" in out) {
    return [out.loss, out.state, out.aux ?? null];
  }
  throw new TypeError(
    `${name}: a stateful loss must return [loss, newState] or { loss, state, aux }, got ${
      out instanceof Tensor ? out.aval : Array.isArray(out) ? `an array of ${out.length}` : out
    }\nhelp: return the state the model's apply(params, x, { state, train: true }) gave back`,
  );
}

/** Throws when the new state's structure differs from the old one's; warns when unchanged. */
function checkNewState(name: string, old: unknown, next: unknown, warned: { done: boolean }) {
  const [oldLeaves, oldDef] = tree.flatten(old);
  const [newLeaves, newDef] = tree.flatten(next);
  if (!oldDef.equals(newDef)) {
    throw new TypeError(
      `${name}: the loss returned a state of another structure than it was given:\n` +
        `  given    ${oldDef.key}\n  returned ${newDef.key}` +
        `\nhelp: return the whole state the model's apply gave back`,
    );
  }
  const changed = newLeaves.some((l, i) => l !== oldLeaves[i]);
  if (!changed && newLeaves.length > 0 && !warned.done) {
    warned.done = true;
    console.warn(
      `${name}: the loss returned the model state unchanged, so running statistics ` +
        `(batch norm) will not update\nhelp: apply the model with { state, train: true } ` +
        `and return the state it gives back`,
    );
  }
}

const isTensor = (x: unknown): boolean => x instanceof Tensor;

/**
 * Wraps a jitted step so that the Tensors it consumed say which of the step's arguments they
 * were given as: `jit` marks donated leaves "was donated to jit(name) (argument i)"; this
 * names the step and the argument (`params`, `optState`, `state`).
 */
function labelDonations<Args extends unknown[], R>(
  step: Jitted<(...args: Args) => R>,
  name: string,
  argNames: readonly string[],
): Jitted<(...args: Args) => R> {
  const labels = argNames.map((a, i) => `was donated to ${name} as its ${a} (argument ${i})`);
  const wrapped = ((...args: Args): R => {
    const out = step(...args);
    labels.forEach((label, i) => {
      for (const l of tree.leaves(args[i], isTensor)) {
        if (l instanceof Tensor && l._consumed?.startsWith("was donated to jit(")) {
          l._consumed = label;
        }
      }
    });
    return out;
  }) as Jitted<(...args: Args) => R>;
  Object.defineProperty(wrapped, "traceCount", { get: () => step.traceCount });
  Object.defineProperty(wrapped, "name", { value: name });
  (wrapped as { lower: unknown }).lower = step.lower;
  return wrapped;
}

/**
 * Makes a jitted, pure train step computing `valueAndGrad(loss)`,
 * `optimizer.update(grads, optState, params)` and `applyUpdates` in one program.
 *
 * - Stateless (default): `step(params, optState, batch, key) → { params, optState, loss, aux }`
 *   for a loss `(params, batch, key) → loss` (or `[loss, aux]` with `hasAux`).
 * - Stateful (`{ stateful: true }`, Equinox's `(model, state)` pattern):
 *   `step(params, optState, state, batch, key) → { params, optState, state, loss, aux }` for a
 *   loss `(params, state, batch, key) → [loss, newState]` (or `{ loss, state, aux }`); the
 *   gradient is taken with respect to `params` only, and the returned `state` carries the
 *   updated running statistics of batch-norm layers into the next step. The step checks that
 *   the loss returns a state of the input's structure, and warns once when it returns the
 *   state unchanged (a model applied with `train: false`).
 *
 * **Donation.** The parameters, the optimizer state and the model state are donated
 * (`jit(f, { donateArgnums: [0, 1] })`, plus `2` when stateful): the program may write the
 * new values into their buffers (the webgpu backend does), so after a step the Tensors passed
 * in are consumed on every backend — continue with the returned ones. Using a consumed Tensor
 * (passing it to the step again, computing with it, reading it) throws a TypeError naming the
 * step and the argument, e.g. `Tensor f32[256,784] was donated to trainStep(loss) as its
 * params (argument 0)`. To keep a value (the initial parameters, the best epoch's), copy it
 * before the step: `tree.map((x) => x.add(0), params)`. The step traces once per signature;
 * `step.traceCount` tells.
 *
 * @param loss `(params, batch, key) → loss` (or `[loss, aux]` with `hasAux`), or with
 *   `stateful` `(params, state, batch, key) → [loss, newState]` / `{ loss, state, aux }`
 * @param optimizer a gradient transformation (`optim.sgd`, `optim.adam`, a `chain`, …)
 * @param opts `hasAux`, `stateful`, `name`
 * @returns the jitted step
 * @throws {TypeError} from the step (at its first trace) when a stateful loss returns
 *   something else than `[loss, newState]` / `{ loss, state, aux }`, or a state of another
 *   structure
 *
 * @example
 * ```ts
 * import { np, random, type Tensor } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { makeTrainStep } from "@denax/denax/train";
 * import { assert, assertEquals } from "@std/assert";
 * type Batch = { x: Tensor; y: Tensor };
 * const loss = (p: { w: Tensor }, b: Batch) => np.square(b.x.mul(p.w).sub(b.y)).mean();
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt); // typed by the loss: params { w }, batches Batch
 * let params = { w: np.array(0) }, optState = opt.init(params), l0 = NaN;
 * const batch = { x: np.array([1, 2, 3]), y: np.array([2, 4, 6]) };
 * for (let i = 0; i < 20; i++) {
 *   // params and optState are donated: always continue with the returned ones
 *   const out = step(params, optState, batch, random.key(i));
 *   ({ params, optState } = out);
 *   if (i === 0) l0 = await out.loss.item() as number;
 * }
 * assert(Math.abs((await params.w.item() as number) - 2) < 1e-3 && l0 > 1);
 * assertEquals(step.traceCount, 1);
 * ```
 *
 * @example Donation: the arguments are consumed; keep going with what the step returns
 * ```ts
 * import { np, random, type Tensor, tree } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { makeTrainStep } from "@denax/denax/train";
 * import { assertThrows } from "@std/assert";
 * const loss = (p: { w: Tensor }, b: { x: Tensor; y: Tensor }) =>
 *   np.square(b.x.mul(p.w).sub(b.y)).mean();
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt);
 * const params = { w: np.array(0) };
 * const initial = tree.map((x: Tensor) => x.add(0), params); // a copy survives the step
 * const batch = { x: np.array([1, 2]), y: np.array([2, 4]) };
 * const out = step(params, opt.init(params), batch, random.key(0));
 * assertThrows(() => params.w.add(1), TypeError, "was donated to trainStep(loss) as its params");
 * console.log(await initial.w.item(), await out.params.w.item()); // 0 1
 * ```
 *
 * @example A stateful model (batch norm): the state goes in and comes back out
 * ```ts
 * import { nn, np, random, type Tensor } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { makeTrainStep } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const net = nn.sequential([nn.linear({ inFeatures: 2, outFeatures: 4 }),
 *   nn.batchNorm1d({ numFeatures: 4 }), nn.relu, nn.linear({ inFeatures: 4, outFeatures: 2 })]);
 * type P = ReturnType<typeof net.init>;
 * type S = ReturnType<typeof net.initState>;
 * const loss = (p: P, s: S, b: { x: Tensor; y: Tensor }, key: Tensor) => {
 *   const { y, state } = net.apply(p, b.x, { state: s, train: true, key });
 *   return [nn.losses.crossEntropy(y, b.y), state] as const;
 * };
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt, { stateful: true });
 * let params = net.init(random.key(0)), optState = opt.init(params), state = net.initState();
 * const batch = { x: random.normal(random.key(1), [8, 2]).add(3), y: np.zeros([8], "i32") };
 * for (let i = 0; i < 3; i++) {
 *   ({ params, optState, state } = step(params, optState, state, batch, random.key(i)));
 * }
 * assertEquals(await state[1].num_batches_tracked!.item(), 3);
 * ```
 */
export function makeTrainStep<P, S, M, B, A = unknown>(
  loss: StatefulLossFn<P, M, B>,
  optimizer: GradientTransformation<S>,
  opts: TrainStepOptions & { readonly stateful: true },
): StatefulTrainStep<P, S, M, B, A>;
/**
 * The stateless form of {@link makeTrainStep} with `hasAux`: `step(params, optState, batch,
 * key) → { params, optState, loss, aux }` for a loss `(params, batch, key) → [loss, aux]`;
 * the aux type is inferred from the loss's array.
 *
 * @param loss `(params, batch, key) → [loss, aux]`
 * @param optimizer a gradient transformation
 * @param opts `hasAux: true`, `name`
 * @returns the jitted step
 */
export function makeTrainStep<P, S, B, A = unknown>(
  loss: (params: P, batch: B, key: Tensor) => readonly [Tensor, A] | readonly (Tensor | A)[],
  optimizer: GradientTransformation<S>,
  opts: TrainStepOptions & { readonly hasAux: true; readonly stateful?: false },
): TrainStep<P, S, B, A>;
/**
 * The stateless form of {@link makeTrainStep}: `step(params, optState, batch, key) →
 * { params, optState, loss, aux }` for a loss `(params, batch, key) → loss` (or `[loss, aux]`
 * with `hasAux`); `params` and `optState` are donated.
 *
 * @param loss `(params, batch, key) → loss`, or `[loss, aux]` with `hasAux`
 * @param optimizer a gradient transformation
 * @param opts `hasAux`, `name`
 * @returns the jitted step
 */
export function makeTrainStep<P, S, B, A = null>(
  loss: LossFn<P, B>,
  optimizer: GradientTransformation<S>,
  opts?: TrainStepOptions & { readonly stateful?: false },
): TrainStep<P, S, B, A>;
export function makeTrainStep<P, S, M, B, A>(
  loss: LossFn<P, B> | StatefulLossFn<P, M, B>,
  optimizer: GradientTransformation<S>,
  opts: TrainStepOptions = {},
): TrainStep<P, S, B, A> | StatefulTrainStep<P, S, M, B, A> {
  const name = stepName(loss, opts);
  return opts.stateful
    ? statefulTrainStep(loss as StatefulLossFn<P, M, B>, optimizer, name)
    : statelessTrainStep(loss as LossFn<P, B>, optimizer, name, opts.hasAux ?? false);
}

/** `params + optimizer.update(grads)`: the update both forms of the step end with. */
function applyOptimizer<P, S>(
  optimizer: GradientTransformation<S>,
  params: P,
  optState: S,
  grads: Tree<P>,
): { params: P; optState: S } {
  // The gradient has the params' structure with a Tensor at every leaf: for a pytree of
  // Tensors, which parameters are, that is the params' own type.
  const [updates, newOpt] = optimizer.update(grads as P, optState, params);
  return { params: applyUpdates(params, updates), optState: newOpt };
}

/** The stateless step: `valueAndGrad(loss)` then the optimizer, jitted with donation. */
function statelessTrainStep<P, S, B, A>(
  loss: LossFn<P, B>,
  optimizer: GradientTransformation<S>,
  name: string,
  hasAux: boolean,
): TrainStep<P, S, B, A> {
  const vg = valueAndGrad(loss, { hasAux });
  const trainStep = (params: P, optState: S, batch: B, key: Tensor): StepResult<P, S, A> => {
    const [value, grads] = vg(params, batch, key);
    // without aux the step's A is null (the overloads say so)
    const [l, aux] = hasAux ? value as [Tensor, A] : [value as Tensor, null as A];
    return { ...applyOptimizer(optimizer, params, optState, grads), loss: l, aux };
  };
  Object.defineProperty(trainStep, "name", { value: name });
  return labelDonations(jit(trainStep, { donateArgnums: [0, 1] }), name, ["params", "optState"]);
}

/**
 * The stateful step: the gradient with respect to `params` only, the loss's new state carried
 * out (checked against the input state's structure), jitted with donation.
 */
function statefulTrainStep<P, S, M, B, A>(
  loss: StatefulLossFn<P, M, B>,
  optimizer: GradientTransformation<S>,
  name: string,
): StatefulTrainStep<P, S, M, B, A> {
  const warned = { done: false };
  const wrapped = (
    params: P,
    state: M,
    batch: B,
    key: Tensor,
  ): [Tensor, { state: M; aux: unknown }] => {
    const [l, newState, aux] = splitStateful(name, loss(params, state, batch, key));
    checkNewState(name, state, newState, warned);
    return [l, { state: newState, aux }];
  };
  const vg = valueAndGrad(wrapped, { hasAux: true });
  const statefulStep = (
    params: P,
    optState: S,
    state: M,
    batch: B,
    key: Tensor,
  ): StatefulStepResult<P, S, M, A> => {
    const [[value, { state: newState, aux }], grads] = vg(params, state, batch, key);
    return {
      ...applyOptimizer(optimizer, params, optState, grads),
      // the state and aux come out of the trace as Tensors in their input structure
      state: newState as M,
      loss: value,
      aux: aux as A,
    };
  };
  Object.defineProperty(statefulStep, "name", { value: name });
  const jitted = jit(statefulStep, { donateArgnums: [0, 1, 2] });
  return labelDonations(jitted, name, ["params", "optState", "state"]);
}
