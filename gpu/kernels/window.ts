/**
 * `reduce_window` (sum, max or min pooling): one invocation per output element loops over its
 * window. Window element w of output position o along dim d sits at
 * `o · stride + w · windowDilation - padLo` in the base-dilated, padded operand; positions in
 * the padding or between dilated base elements contribute the op's identity.
 *
 * @module
 */
import type { WindowParams } from "../../core/prims/window.ts";
import type { DType } from "../../core/dtype.ts";
import {
  decode,
  elementwiseKernel,
  Helpers,
  i,
  inp,
  type Kernel,
  out,
  size,
  storageType,
  strides,
  u,
} from "./common.ts";
import { accumulate, accumulated, accumulator, type Monoid } from "./reduce.ts";

/** Windows longer than this are visited several elements per loop iteration. */
const _UNROLL_FROM = 16384;
/** The most window elements visited per loop iteration. */
const _MAX_UNROLL = 64;

/** Parameters of `reduce_window`, as the core primitive declares them. */
export type { WindowParams } from "../../core/prims/window.ts";

/**
 * The output shape of `reduce_window`.
 *
 * @param shape The operand's shape.
 * @param p The parameters.
 * @returns The output shape.
 */
export function windowOutShape(shape: readonly number[], p: WindowParams): number[] {
  return shape.map((n, d) => {
    const din = n === 0 ? 0 : (n - 1) * p.baseDilation[d] + 1;
    const dw = (p.windowDimensions[d] - 1) * p.windowDilation[d] + 1;
    const span = din + p.padding[d][0] + p.padding[d][1] - dw;
    return span < 0 ? 0 : Math.floor(span / p.windowStrides[d]) + 1;
  });
}

/**
 * The `reduce_window` kernel.
 *
 * @param dtype The dtype.
 * @param shape The operand's shape.
 * @param p The parameters.
 * @returns The kernel: input 0 → output 0.
 */
export function reduceWindowKernel(
  dtype: DType,
  shape: readonly number[],
  p: WindowParams,
): Kernel {
  const h = new Helpers();
  const m: Monoid = p.op;
  const t = storageType(dtype);
  const outShape = windowOutShape(shape, p);
  const st = strides(shape);
  const W = size(p.windowDimensions);
  // Windows longer than _UNROLL_FROM elements visit U of them per loop iteration, so that an
  // invocation loops at most _UNROLL_FROM times (llvmpipe ends loops after 65535 iterations).
  const U = W > _UNROLL_FROM ? Math.ceil(W / _UNROLL_FROM) : 1;
  if (U > _MAX_UNROLL) {
    throw new RangeError(
      `reduce_window: a window of ${W} elements ([${p.windowDimensions}]) on ${dtype}[${shape}] ` +
        `is longer than WebGPU supports (${_MAX_UNROLL * _UNROLL_FROM})`,
    );
  }
  const visit = (w: string): string[] => {
    const ls = [
      `  ${decode(w, p.windowDimensions, "w")}`,
      "  var ok = true;",
      "  var off = 0u;",
    ];
    for (let d = 0; d < shape.length; d++) {
      const bd = p.baseDilation[d];
      ls.push(
        `  let q${d} = i32(o${d} * ${u(p.windowStrides[d])} + w${d} * ${
          u(p.windowDilation[d])
        }) - ${i(p.padding[d][0])};`,
      );
      if (bd === 1) {
        ls.push(`  ok = ok && q${d} >= 0i && q${d} < ${i(shape[d])};`);
        ls.push(`  off = off + u32(q${d}) * ${u(st[d])};`);
      } else {
        ls.push(
          `  ok = ok && q${d} >= 0i && q${d} % ${i(bd)} == 0i && q${d} / ${i(bd)} < ${
            i(shape[d])
          };`,
        );
        ls.push(`  off = off + u32(q${d} / ${i(bd)}) * ${u(st[d])};`);
      }
    }
    ls.push(`  if (ok) { let x = a[off]; ${accumulate(m, dtype, "x", h)} }`);
    return ls;
  };
  const lines = [decode("i", outShape, "o"), accumulator(m, dtype, h)];
  if (U === 1) {
    lines.push(`for (var w = 0u; w < ${u(W)}; w = w + 1u) {`, ...visit("w"), "}");
  } else {
    lines.push(`for (var wb = 0u; wb < ${u(W)}; wb = wb + ${u(U)}) {`);
    for (let k = 0; k < U; k++) {
      lines.push(`  if (wb + ${u(k)} < ${u(W)}) {`, ...visit(`wb + ${u(k)}`), "  }");
    }
    lines.push("}");
  }
  lines.push(`o[i] = ${accumulated(m, dtype)};`);
  const body = lines.join("\n  ");
  return elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: inp(0) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: size(outShape),
    helpers: String(h),
    body,
  });
}
