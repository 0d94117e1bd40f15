/**
 * Matrix decompositions on the GPU: `cholesky`, `triangular_solve`, `lu`, `qr` here, `eigh`
 * and `svd` in `linalg_jacobi.ts`.
 *
 * One workgroup of {@link WG} invocations per matrix (the batch index is the workgroup index,
 * folded into a 2-D grid past 65535). Each matrix is worked on in storage buffers (its output
 * or a temporary of the plan), with the invocations splitting the inner loops and barriers
 * between the steps of the algorithm:
 *
 * - `cholesky`: right-looking, one column per step;
 * - `triangular_solve`: column-oriented substitution, one row per step;
 * - `lu`: right-looking Gaussian elimination with partial pivoting;
 * - `eigh`: cyclic Jacobi rotations (each rotation's row/column updates split across the
 *   workgroup), a fixed number of sweeps with a per-rotation convergence test (rotations whose
 *   off-diagonal entry is negligible are skipped), then eigenvalues ranked ascending;
 * - `svd`: one-sided Jacobi (Hestenes) on the columns of the matrix (or of its transpose when
 *   it is wide), the column dot products reduced in workgroup memory; singular values are the
 *   final column norms, ranked descending; columns of `U` for zero singular values are completed
 *   by Gram–Schmidt;
 * - `qr`: Householder reflections, one column per step.
 *
 * llvmpipe ends an invocation's loops after 65535 back-edges in total ({@link
 * MAX_LOOP_ITERATIONS}), so each plan splits its steps into several dispatches whose
 * per-invocation loop count stays under {@link _BUDGET}.
 *
 * @module
 */
import {
  type BindingDecl,
  declareBindings,
  foldGrid,
  inp,
  type Kernel,
  out,
  type Plan,
  type Step,
  tmp,
} from "./common.ts";

/** Invocations per workgroup (one workgroup per matrix). */
export const WG = 64;
/** Loop iterations one dispatch may spend per invocation (well under llvmpipe's 65535). */
const _BUDGET = 20000;
/** A quiet NaN as WGSL. */
export const _NAN = "bitcast<f32>(0x7fc00000u)";
/** Orders storage and workgroup memory across the workgroup. */
export const _SYNC = "storageBarrier(); workgroupBarrier();";

/** Ceiling division. */
export const cdiv = (a: number, b: number) => Math.ceil(a / b);

/** Splits steps 0…count−1 into ranges whose summed costs stay under the budget. */
export function chunks(count: number, cost: (s: number) => number): [number, number][] {
  const res: [number, number][] = [];
  let lo = 0, acc = 0;
  for (let s = 0; s < count; s++) {
    const c = cost(s);
    if (s > lo && acc + c > _BUDGET) {
      res.push([lo, s]);
      lo = s;
      acc = 0;
    }
    acc += c;
  }
  if (count > lo || res.length === 0) res.push([lo, count]);
  return res;
}

/** A workgroup-per-matrix kernel around `body` (which sees `g`, `lid` and the bindings). */
export function matrixKernel(
  batch: number,
  allDecls: BindingDecl[],
  shared: string,
  body: string,
): Kernel {
  // only the buffers the body uses are bound (the pipeline's layout omits unused ones)
  const decls = allDecls.filter((d) => new RegExp(`\\b${d.name}\\[`).test(body));
  const grid = foldGrid(batch);
  const wgsl = `${declareBindings(decls)}
${shared}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  if (g >= ${batch}u) { return; }
${body}
}
`;
  return {
    wgsl,
    workgroupSize: [WG, 1, 1],
    dispatch: grid.dispatch,
    bindings: decls.map((d) => d.ref),
  };
}

/** A dispatch step. */
export const dispatch = (kernel: Kernel): Step => ({ kind: "dispatch", kernel });

// ------------------------------------------------------------------ cholesky

/**
 * Cholesky factors of `batch` n×n matrices: input 0 → output 0 (lower; NaNs where a matrix is
 * not positive definite).
 */
export function choleskyPlan(batch: number, n: number): Plan {
  const NN = n * n;
  const ranges = chunks(n, (k) => cdiv((n - k) * (n - k), WG) + cdiv(n, WG) + 4);
  const steps = ranges.map(([k0, k1], c) => {
    const first = c === 0, last = c === ranges.length - 1;
    const body = `
  let base = g * ${NN}u;
  ${
      first
        ? `for (var t = lid; t < ${NN}u; t = t + ${WG}u) {
    L[base + t] = select(0.0, A[base + t], t % ${n}u <= t / ${n}u);
  }
  ${_SYNC}`
        : ""
    }
  for (var k = ${k0}u; k < ${k1}u; k = k + 1u) {
    if (lid == 0u) {
      let s = L[base + k * ${n}u + k];
      var d = sqrt(max(s, 0.0));
      if (!(s > 0.0)) { d = ${_NAN}; }
      L[base + k * ${n}u + k] = d;
      dsh = d;
    }
    ${_SYNC}
    let d = dsh;
    for (var i = k + 1u + lid; i < ${n}u; i = i + ${WG}u) {
      L[base + i * ${n}u + k] = L[base + i * ${n}u + k] / d;
    }
    ${_SYNC}
    let r = ${n}u - k - 1u;
    for (var t = lid; t < r * r; t = t + ${WG}u) {
      let i = k + 1u + t / r;
      let j = k + 1u + t % r;
      if (j <= i) {
        L[base + i * ${n}u + j] = L[base + i * ${n}u + j] - L[base + i * ${n}u + k] * L[base + j * ${n}u + k];
      }
    }
    ${_SYNC}
  }
  ${
      last
        ? `var bad = false;
  for (var i = 0u; i < ${n}u; i = i + 1u) {
    if ((bitcast<u32>(L[base + i * ${n}u + i]) & 0x7fffffffu) > 0x7f800000u) { bad = true; }
  }
  if (bad) {
    for (var t = lid; t < ${NN}u; t = t + ${WG}u) { L[base + t] = ${_NAN}; }
  }`
        : ""
    }`;
    return dispatch(matrixKernel(
      batch,
      [
        { name: "A", type: "f32", access: "read", ref: inp(0) },
        { name: "L", type: "f32", access: "read_write", ref: out(0) },
      ],
      "var<workgroup> dsh: f32;",
      body,
    ));
  });
  return { steps, temps: [] };
}

// ------------------------------------------------------------------ triangular_solve

/** Solves `op(a)·x = b` for `batch` triangular n×n `a` (input 0) and n×k `b` (input 1). */
export function triangularSolvePlan(
  batch: number,
  n: number,
  k: number,
  lower: boolean,
  transposeA: boolean,
  unitDiagonal: boolean,
): Plan {
  const effLower = lower !== transposeA;
  const opA = (r: string, c: string) =>
    transposeA ? `Am[abase + (${c}) * ${n}u + (${r})]` : `Am[abase + (${r}) * ${n}u + (${c})]`;
  const ranges = chunks(n, (s) => cdiv((n - s) * k, WG) + cdiv(k, WG) + 3);
  const steps = ranges.map(([s0, s1], c) => {
    const body = `
  let abase = g * ${n * n}u;
  let xbase = g * ${n * k}u;
  ${
      c === 0
        ? `for (var t = lid; t < ${n * k}u; t = t + ${WG}u) { X[xbase + t] = Bm[xbase + t]; }
  ${_SYNC}`
        : ""
    }
  for (var s = ${s0}u; s < ${s1}u; s = s + 1u) {
    let i = ${effLower ? "s" : `${n - 1}u - s`};
    ${
      unitDiagonal ? "" : `let d = ${opA("i", "i")};
    for (var c = lid; c < ${k}u; c = c + ${WG}u) {
      X[xbase + i * ${k}u + c] = X[xbase + i * ${k}u + c] / d;
    }
    ${_SYNC}`
    }
    let cnt = (${n - 1}u - s) * ${k}u;
    for (var t = lid; t < cnt; t = t + ${WG}u) {
      let rr = t / ${k}u;
      let c = t % ${k}u;
      let r = ${effLower ? "i + 1u + rr" : "i - 1u - rr"};
      X[xbase + r * ${k}u + c] = X[xbase + r * ${k}u + c] - ${
      opA("r", "i")
    } * X[xbase + i * ${k}u + c];
    }
    ${_SYNC}
  }`;
    return dispatch(matrixKernel(
      batch,
      [
        { name: "Am", type: "f32", access: "read", ref: inp(0) },
        { name: "Bm", type: "f32", access: "read", ref: inp(1) },
        { name: "X", type: "f32", access: "read_write", ref: out(0) },
      ],
      "",
      body,
    ));
  });
  return { steps, temps: [] };
}

// ------------------------------------------------------------------ lu

/** LU with partial pivoting of `batch` n×n matrices: input 0 → (lu: output 0, perm: output 1). */
export function luPlan(batch: number, n: number): Plan {
  const NN = n * n;
  const ranges = chunks(n, (k) => cdiv((n - k) * (n - k), WG) + 2 * cdiv(n, WG) + (n - k) + 4);
  const steps = ranges.map(([k0, k1], c) => {
    const body = `
  let base = g * ${NN}u;
  let pb = g * ${n}u;
  ${
      c === 0
        ? `for (var t = lid; t < ${NN}u; t = t + ${WG}u) { M[base + t] = A[base + t]; }
  for (var t = lid; t < ${n}u; t = t + ${WG}u) { P[pb + t] = i32(t); }
  ${_SYNC}`
        : ""
    }
  for (var k = ${k0}u; k < ${k1}u; k = k + 1u) {
    if (lid == 0u) {
      var p = k;
      var best = abs(M[base + k * ${n}u + k]);
      for (var i = k + 1u; i < ${n}u; i = i + 1u) {
        let v = abs(M[base + i * ${n}u + k]);
        if (v > best) { best = v; p = i; }
      }
      piv = p;
      if (p != k) {
        let tp = P[pb + k];
        P[pb + k] = P[pb + p];
        P[pb + p] = tp;
      }
    }
    ${_SYNC}
    let p = piv;
    if (p != k) {
      for (var j = lid; j < ${n}u; j = j + ${WG}u) {
        let t = M[base + k * ${n}u + j];
        M[base + k * ${n}u + j] = M[base + p * ${n}u + j];
        M[base + p * ${n}u + j] = t;
      }
    }
    ${_SYNC}
    let d = M[base + k * ${n}u + k];
    if (d != 0.0) {
      for (var i = k + 1u + lid; i < ${n}u; i = i + ${WG}u) {
        M[base + i * ${n}u + k] = M[base + i * ${n}u + k] / d;
      }
    }
    ${_SYNC}
    let r = ${n}u - k - 1u;
    if (d != 0.0) {
      for (var t = lid; t < r * r; t = t + ${WG}u) {
        let i = k + 1u + t / r;
        let j = k + 1u + t % r;
        M[base + i * ${n}u + j] = M[base + i * ${n}u + j] - M[base + i * ${n}u + k] * M[base + k * ${n}u + j];
      }
    }
    ${_SYNC}
  }`;
    return dispatch(matrixKernel(
      batch,
      [
        { name: "A", type: "f32", access: "read", ref: inp(0) },
        { name: "M", type: "f32", access: "read_write", ref: out(0) },
        { name: "P", type: "i32", access: "read_write", ref: out(1) },
      ],
      "var<workgroup> piv: u32;",
      body,
    ));
  });
  return { steps, temps: [] };
}

// ------------------------------------------------------------------ qr

/** Reduced QR of `batch` m×n matrices: input 0 → (Q m×k: output 0, R k×n: output 1). */
export function qrPlan(batch: number, m: number, n: number): Plan {
  const k = Math.min(m, n);
  const decls: BindingDecl[] = [
    { name: "A", type: "f32", access: "read", ref: inp(0) },
    { name: "R", type: "f32", access: "read_write", ref: tmp(0) },
    { name: "Q", type: "f32", access: "read_write", ref: tmp(1) },
    { name: "Vh", type: "f32", access: "read_write", ref: tmp(2) },
    { name: "QO", type: "f32", access: "read_write", ref: out(0) },
    { name: "RO", type: "f32", access: "read_write", ref: out(1) },
  ];
  const shared = "var<workgroup> vnw: f32;";
  const ranges = chunks(k, (j) => 3 * (m - j) + cdiv(n, WG) * 2 * m + cdiv(m, WG) * 2 * m + 4);
  const steps: Step[] = [];
  steps.push(dispatch(matrixKernel(
    batch,
    decls,
    shared,
    `
  for (var t = lid; t < ${m * n}u; t = t + ${WG}u) { R[g * ${m * n}u + t] = A[g * ${m * n}u + t]; }
  for (var t = lid; t < ${m * m}u; t = t + ${WG}u) {
    Q[g * ${m * m}u + t] = select(0.0, 1.0, t / ${m}u == t % ${m}u);
  }`,
  )));
  for (const [j0, j1] of ranges) {
    steps.push(dispatch(matrixKernel(
      batch,
      decls,
      shared,
      `
  let rb = g * ${m * n}u;
  let qb = g * ${m * m}u;
  let vb = g * ${m}u;
  for (var j = ${j0}u; j < ${j1}u; j = j + 1u) {
    if (lid == 0u) {
      var nrm = 0.0;
      for (var i = j; i < ${m}u; i = i + 1u) { let x = R[rb + i * ${n}u + j]; nrm = nrm + x * x; }
      nrm = sqrt(nrm);
      let alpha = select(nrm, -nrm, R[rb + j * ${n}u + j] > 0.0);
      var vn = 0.0;
      for (var i = j; i < ${m}u; i = i + 1u) {
        var v = R[rb + i * ${n}u + j];
        if (i == j) { v = v - alpha; }
        Vh[vb + i] = v;
        vn = vn + v * v;
      }
      vnw = select(vn, 0.0, nrm == 0.0);
    }
    ${_SYNC}
    let vn = vnw;
    if (vn > 0.0) {
      for (var c = lid; c < ${n}u; c = c + ${WG}u) {
        var s = 0.0;
        for (var i = j; i < ${m}u; i = i + 1u) { s = s + Vh[vb + i] * R[rb + i * ${n}u + c]; }
        s = 2.0 * s / vn;
        for (var i = j; i < ${m}u; i = i + 1u) {
          R[rb + i * ${n}u + c] = R[rb + i * ${n}u + c] - s * Vh[vb + i];
        }
      }
      for (var r = lid; r < ${m}u; r = r + ${WG}u) {
        var s = 0.0;
        for (var i = j; i < ${m}u; i = i + 1u) { s = s + Q[qb + r * ${m}u + i] * Vh[vb + i]; }
        s = 2.0 * s / vn;
        for (var i = j; i < ${m}u; i = i + 1u) {
          Q[qb + r * ${m}u + i] = Q[qb + r * ${m}u + i] - s * Vh[vb + i];
        }
      }
    }
    ${_SYNC}
  }`,
    )));
  }
  steps.push(dispatch(matrixKernel(
    batch,
    decls,
    shared,
    `
  for (var t = lid; t < ${m * k}u; t = t + ${WG}u) {
    QO[g * ${m * k}u + t] = Q[g * ${m * m}u + (t / ${k}u) * ${m}u + t % ${k}u];
  }
  for (var t = lid; t < ${k * n}u; t = t + ${WG}u) {
    let r = t / ${n}u;
    let c = t % ${n}u;
    RO[g * ${k * n}u + t] = select(R[g * ${m * n}u + r * ${n}u + c], 0.0, c < r);
  }`,
  )));
  return { steps, temps: [batch * m * n * 4, batch * m * m * 4, batch * m * 4] };
}
