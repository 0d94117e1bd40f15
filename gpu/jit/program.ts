/**
 * The compiled form of a jaxpr: a list of operations over numbered buffer slots, replayed on
 * every call (see `exec.ts`), and its printed form for `DENAX_DEBUG=2`.
 *
 * @module
 */
import type { Params, Primitive } from "../../core/primitive.ts";
import type { ShapedArray } from "../../core/aval.ts";
import type { TextureSpec } from "../kernels/common.ts";
import type { BufferPlan, SlotSpec } from "./plan.ts";

/** A resource a dispatch binds. */
export type Res =
  | { readonly kind: "slot"; readonly slot: number }
  | { readonly kind: "tmp"; readonly index: number }
  | { readonly kind: "tex"; readonly index: number }
  /** The scan step uniform (`var<uniform> _step: vec4u`, x = the step's index into xs/ys). */
  | { readonly kind: "step" }
  /** The size uniform of a shape-generic kernel (`_P`; see `genericKernel`), its u32 words. */
  | { readonly kind: "params"; readonly words: readonly number[] };

/** One compute dispatch. */
export interface DispatchOp {
  /** Always "dispatch". */
  readonly kind: "dispatch";
  /** The WGSL source. */
  readonly wgsl: string;
  /** What it computes, for errors and the printed plan. */
  readonly label: string;
  /** Workgroups. */
  readonly grid: readonly [number, number, number];
  /** Binding `i` of group 0. */
  readonly bindings: readonly Res[];
  /** Whether the jit generated it (a fused kernel) rather than an eager lowering. */
  readonly fused: boolean;
  /** The primitives fused into it, for the printed plan. */
  readonly note?: string;
}

/** A buffer copy (offsets per scan step, in bytes). */
export interface CopyOp {
  /** Always "copy". */
  readonly kind: "copy";
  /** Source. */
  readonly src: Res;
  /** Destination. */
  readonly dst: Res;
  /** Bytes. */
  readonly bytes: number;
  /** Source offset per step. */
  readonly srcStep: number;
  /** Destination offset per step. */
  readonly dstStep: number;
}

/** A copy of a buffer into a whole texture. */
export interface TextureOp {
  /** Always "toTexture". */
  readonly kind: "toTexture";
  /** Source. */
  readonly src: Res;
  /** The texture's index. */
  readonly tex: number;
  /** Bytes between rows. */
  readonly bytesPerRow: number;
}

/** A scan: the body program run once per step, in the same command buffer. */
export interface ScanOp {
  /** Always "scan". */
  readonly kind: "scan";
  /** The body. */
  readonly body: Program;
  /** Steps. */
  readonly length: number;
  /** Whether xs are consumed from the end. */
  readonly reverse: boolean;
  /** Consts and carries of the body. */
  readonly numConsts: number;
  /** Carries. */
  readonly numCarry: number;
  /** Slots of the operands [consts, carry, xs]. */
  readonly ins: readonly number[];
  /** Slots of the results [carry, ys]. */
  readonly outs: readonly number[];
  /** Bytes of each carry. */
  readonly carryBytes: readonly number[];
}

/** An equation the core evaluates (while loops, primitives without a lowering). */
export interface CoreOp {
  /** Always "core". */
  readonly kind: "core";
  /** The primitive. */
  readonly prim: Primitive;
  /** Its params. */
  readonly params: Params;
  /** Operand slots. */
  readonly ins: readonly number[];
  /** Operand avals. */
  readonly inAvals: readonly ShapedArray[];
  /** Result slots ("ext"). */
  readonly outs: readonly number[];
}

/** One operation of a program. */
export type Op = DispatchOp | CopyOp | TextureOp | ScanOp | CoreOp;

/** A compiled program. */
export interface Program {
  /** The operations, in order. */
  readonly ops: readonly Op[];
  /** The buffer slots. */
  readonly slots: readonly SlotSpec[];
  /** The plan (output slots, donations). */
  readonly plan: BufferPlan;
  /** The slot holding each output's value (an input's, a core result's, or its own). */
  readonly outValSlots: readonly number[];
  /** Byte sizes of the temporaries of eager lowerings (kept between calls). */
  readonly temps: readonly number[];
  /** Textures of the GEMMs (kept between calls). */
  readonly textures: readonly TextureSpec[];
  /** Input avals. */
  readonly inAvals: readonly ShapedArray[];
  /** Output avals. */
  readonly outAvals: readonly ShapedArray[];
}

/**
 * Counts the dispatches of a program, nested scan bodies once each.
 *
 * @param p The program.
 * @param fused Count only kernels the jit generated.
 * @returns The number of dispatch operations.
 */
export function countKernels(p: Program, fused = false): number {
  let n = 0;
  for (const op of p.ops) {
    if (op.kind === "dispatch" && (!fused || op.fused)) n++;
    else if (op.kind === "scan") n += countKernels(op.body, fused);
  }
  return n;
}

/**
 * Prints a program, one operation per line (`DENAX_DEBUG=2`).
 *
 * @param p The program.
 * @param indent Leading spaces.
 * @returns The text.
 */
export function printProgram(p: Program, indent = ""): string {
  const s = (r: Res) =>
    r.kind === "slot"
      ? `%${r.slot}`
      : r.kind === "tmp"
      ? `tmp${r.index}`
      : r.kind === "tex"
      ? `tex${r.index}`
      : r.kind === "params"
      ? "params"
      : "step";
  const lines = p.ops.map((op) => {
    switch (op.kind) {
      case "dispatch":
        return `${indent}${op.fused ? "fused" : "eager"} ${op.label}${
          op.note ? ` {${op.note}}` : ""
        } [${op.grid}] (${op.bindings.map(s).join(" ")})`;
      case "copy":
        return `${indent}copy ${s(op.src)} -> ${s(op.dst)} ${op.bytes}B`;
      case "toTexture":
        return `${indent}toTexture ${s(op.src)} -> tex${op.tex}`;
      case "scan":
        return `${indent}scan x${op.length} (${op.ins.map((k) => `%${k}`).join(" ")}) -> (${
          op.outs.map((k) => `%${k}`).join(" ")
        })\n${printProgram(op.body, indent + "  ")}`;
      case "core":
        return `${indent}core ${op.prim.name} (${op.ins.map((k) => `%${k}`).join(" ")}) -> (${
          op.outs.map((k) => `%${k}`).join(" ")
        })`;
      default:
        throw new Error(`internal: unknown op ${(op satisfies never as Op).kind}`);
    }
  });
  const slots = p.slots.map((sl, k) =>
    `%${k}:${sl.kind}${"bytes" in sl ? `(${sl.bytes})` : "index" in sl ? `[${sl.index}]` : ""}`
  );
  return `${indent}slots ${slots.join(" ")}\n${lines.join("\n")}`;
}
