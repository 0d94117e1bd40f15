/**
 * The window selections behind max/min pooling's derivatives (`select_and_gather_add`,
 * `select_and_scatter_add`) on the backend under test: against a loop over the definition
 * (first NaN, else first extremum, among taps on the operand), the adjoint identity between the
 * two, vmap against a loop, jit against eager, and pooling gradients against central
 * differences.
 */
import { BACKEND, checkDirectionalGrad, fdTol } from "./backend.ts";
import { assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { distinctValues, flat, rng } from "./helpers.ts";
import { grad, jit, lax, makeJaxpr, np, type Tensor, vmap } from "../mod.ts";
import { selectAndGatherAdd, selectAndScatterAdd } from "../core/prims/window_select.ts";
import { windowOutShape, type WindowParams } from "../core/prims/window_base.ts";

interface Case {
  readonly name: string;
  readonly shape: number[];
  readonly p: WindowParams;
}

const _p = (
  op: "max" | "min",
  win: number[],
  str: number[],
  pad: [number, number][],
  base = [1, 1],
  wdil = [1, 1],
): WindowParams => ({
  op,
  windowDimensions: [1, 1, ...win],
  windowStrides: [1, 1, ...str],
  padding: [[0, 0], [0, 0], ...pad],
  baseDilation: [1, 1, ...base],
  windowDilation: [1, 1, ...wdil],
});

const CASES: readonly Case[] = [
  { name: "max 2×2 stride 2", shape: [2, 3, 6, 6], p: _p("max", [2, 2], [2, 2], [[0, 0], [0, 0]]) },
  {
    name: "max 3×3 stride 2 padded (overlapping)",
    shape: [2, 2, 7, 6],
    p: _p("max", [3, 3], [2, 2], [[1, 1], [1, 2]]),
  },
  {
    name: "min 2×3 stride 1, base and window dilation",
    shape: [1, 2, 5, 6],
    p: _p("min", [2, 3], [1, 2], [[1, 0], [0, 1]], [2, 1], [1, 2]),
  },
  {
    // padding wider than the window: the corner windows lie wholly in the padding
    name: "max 2×2 stride 3, windows over padding alone",
    shape: [1, 1, 4, 4],
    p: _p("max", [2, 2], [3, 3], [[3, 2], [3, 2]]),
  },
];

/** The selected flat index of every window, from the definition (−1: no tap on the operand). */
function selectedLoop(x: readonly number[], shape: readonly number[], p: WindowParams): number[] {
  const os = windowOutShape(shape, p);
  const [N, C, H, W] = shape, [, , OH, OW] = os;
  const [, , kh, kw] = p.windowDimensions, [, , sh, sw] = p.windowStrides;
  const [, , bh, bw] = p.baseDilation, [, , dh, dw] = p.windowDilation;
  const ph = p.padding[2][0], pw = p.padding[3][0];
  const sel: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < OH; y++) {
        for (let z = 0; z < OW; z++) {
          let at = -1;
          for (let a = 0; a < kh; a++) {
            for (let b = 0; b < kw; b++) {
              const qh = y * sh + a * dh - ph, qw = z * sw + b * dw - pw;
              if (qh < 0 || qw < 0 || qh % bh || qw % bw) continue;
              const r = qh / bh, s = qw / bw;
              if (r >= H || s >= W) continue;
              const k = ((n * C + c) * H + r) * W + s;
              if (at >= 0 && Number.isNaN(x[at])) continue;
              const better = p.op === "max" ? x[k] > x[at] : x[k] < x[at];
              if (at < 0 || Number.isNaN(x[k]) || better) at = k;
            }
          }
          sel.push(at);
        }
      }
    }
  }
  return sel;
}

const arr = (d: readonly number[], shape: number[]) => np.array(new Float32Array(d), { shape });

function values(n: number, seed: number, ties: boolean): number[] {
  // with ties: values on a coarse grid, so windows hold equal extrema (the first one wins);
  // without: random reals (distinct almost surely)
  const r = rng(seed);
  return Array.from({ length: n }, () => (ties ? Math.floor(r() * 4) : r() * 4 - 2));
}

for (const c of CASES) {
  for (const ties of [false, true]) {
    Deno.test(`window selections match their definition: ${c.name}${ties ? ", ties" : ""}`, async () => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const xv = values(n, 3, ties), tv = values(n, 4, false);
      const os = windowOutShape(c.shape, c.p), on = os.reduce((a, b) => a * b, 1);
      const cv = values(on, 5, false);
      const sel = selectedLoop(xv, c.shape, c.p);
      const wantG = sel.map((k) => (k < 0 ? 0 : tv[k]));
      const wantS = new Array(n).fill(0);
      sel.forEach((k, o) => {
        if (k >= 0) wantS[k] += cv[o];
      });
      const x = arr(xv, c.shape);
      const g = selectAndGatherAdd(arr(tv, c.shape), x, c.p);
      const s = selectAndScatterAdd(arr(cv, os), x, c.p);
      assertEquals(g.shape, os);
      assertEquals(s.shape, c.shape);
      assertAllClose(await flat(g), wantG, { rtol: 1e-6, atol: 1e-6 });
      assertAllClose(await flat(s), wantS, { rtol: 1e-6, atol: 1e-6 });
      // the two are adjoint: ⟨gather(t), c⟩ = ⟨t, scatter(c)⟩
      const lhs = (await flat(g)).reduce((a, v, i) => a + v * cv[i], 0);
      const rhs = (await flat(s)).reduce((a, v, i) => a + v * tv[i], 0);
      assertAllClose(lhs, rhs, { rtol: 1e-4 });
    });
  }
}

Deno.test("a window with a NaN selects its first NaN", async () => {
  const c = CASES[1];
  const n = c.shape.reduce((a, b) => a * b, 1);
  const xv = distinctValues(n, 9);
  for (const k of [0, 8, 9, 20, 41, 50]) xv[k] = NaN;
  const tv = Array.from({ length: n }, (_, i) => i + 1);
  const sel = selectedLoop(xv, c.shape, c.p);
  const g = selectAndGatherAdd(arr(tv, c.shape), arr(xv, c.shape), c.p);
  assertEquals(await flat(g), sel.map((k) => (k < 0 ? 0 : tv[k])));
});

Deno.test("the selections' errors name the op and the operands", () => {
  const x = np.ones([1, 1, 4, 4]);
  const p = _p("max", [2, 2], [2, 2], [[0, 0], [0, 0]]);
  assertThrows(() => selectAndGatherAdd(np.ones([1, 1, 4, 3]), x, p), TypeError, "shape and dtype");
  assertThrows(() => selectAndScatterAdd(np.ones([1, 1, 3, 2]), x, p), TypeError, "f32[1,1,2,2]");
  assertThrows(
    () => selectAndGatherAdd(x, x, { ...p, op: "sum" }),
    TypeError,
    "select_and_gather_add",
  );
});

Deno.test("vmap of both selections matches a loop, with either operand unbatched", async () => {
  const c = CASES[1], B = 3;
  const os = windowOutShape(c.shape, c.p);
  const n = c.shape.reduce((a, b) => a * b, 1), on = os.reduce((a, b) => a * b, 1);
  const xs = arr(values(B * n, 11, false), [B, ...c.shape]);
  const ts = arr(values(B * n, 12, false), [B, ...c.shape]);
  const cs = arr(values(B * on, 13, false), [B, ...os]);
  const x0 = arr(values(n, 14, false), c.shape);
  const g = (t: Tensor, x: Tensor) => selectAndGatherAdd(t, x, c.p);
  const s = (ct: Tensor, x: Tensor) => selectAndScatterAdd(ct, x, c.p);
  const row = (t: Tensor, b: number) => t.index(b);
  const stack = (f: (b: number) => Tensor) => np.stack(Array.from({ length: B }, (_, b) => f(b)));
  const checks: [Tensor, Tensor][] = [
    [vmap(g)(ts, xs), stack((b) => g(row(ts, b), row(xs, b)))],
    [vmap(g, { inAxes: [0, null] })(ts, x0), stack((b) => g(row(ts, b), x0))],
    [vmap(s)(cs, xs), stack((b) => s(row(cs, b), row(xs, b)))],
    [vmap(s, { inAxes: [0, null] })(cs, x0), stack((b) => s(row(cs, b), x0))],
    [vmap(s, { inAxes: [null, 0] })(row(cs, 0), xs), stack((b) => s(row(cs, 0), row(xs, b)))],
  ];
  for (const [got, want] of checks) assertAllClose(await flat(got), await flat(want));
});

Deno.test("max-pool gradients: jit matches eager and both match central differences", async () => {
  const c = CASES[1];
  const x = arr(distinctValues(c.shape.reduce((a, b) => a * b, 1), 21), c.shape);
  const os = windowOutShape(c.shape, c.p);
  const r = arr(distinctValues(os.reduce((a, b) => a * b, 1), 22), os);
  const pool = (a: Tensor) =>
    lax.reduceWindow(a, "max", {
      windowDimensions: c.p.windowDimensions,
      windowStrides: c.p.windowStrides,
      padding: c.p.padding as [number, number][],
    });
  const f = (a: Tensor) => pool(a).mul(r).sum();
  const eager = await flat(grad(f)(x));
  assertAllClose(await flat(jit(grad(f))(x)), eager);
  await checkDirectionalGrad(f, x, 23, fdTol({ h: 2 ** -12, rtol: 1e-6, atol: 1e-6 }));
  // second order: the gradient of ⟨∇f, r'⟩ flows through select_and_scatter_add's JVP
  const r2 = arr(distinctValues(c.shape.reduce((a, b) => a * b, 1), 24), c.shape);
  const h = (a: Tensor) => grad(f)(a.mul(a)).mul(r2).sum();
  await checkDirectionalGrad(h, x, 25, fdTol({ h: 2 ** -12, rtol: 1e-5, atol: 1e-5 }));
  const prims = makeJaxpr(grad(f))(x).jaxpr.eqns.map((e) => e.prim.name);
  assertEquals(prims.includes("select_and_scatter_add"), true, `${BACKEND}: ${prims}`);
});
