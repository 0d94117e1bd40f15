/**
 * The Jacobi decompositions on the GPU: `eigh` (cyclic two-sided Jacobi) and `svd` (one-sided
 * Jacobi), a workgroup per matrix; see `linalg.ts` for the layout and the dispatch splitting.
 *
 * @module
 */
import { type BindingDecl, inp, out, type Plan, type Step, tmp } from "./common.ts";
import { _SYNC, cdiv, chunks, dispatch, matrixKernel, WG } from "./linalg.ts";

// ------------------------------------------------------------------ eigh

/** Jacobi sweeps of `eigh` (each rotation past convergence is skipped). */
export const EIGH_SWEEPS = 12;

/** The rotation (c, s) zeroing the (p, q) entry, as WGSL; `skip` when it is negligible. */
const _ROT = `
fn _rot(app: f32, aqq: f32, apq: f32) -> vec2f {
  if (apq == 0.0 || abs(apq) <= 1e-9 * (abs(app) + abs(aqq))) { return vec2f(1.0, 0.0); }
  let theta = (aqq - app) / (2.0 * apq);
  var t: f32;
  if (abs(theta) > 1e18) { t = 0.5 / theta; } else {
    t = select(-1.0, 1.0, theta >= 0.0) / (abs(theta) + sqrt(theta * theta + 1.0));
  }
  let c = inverseSqrt(t * t + 1.0);
  return vec2f(c, t * c);
}`;

/** Eigen-decomposition of `batch` symmetric n×n matrices: input 0 → (w: output 0, V: output 1). */
export function eighPlan(batch: number, n: number): Plan {
  const NN = n * n;
  const rows = chunks(n, (p) => (n - p - 1) * (3 * cdiv(n, WG) + 8) + 1);
  const decls: BindingDecl[] = [
    { name: "A", type: "f32", access: "read", ref: inp(0) },
    { name: "S", type: "f32", access: "read_write", ref: tmp(0) },
    { name: "V", type: "f32", access: "read_write", ref: tmp(1) },
    { name: "W", type: "f32", access: "read_write", ref: out(0) },
    { name: "VO", type: "f32", access: "read_write", ref: out(1) },
  ];
  const shared = `var<workgroup> cs: vec2f;\n${_ROT}`;
  const steps: Step[] = [];
  steps.push(dispatch(matrixKernel(
    batch,
    decls,
    shared,
    `
  let base = g * ${NN}u;
  for (var t = lid; t < ${NN}u; t = t + ${WG}u) {
    let i = t / ${n}u;
    let j = t % ${n}u;
    S[base + t] = 0.5 * (A[base + t] + A[base + j * ${n}u + i]);
    V[base + t] = select(0.0, 1.0, i == j);
  }`,
  )));
  for (let sweep = 0; sweep < EIGH_SWEEPS; sweep++) {
    for (const [p0, p1] of rows) {
      steps.push(dispatch(matrixKernel(
        batch,
        decls,
        shared,
        `
  let base = g * ${NN}u;
  for (var p = ${p0}u; p < ${p1}u; p = p + 1u) {
    for (var q = p + 1u; q < ${n}u; q = q + 1u) {
      if (lid == 0u) {
        cs = _rot(S[base + p * ${n}u + p], S[base + q * ${n}u + q], S[base + p * ${n}u + q]);
      }
      ${_SYNC}
      let c = cs.x;
      let s = cs.y;
      if (s != 0.0) {
        for (var k = lid; k < ${n}u; k = k + ${WG}u) {
          let akp = S[base + k * ${n}u + p];
          let akq = S[base + k * ${n}u + q];
          S[base + k * ${n}u + p] = c * akp - s * akq;
          S[base + k * ${n}u + q] = s * akp + c * akq;
        }
      }
      ${_SYNC}
      if (s != 0.0) {
        for (var k = lid; k < ${n}u; k = k + ${WG}u) {
          let apk = S[base + p * ${n}u + k];
          let aqk = S[base + q * ${n}u + k];
          S[base + p * ${n}u + k] = c * apk - s * aqk;
          S[base + q * ${n}u + k] = s * apk + c * aqk;
          let vkp = V[base + k * ${n}u + p];
          let vkq = V[base + k * ${n}u + q];
          V[base + k * ${n}u + p] = c * vkp - s * vkq;
          V[base + k * ${n}u + q] = s * vkp + c * vkq;
        }
      }
      ${_SYNC}
    }
  }`,
      )));
    }
  }
  // rank of eigenvalue i = #{j : w_j < w_i or (w_j == w_i and j < i)}; ascending order
  steps.push(dispatch(matrixKernel(
    batch,
    decls,
    shared,
    `
  let base = g * ${NN}u;
  for (var i = lid; i < ${n}u; i = i + ${WG}u) {
    let wi = S[base + i * ${n}u + i];
    var r = 0u;
    for (var j = 0u; j < ${n}u; j = j + 1u) {
      let wj = S[base + j * ${n}u + j];
      if (wj < wi || (wj == wi && j < i)) { r = r + 1u; }
    }
    W[g * ${n}u + r] = wi;
    for (var k = 0u; k < ${n}u; k = k + 1u) {
      VO[base + k * ${n}u + r] = V[base + k * ${n}u + i];
    }
  }`,
  )));
  return { steps, temps: [NN * batch * 4, NN * batch * 4] };
}

// ------------------------------------------------------------------ svd

/** Sweeps of the one-sided Jacobi SVD (each rotation past convergence is skipped). */
export const SVD_SWEEPS = 12;

/**
 * Reduced SVD of `batch` m×n matrices: input 0 → (U m×k: output 0, s k: output 1, Vt k×n:
 * output 2). Works on the M×N tall matrix T = A (m ≥ n) or Aᵀ (m < n), N = k.
 */
export function svdPlan(batch: number, m: number, n: number): Plan {
  const wide = m < n;
  const M = wide ? n : m, N = wide ? m : n, k = N;
  const decls: BindingDecl[] = [
    { name: "A", type: "f32", access: "read", ref: inp(0) },
    { name: "T", type: "f32", access: "read_write", ref: tmp(0) },
    { name: "V", type: "f32", access: "read_write", ref: tmp(1) },
    { name: "U", type: "f32", access: "read_write", ref: out(0) },
    { name: "S", type: "f32", access: "read_write", ref: out(1) },
    { name: "VT", type: "f32", access: "read_write", ref: out(2) },
    { name: "RK", type: "f32", access: "read_write", ref: tmp(2) },
  ];
  const shared = `var<workgroup> cs: vec2f;
var<workgroup> ra: array<f32, ${WG}>;
var<workgroup> rb: array<f32, ${WG}>;
var<workgroup> rg: array<f32, ${WG}>;`;
  const steps: Step[] = [];
  // T[i, j] (M×N) and V = I (N×N)
  steps.push(dispatch(matrixKernel(
    batch,
    decls,
    shared,
    `
  for (var t = lid; t < ${M * N}u; t = t + ${WG}u) {
    let i = t / ${N}u;
    let j = t % ${N}u;
    T[g * ${M * N}u + t] = A[g * ${m * n}u + ${wide ? `j * ${n}u + i` : "t"}];
  }
  for (var t = lid; t < ${N * N}u; t = t + ${WG}u) {
    V[g * ${N * N}u + t] = select(0.0, 1.0, t / ${N}u == t % ${N}u);
  }`,
  )));
  const perRot = 2 * cdiv(M, WG) + cdiv(N, WG) + Math.log2(WG) + 8;
  const rows = chunks(N, (p) => (N - p - 1) * perRot + 1);
  for (let sweep = 0; sweep < SVD_SWEEPS; sweep++) {
    for (const [p0, p1] of rows) {
      steps.push(dispatch(matrixKernel(
        batch,
        decls,
        shared,
        `
  let tb = g * ${M * N}u;
  let vb = g * ${N * N}u;
  for (var p = ${p0}u; p < ${p1}u; p = p + 1u) {
    for (var q = p + 1u; q < ${N}u; q = q + 1u) {
      var al = 0.0;
      var be = 0.0;
      var ga = 0.0;
      for (var i = lid; i < ${M}u; i = i + ${WG}u) {
        let x = T[tb + i * ${N}u + p];
        let y = T[tb + i * ${N}u + q];
        al = al + x * x;
        be = be + y * y;
        ga = ga + x * y;
      }
      ra[lid] = al;
      rb[lid] = be;
      rg[lid] = ga;
      workgroupBarrier();
      for (var st = ${WG / 2}u; st > 0u; st = st >> 1u) {
        if (lid < st) {
          ra[lid] = ra[lid] + ra[lid + st];
          rb[lid] = rb[lid] + rb[lid + st];
          rg[lid] = rg[lid] + rg[lid + st];
        }
        workgroupBarrier();
      }
      if (lid == 0u) {
        let a = ra[0];
        let b = rb[0];
        let gm = rg[0];
        if (gm == 0.0 || abs(gm) <= 1e-7 * sqrt(a * b)) {
          cs = vec2f(1.0, 0.0);
        } else {
          let zeta = (b - a) / (2.0 * gm);
          var t: f32;
          if (abs(zeta) > 1e18) { t = 0.5 / zeta; } else {
            t = select(-1.0, 1.0, zeta >= 0.0) / (abs(zeta) + sqrt(1.0 + zeta * zeta));
          }
          let c = inverseSqrt(1.0 + t * t);
          cs = vec2f(c, c * t);
        }
      }
      ${_SYNC}
      let c = cs.x;
      let s = cs.y;
      if (s != 0.0) {
        for (var i = lid; i < ${M}u; i = i + ${WG}u) {
          let x = T[tb + i * ${N}u + p];
          let y = T[tb + i * ${N}u + q];
          T[tb + i * ${N}u + p] = c * x - s * y;
          T[tb + i * ${N}u + q] = s * x + c * y;
        }
        for (var i = lid; i < ${N}u; i = i + ${WG}u) {
          let x = V[vb + i * ${N}u + p];
          let y = V[vb + i * ${N}u + q];
          V[vb + i * ${N}u + p] = c * x - s * y;
          V[vb + i * ${N}u + q] = s * x + c * y;
        }
      }
      ${_SYNC}
    }
  }`,
      )));
    }
  }
  // norms, ranks (descending, ties by index), then U, s, Vt; for a wide input U ← V, Vt ← Tᵀ
  const uAt = (i: string, r: string) => `U[g * ${m * k}u + (${i}) * ${k}u + (${r})]`;
  const vtAt = (r: string, c: string) => `VT[g * ${k * n}u + (${r}) * ${n}u + (${c})]`;
  // the columns of the M-long factor (T-derived) and the N-long one (V)
  const longAt = wide ? (i: string, r: string) => vtAt(r, i) : uAt;
  const shortAt = wide ? uAt : (i: string, r: string) => vtAt(r, i);
  steps.push(dispatch(matrixKernel(
    batch,
    decls,
    `${shared}\nvar<workgroup> smax: f32;`,
    `
  let tb = g * ${M * N}u;
  let vb = g * ${N * N}u;
  for (var j = lid; j < ${N}u; j = j + ${WG}u) {
    var s2 = 0.0;
    for (var i = 0u; i < ${M}u; i = i + 1u) { let x = T[tb + i * ${N}u + j]; s2 = s2 + x * x; }
    S[g * ${k}u + j] = sqrt(s2);
  }
  ${_SYNC}
  for (var j = lid; j < ${N}u; j = j + ${WG}u) {
    let sj = S[g * ${k}u + j];
    var r = 0u;
    for (var l = 0u; l < ${N}u; l = l + 1u) {
      let sl = S[g * ${k}u + l];
      if (sl > sj || (sl == sj && l < j)) { r = r + 1u; }
    }
    for (var i = 0u; i < ${M}u; i = i + 1u) {
      ${longAt("i", "r")} = select(0.0, T[tb + i * ${N}u + j] / sj, sj > 0.0);
    }
    for (var i = 0u; i < ${N}u; i = i + 1u) { ${shortAt("i", "r")} = V[vb + i * ${N}u + j]; }
    RK[g * ${2 * N}u + j] = sj;
    RK[g * ${2 * N}u + ${N}u + j] = f32(r);
  }
  ${_SYNC}
  // (s_j, rank_j) were kept aside: S is read above while ranks are computed
  for (var j = lid; j < ${N}u; j = j + ${WG}u) {
    S[g * ${k}u + u32(RK[g * ${2 * N}u + ${N}u + j])] = RK[g * ${2 * N}u + j];
  }
  ${_SYNC}
  if (lid == 0u) {
    let tol = S[g * ${k}u] * ${(1e-6 * Math.max(M, 1)).toExponential()};
    for (var r = 0u; r < ${N}u; r = r + 1u) {
      if (S[g * ${k}u + r] > tol) { continue; }
      // complete column r of the long factor with a unit vector orthogonal to columns < r
      for (var e = 0u; e < ${M}u; e = e + 1u) {
        for (var i = 0u; i < ${M}u; i = i + 1u) { ${longAt("i", "r")} = select(0.0, 1.0, i == e); }
        for (var rep = 0u; rep < 2u; rep = rep + 1u) {
          for (var c = 0u; c < r; c = c + 1u) {
            var d = 0.0;
            for (var i = 0u; i < ${M}u; i = i + 1u) { d = d + ${longAt("i", "c")} * ${
      longAt("i", "r")
    }; }
            for (var i = 0u; i < ${M}u; i = i + 1u) {
              ${longAt("i", "r")} = ${longAt("i", "r")} - d * ${longAt("i", "c")};
            }
          }
        }
        var nn = 0.0;
        for (var i = 0u; i < ${M}u; i = i + 1u) { nn = nn + ${longAt("i", "r")} * ${
      longAt("i", "r")
    }; }
        nn = sqrt(nn);
        if (nn > 0.5) {
          for (var i = 0u; i < ${M}u; i = i + 1u) { ${longAt("i", "r")} = ${
      longAt("i", "r")
    } / nn; }
          break;
        }
      }
    }
  }`,
  )));
  return { steps, temps: [batch * M * N * 4, batch * N * N * 4, batch * 2 * N * 4] };
}
