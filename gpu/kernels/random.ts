/**
 * `threefry2x32`: JAX's Threefry-2x32 hash (20 rounds; Salmon et al., SC 2011), elementwise
 * over four u32 operands (k0, k1, x0, x1) of one shape, giving two u32 outputs. The schedule
 * is JAX's `_threefry2x32_lowering`: rotations [13, 15, 26, 6] and [17, 29, 16, 24] in
 * alternating blocks of four rounds, key words k0, k1, k0 ^ k1 ^ 0x1BD11BDA injected after
 * each block (five injections, the j-th adding j to the second word).
 *
 * @module
 */
import { elementwiseKernel, inp, type Kernel, out } from "./common.ts";

const _ROT = [[13, 15, 26, 6], [17, 29, 16, 24]];

/**
 * The threefry2x32 kernel.
 *
 * @param n The element count.
 * @returns The kernel: inputs (k0, k1, x0, x1) → outputs (y0, y1).
 */
export function threefryKernel(n: number): Kernel {
  const lines = [
    "let ks0 = k0[i];",
    "let ks1 = k1[i];",
    "let ks2 = ks0 ^ ks1 ^ 0x1BD11BDAu;",
    "var a = x0[i] + ks0;",
    "var b = x1[i] + ks1;",
  ];
  const ks = ["ks0", "ks1", "ks2"];
  for (let j = 1; j <= 5; j++) {
    for (const r of _ROT[(j - 1) % 2]) {
      lines.push(`a = a + b; b = ((b << ${r}u) | (b >> ${32 - r}u)) ^ a;`);
    }
    lines.push(`a = a + ${ks[j % 3]};`, `b = b + ${ks[(j + 1) % 3]} + ${j}u;`);
  }
  lines.push("y0[i] = a;", "y1[i] = b;");
  return elementwiseKernel({
    bindings: [
      { name: "k0", type: "u32", access: "read", ref: inp(0) },
      { name: "k1", type: "u32", access: "read", ref: inp(1) },
      { name: "x0", type: "u32", access: "read", ref: inp(2) },
      { name: "x1", type: "u32", access: "read", ref: inp(3) },
      { name: "y0", type: "u32", access: "read_write", ref: out(0) },
      { name: "y1", type: "u32", access: "read_write", ref: out(1) },
    ],
    total: n,
    body: lines.join("\n  "),
  });
}
