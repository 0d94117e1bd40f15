/**
 * float64 host references of the peer-comparison workloads (`workloads.ts`), computed from the
 * same seeded data every library gets: W1 on a sample of rows, W2 in full, one W3 training step
 * (forward, backward and SGD update written out by hand), and W4's loss and gradients (direct
 * loops over the convolution and its two transposes).
 *
 * @module
 */
import {
  CONV,
  convData,
  type ConvResult,
  elementwiseData,
  type HostTensor,
  matmulCheckedRows,
  matmulData,
  MLP_BATCH,
  MLP_LR,
  MLP_SIZES,
  mlpData,
  type MlpResult,
} from "./workloads.ts";

/** float64 reference of W1 on the checked rows, flattened `[rows, n]`. */
export function matmulReference(n: number): Float64Array {
  const { a, b } = matmulData(n);
  const rows = matmulCheckedRows(n);
  const out = new Float64Array(rows.length * n);
  rows.forEach((i, r) => {
    const o = r * n;
    for (let k = 0; k < n; k++) {
      const aik = a.data[i * n + k];
      for (let j = 0; j < n; j++) out[o + j] += aik * b.data[k * n + j];
    }
  });
  return out;
}

/** The W2 formula in float64. */
export function elementwiseFormula(x: number): number {
  return Math.tanh(x * 2 + 1) * (1 / (1 + Math.exp(-x))) - Math.exp(-x * x);
}

/** float64 reference of W2. */
export function elementwiseReference(): Float64Array {
  const x = elementwiseData().data;
  return Float64Array.from(x, elementwiseFormula);
}

/**
 * o[i, j] = Σ_p A[i, p] · B[p, j] in float64 for an m × n result over k, each operand read
 * through (row, column) strides so that transposed layouts need no copy.
 */
function matmulStrided(
  a: ArrayLike<number>,
  [ai, ap]: readonly [number, number],
  b: ArrayLike<number>,
  [bp, bj]: readonly [number, number],
  m: number,
  k: number,
  n: number,
): Float64Array {
  const o = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const v = a[i * ai + p * ap];
      if (v === 0) continue;
      for (let j = 0; j < n; j++) o[i * n + j] += v * b[p * bp + j * bj];
    }
  }
  return o;
}
/** a·b for a [m, k], b [k, n]. */
const mm = (a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number) =>
  matmulStrided(a, [k, 1], b, [n, 1], m, k, n);
/** aᵀ·b for a [k, m], b [k, n] → [m, n]. */
const mmTA = (a: ArrayLike<number>, b: ArrayLike<number>, k: number, m: number, n: number) =>
  matmulStrided(a, [1, m], b, [n, 1], m, k, n);
/** a·bᵀ for a [m, k], b [n, k] → [m, n]. */
const mmTB = (a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number) =>
  matmulStrided(a, [k, 1], b, [1, k], m, k, n);

/** float64 reference of one W3 step from the initial parameters. */
export function mlpReference(): MlpResult {
  const { params: p, x, y } = mlpData();
  const B = MLP_BATCH;
  const [d0, d1, d2, d3] = MLP_SIZES;
  const dense = (inp: ArrayLike<number>, w: HostTensor, b: HostTensor, k: number, n: number) => {
    const z = mm(inp, w.data, B, k, n);
    for (let i = 0; i < B; i++) for (let j = 0; j < n; j++) z[i * n + j] += b.data[j];
    return z;
  };
  const relu = (z: Float64Array) => z.map((v) => (v > 0 ? v : 0));
  const h1 = relu(dense(x.data, p.w1, p.b1, d0, d1));
  const h2 = relu(dense(h1, p.w2, p.b2, d1, d2));
  const z = dense(h2, p.w3, p.b3, d2, d3);
  let loss = 0;
  const dz = new Float64Array(B * d3);
  for (let i = 0; i < B; i++) {
    let m = -Infinity;
    for (let j = 0; j < d3; j++) m = Math.max(m, z[i * d3 + j]);
    let s = 0;
    for (let j = 0; j < d3; j++) s += Math.exp(z[i * d3 + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < d3; j++) {
      const t = y.data[i * d3 + j];
      loss -= t * (z[i * d3 + j] - lse);
      dz[i * d3 + j] = (Math.exp(z[i * d3 + j] - lse) - t) / B;
    }
  }
  loss /= B;
  const colSum = (d: Float64Array, n: number) => {
    const s = new Float64Array(n);
    for (let i = 0; i < B; i++) for (let j = 0; j < n; j++) s[j] += d[i * n + j];
    return s;
  };
  const dw3 = mmTA(h2, dz, B, d2, d3), db3 = colSum(dz, d3);
  const dh2 = mmTB(dz, p.w3.data, B, d3, d2).map((v, i) => (h2[i] > 0 ? v : 0));
  const dw2 = mmTA(h1, dh2, B, d1, d2), db2 = colSum(dh2, d2);
  const dh1 = mmTB(dh2, p.w2.data, B, d2, d1).map((v, i) => (h1[i] > 0 ? v : 0));
  const dw1 = mmTA(x.data, dh1, B, d0, d1), db1 = colSum(dh1, d1);
  const upd = (w: HostTensor, g: Float64Array) =>
    Float64Array.from(w.data, (v, i) => v - MLP_LR * g[i]);
  return {
    loss,
    w1: upd(p.w1, dw1),
    b1: upd(p.b1, db1),
    w2: upd(p.w2, dw2),
    b2: upd(p.b2, db2),
    w3: upd(p.w3, dw3),
    b3: upd(p.b3, db3),
  };
}

/**
 * Cross-correlation of x [N, C, H, W] (zero-padded by `pad`) with k [O, C, K, K] in float64,
 * and the two gradients given the output cotangent (the transposes, written out directly).
 */
function conv2d(
  x: ArrayLike<number>,
  xs: readonly number[],
  k: ArrayLike<number>,
  ks: readonly number[],
  pad: number,
) {
  const [N, C, H, W] = xs, [O, , K] = ks;
  const OH = H + 2 * pad - K + 1, OW = W + 2 * pad - K + 1;
  const y = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const yo = (n * O + o) * OH * OW;
      for (let c = 0; c < C; c++) {
        const xo = (n * C + c) * H * W;
        for (let ki = 0; ki < K; ki++) {
          for (let kj = 0; kj < K; kj++) {
            const kv = k[((o * C + c) * K + ki) * K + kj];
            for (let i = 0; i < OH; i++) {
              const r = i + ki - pad;
              if (r < 0 || r >= H) continue;
              for (let j = 0; j < OW; j++) {
                const s = j + kj - pad;
                if (s < 0 || s >= W) continue;
                y[yo + i * OW + j] += kv * x[xo + r * W + s];
              }
            }
          }
        }
      }
    }
  }
  return { y, oh: OH, ow: OW };
}

/** Gradients of Σ conv2d(x, k) ⊙ g with respect to x and k, in float64. */
function conv2dVjp(
  x: ArrayLike<number>,
  xs: readonly number[],
  k: ArrayLike<number>,
  ks: readonly number[],
  pad: number,
  g: ArrayLike<number>,
) {
  const [N, C, H, W] = xs, [O, , K] = ks;
  const OH = H + 2 * pad - K + 1, OW = W + 2 * pad - K + 1;
  const dx = new Float64Array(N * C * H * W), dk = new Float64Array(O * C * K * K);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const go = (n * O + o) * OH * OW;
      for (let c = 0; c < C; c++) {
        const xo = (n * C + c) * H * W;
        for (let ki = 0; ki < K; ki++) {
          for (let kj = 0; kj < K; kj++) {
            const kIdx = ((o * C + c) * K + ki) * K + kj;
            const kv = k[kIdx];
            let acc = 0;
            for (let i = 0; i < OH; i++) {
              const r = i + ki - pad;
              if (r < 0 || r >= H) continue;
              for (let j = 0; j < OW; j++) {
                const s = j + kj - pad;
                if (s < 0 || s >= W) continue;
                const gv = g[go + i * OW + j];
                acc += gv * x[xo + r * W + s];
                dx[xo + r * W + s] += gv * kv;
              }
            }
            dk[kIdx] += acc;
          }
        }
      }
    }
  }
  return { dx, dk };
}

/** float64 reference of W4. */
export function convReference(): ConvResult {
  const { x, k1, k2, c } = convData();
  const h = conv2d(x.data, CONV.x, k1.data, CONV.k1, CONV.pad1).y;
  const y = conv2d(h, CONV.h, k2.data, CONV.k2, 0).y;
  let loss = 0;
  for (let i = 0; i < y.length; i++) loss += y[i] * c.data[i];
  const g2 = conv2dVjp(h, CONV.h, k2.data, CONV.k2, 0, c.data);
  const g1 = conv2dVjp(x.data, CONV.x, k1.data, CONV.k1, CONV.pad1, g2.dx);
  return { loss, dx: g1.dx, dk1: g1.dk, dk2: g2.dk };
}
