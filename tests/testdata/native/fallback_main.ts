// Run by tests/native_test.ts in a subprocess (with DENAX_BLAS or without --allow-ffi): prints
// the backend's description and a product on stdout; the fallback notice goes to stderr.
import { init, lax, np } from "../../../mod.ts";
const { description } = await init({ backend: "native" });
const a = np.array([[1, 2, 3], [4, 5, 6]]), b = np.array([[1, 0], [0, 1], [2, -1]]);
const x = np.array(Array.from({ length: 16 }, (_, i) => i), { shape: [1, 1, 4, 4], dtype: "f32" });
const w = np.ones([1, 1, 2, 2]);
console.log(JSON.stringify({
  description,
  product: await a.matmul(b).toArray(),
  conv: await lax.convGeneralDilated(x, w, { windowStrides: [2, 2] }).toArray(),
}));
