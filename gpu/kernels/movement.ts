/**
 * Data-movement kernels: broadcast_in_dim, transpose, slice, rev, pad, concatenate and iota.
 * Each is one invocation per output element that decodes its output index and computes where to
 * read from (shapes written as literals, which the lowering table moves into a uniform: see
 * `genericKernel` in `common.ts`); reshape, bitcast and stop_gradient are plain buffer copies
 * (see `copyPlan`).
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import {
  decode,
  dotStrides,
  elementwiseKernel,
  i,
  inp,
  type Kernel,
  out,
  type Plan,
  size,
  storageType,
  strides,
  u,
} from "./common.ts";

const _io = (dtype: DType, input = 0) => [
  { name: "a", type: storageType(dtype), access: "read" as const, ref: inp(input) },
  { name: "o", type: storageType(dtype), access: "read_write" as const, ref: out(0) },
];

const _vars = (name: string, r: number) => Array.from({ length: r }, (_, d) => `${name}${d}`);

/**
 * `broadcast_in_dim`: operand dim `k` maps to output dim `dims[k]`; operand dims of size 1
 * broadcast.
 *
 * @param dtype The dtype.
 * @param inShape The operand's shape.
 * @param outShape The result's shape.
 * @param dims `broadcastDimensions`.
 * @returns The kernel.
 */
export function broadcastKernel(
  dtype: DType,
  inShape: readonly number[],
  outShape: readonly number[],
  dims: readonly number[],
): Kernel {
  const st = strides(inShape);
  const terms = inShape.map((n, k) => (n === 1 ? "0u" : `o${dims[k]}`));
  const s = inShape.map((n, k) => (n === 1 ? 0 : st[k]));
  return elementwiseKernel({
    bindings: _io(dtype),
    total: size(outShape),
    body: `${decode("i", outShape, "o")}\n  o[i] = a[${dotStrides(terms, s)}];`,
  });
}

/**
 * `transpose`: output dim `j` is operand dim `perm[j]`.
 *
 * @param dtype The dtype.
 * @param inShape The operand's shape.
 * @param perm The permutation.
 * @returns The kernel.
 */
export function transposeKernel(
  dtype: DType,
  inShape: readonly number[],
  perm: readonly number[],
): Kernel {
  const st = strides(inShape);
  const outShape = perm.map((p) => inShape[p]);
  return elementwiseKernel({
    bindings: _io(dtype),
    total: size(outShape),
    body: `${decode("i", outShape, "o")}\n  o[i] = a[${
      dotStrides(_vars("o", perm.length), perm.map((p) => st[p]))
    }];`,
  });
}

/**
 * `slice` with strides: output index `k` along dim `d` reads `start[d] + k * step[d]`.
 *
 * @param dtype The dtype.
 * @param inShape The operand's shape.
 * @param start Start indices.
 * @param step Strides (all 1 when absent).
 * @param outShape The result's shape.
 * @returns The kernel.
 */
export function sliceKernel(
  dtype: DType,
  inShape: readonly number[],
  start: readonly number[],
  step: readonly number[],
  outShape: readonly number[],
): Kernel {
  const terms = outShape.map((_, d) => {
    const t = step[d] === 1 ? `o${d}` : `o${d} * ${u(step[d])}`;
    return start[d] === 0 ? t : `${t} + ${u(start[d])}`;
  });
  return elementwiseKernel({
    bindings: _io(dtype),
    total: size(outShape),
    body: `${decode("i", outShape, "o")}\n  o[i] = a[${dotStrides(terms, strides(inShape))}];`,
  });
}

/**
 * `rev`: reverses the listed axes.
 *
 * @param dtype The dtype.
 * @param shape The shape.
 * @param axes The axes to reverse.
 * @returns The kernel.
 */
export function revKernel(dtype: DType, shape: readonly number[], axes: readonly number[]): Kernel {
  const terms = shape.map((n, d) => (axes.includes(d) ? `${u(n - 1)} - o${d}` : `o${d}`));
  return elementwiseKernel({
    bindings: _io(dtype),
    total: size(shape),
    body: `${decode("i", shape, "o")}\n  o[i] = a[${dotStrides(terms, strides(shape))}];`,
  });
}

/**
 * `pad` with low, high and interior padding (negative low/high crop): inputs (x, scalar pad
 * value). Output position `p` along dim `d` reads `x[t / (interior + 1)]` with `t = p - lo`
 * when `t >= 0`, `t` is a multiple of `interior + 1` and in range; else the pad value.
 *
 * @param dtype The dtype.
 * @param inShape The operand's shape.
 * @param outShape The result's shape.
 * @param lo Low padding per dim.
 * @param interior Interior padding per dim.
 * @returns The kernel.
 */
export function padKernel(
  dtype: DType,
  inShape: readonly number[],
  outShape: readonly number[],
  lo: readonly number[],
  interior: readonly number[],
): Kernel {
  const st = strides(inShape);
  const lines = [decode("i", outShape, "o"), "var ok = true;", "var off = 0u;"];
  for (let d = 0; d < inShape.length; d++) {
    const step = interior[d] + 1;
    lines.push(`let t${d} = i32(o${d}) - ${i(lo[d])};`);
    if (step === 1) {
      lines.push(`ok = ok && t${d} >= 0i && t${d} < ${i(inShape[d])};`);
      lines.push(`off = off + u32(t${d}) * ${u(st[d])};`);
    } else {
      lines.push(
        `ok = ok && t${d} >= 0i && t${d} % ${i(step)} == 0i && t${d} / ${i(step)} < ${
          i(inShape[d])
        };`,
      );
      lines.push(`off = off + u32(t${d} / ${i(step)}) * ${u(st[d])};`);
    }
  }
  lines.push("if (ok) { o[i] = a[off]; } else { o[i] = pv[0]; }");
  const t = storageType(dtype);
  return elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: inp(0) },
      { name: "pv", type: t, access: "read", ref: inp(1) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: size(outShape),
    body: lines.join("\n  "),
  });
}

/**
 * `concatenate` along `axis`: one dispatch per operand, each copying its slab into place (no
 * limit on the operand count, whatever the device's storage-buffer limit).
 *
 * @param dtype The dtype.
 * @param shapes The operands' shapes.
 * @param axis The axis.
 * @returns The plan.
 */
export function concatenatePlan(
  dtype: DType,
  shapes: readonly (readonly number[])[],
  axis: number,
): Plan {
  const outShape = [...shapes[0]];
  outShape[axis] = shapes.reduce((a, s) => a + s[axis], 0);
  const ost = strides(outShape);
  let offset = 0;
  const steps = shapes.map((shape, k) => {
    const terms = shape.map((_, d) => (d === axis && offset ? `m${d} + ${u(offset)}` : `m${d}`));
    offset += shape[axis];
    return {
      kind: "dispatch" as const,
      kernel: elementwiseKernel({
        bindings: _io(dtype, k),
        total: size(shape),
        body: `${decode("i", shape, "m")}\n  o[${dotStrides(terms, ost)}] = a[i];`,
      }),
    };
  });
  return { steps, temps: [] };
}

/**
 * `iota`: the index along `dimension`, converted to `dtype`.
 *
 * @param dtype The result's dtype.
 * @param shape The result's shape.
 * @param dimension The dimension that counts.
 * @returns The kernel (no inputs).
 */
export function iotaKernel(dtype: DType, shape: readonly number[], dimension: number): Kernel {
  const t = storageType(dtype);
  const v = dtype === "bool" ? `select(0u, 1u, o${dimension} != 0u)` : `${t}(o${dimension})`;
  return elementwiseKernel({
    bindings: [{ name: "o", type: t, access: "read_write", ref: out(0) }],
    total: size(shape),
    body: `${decode("i", shape, "o")}\n  o[i] = ${v};`,
  });
}
