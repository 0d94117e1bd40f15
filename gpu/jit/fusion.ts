/**
 * The WebGPU jit's fusion policy: the decisions are `core/jit_fusion.ts`'s, shared with the
 * native jit; this file says what the device's kernels can do.
 *
 * - **Fused values**: every elementwise and movement primitive (and the graph's `literal` and
 *   `step_slice` nodes): each kernel evaluates WGSL expressions at any index.
 * - **Groups**: reductions ("reduce", any dtype: their prologue reads the operand's fused
 *   expression), `dot_general` ("dot", but "opaque" on bool operands), convolutions ("conv"
 *   where the implicit GEMM takes an epilogue, else "opaque"), `scan` loops, `core`
 *   equations, and one eager lowering per other primitive ("opaque").
 * - **Prologues**: a GEMM reads an operand through its fused expression when it carries at
 *   most {@link DOT_PROLOGUE_COST} arithmetic ops and reads a buffer of its own storage type.
 * - **Epilogues**: elementwise kernels, reductions, GEMMs and convolutions take them; kernels
 *   are flat-indexed, so an epilogue must have the same element count, and a GEMM's epilogue
 *   must write the product's storage type.
 * - **Bindings**: a kernel binds at most the device's storage buffers: a fused value that
 *   would read more gets a buffer, and an epilogue that would bind more is not merged.
 * - **Siblings**: reductions of the same primitive, operand aval and axes that read a buffer
 *   in common share one kernel (up to {@link MAX_SIBLINGS}), one accumulator each: batch
 *   norm's `sum(dy)` and `sum(dy * xhat)` read `dy` once.
 * - **Literals** with more than four readers get a buffer like any other value.
 * - **Concatenations** get a buffer: fused, every reader would evaluate every piece at every
 *   index (a `select` chain), and a dense block's kernels would each read another number of
 *   pieces; materialized (and `core/jit_graph.ts`'s `rewritePrefixConcats` making each layer
 *   concatenate two values), its layers' kernels differ in sizes only and share pipelines
 *   (DenseNet's step 176 → 169 pipelines, its second step no slower).
 *
 * @module
 */
import {
  type Fusion as SharedFusion,
  type FusionPolicy,
  type Group as SharedGroup,
  planFusion,
} from "../../core/jit_fusion.ts";
import type { GEqn, Graph } from "./graph.ts";
import { isElementwise, isMovement } from "./expr.ts";
import { storageType } from "../kernels/common.ts";
import { REDUCE_PRIMS } from "../../core/prims/names.ts";

/** Arithmetic ops a GEMM operand may carry and still be fused into the operand loads. */
export const DOT_PROLOGUE_COST = 8;

/** Reductions one kernel may compute (each keeps a workgroup array of 256 partial sums). */
export const MAX_SIBLINGS = 4;

/** How a group computes. */
export type GroupKind = "ew" | "reduce" | "dot" | "conv" | "opaque" | "scan" | "core";

/** One kernel (or loop, or core equation) of the program. */
export type Group = SharedGroup<GroupKind>;

/** The result of fusion. */
export type Fusion = SharedFusion<GroupKind>;

const _REDUCE = new Set<string>(REDUCE_PRIMS);

/** What fusion needs to know about the device's templates. */
export interface FuseOptions {
  /** Storage buffers one kernel may bind. */
  readonly maxBindings: number;
  /** Whether a convolution's implicit GEMM can take an epilogue. */
  readonly convFusible: (e: GEqn) => boolean;
  /**
   * Arithmetic ops a GEMM operand may carry into its loads (default
   * {@link DOT_PROLOGUE_COST}). The texture GEMMs take 0: they evaluate an operand's prologue
   * in a pack kernel of its own, while a materialized operand is computed by its producer's
   * epilogue and then copied into its texture, one pipeline fewer.
   */
  readonly dotPrologueCost?: number;
  /**
   * Store an f16 program's roundings (`convert` to f16) of a kernel's result that several
   * equations read, rather than the unrounded result (with 2-byte f16 values, `half_io.ts`:
   * a convolution's output kept for its gradient then takes half the bytes).
   */
  readonly storeRoundings?: boolean;
}

/**
 * The kind of group an equation roots, or null for fusible ones.
 *
 * @param e The equation.
 * @param o Device facts (without them, a convolution is "opaque").
 * @returns Its group kind, or null when its readers compute it.
 */
export function rootKind(e: GEqn, o?: FuseOptions): GroupKind | null {
  if (isElementwise(e.prim) || isMovement(e.prim)) return null;
  if (_REDUCE.has(e.prim)) return "reduce";
  if (e.prim === "dot_general") return e.inputs[0].aval.dtype === "bool" ? "opaque" : "dot";
  if (e.prim === "conv_general_dilated") return o?.convFusible(e) ? "conv" : "opaque";
  if (e.prim === "scan") return "scan";
  if (e.prim === "core") return "core";
  return "opaque";
}

const _EPILOGUED: ReadonlySet<GroupKind> = new Set<GroupKind>(["ew", "reduce", "dot", "conv"]);

/**
 * Whether a group kind computes its results at an output index (and takes epilogues).
 *
 * @param k The kind.
 * @returns True for "ew", "reduce", "dot" and "conv".
 */
export function epilogued(k: GroupKind): boolean {
  return _EPILOGUED.has(k);
}

/**
 * The WebGPU jit's fusion policy for a device (see the module doc).
 *
 * @param o Device facts.
 * @param g The graph (for {@link FuseOptions.storeRoundings}).
 * @returns The policy.
 */
export function gpuPolicy(o: FuseOptions, g?: Graph): FusionPolicy<GroupKind> {
  const rounded = o.storeRoundings && g ? _storedRoundings(g, o) : new Set<GEqn>();
  return {
    rootKind: (e) => rootKind(e, o),
    epilogued: _EPILOGUED,
    maxBindings: o.maxBindings,
    dotPrologueCost: o.dotPrologueCost ?? DOT_PROLOGUE_COST,
    sameSpace: "size",
    storageType,
    recomputeLiterals: false,
    siblings: { kind: "reduce", max: MAX_SIBLINGS },
    materialize: (e) => e.prim === "concatenate" || rounded.has(e),
  };
}

/**
 * The roundings to f16 of a group's result (an equation that is not fused) that more than one
 * equation reads: stored, they are the buffer the readers share (the result itself is then
 * only read by the rounding, inside its own kernel).
 */
function _storedRoundings(g: Graph, o: FuseOptions): Set<GEqn> {
  const readers = new Map<GEqn["outputs"][number], number>();
  for (const e of g.eqns) {
    for (const x of new Set(e.inputs)) readers.set(x, (readers.get(x) ?? 0) + 1);
  }
  const roots = new Set(g.eqns.filter((e) => rootKind(e, o) !== null).flatMap((e) => e.outputs));
  return new Set(
    g.eqns.filter((e) =>
      e.prim === "convert" && e.params.dtype === "f16" && roots.has(e.inputs[0]) &&
      (readers.get(e.outputs[0]) ?? 0) > 1
    ),
  );
}

/**
 * Groups a graph's equations into kernels (`core/jit_fusion.ts`'s `planFusion` with
 * {@link gpuPolicy}).
 *
 * @param g The graph.
 * @param o Device facts.
 * @returns The fusion (groups in dependency order).
 */
export function fuse(g: Graph, o: FuseOptions): Fusion {
  return planFusion(g, gpuPolicy(o, g));
}
