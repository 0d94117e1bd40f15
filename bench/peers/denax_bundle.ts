/**
 * W5 for denax imported from its bundle (`tools/bundle.ts`): `dist/mod.js`, or the file that
 * `DENAX_BUNDLE` names. Importing this module imports the bundle (top-level await), so that
 * `cold.ts` times that import as it times the sources' one.
 *
 * @module
 */
import { type DenaxLib, firstStepLossWith } from "./denax_mlp.ts";

const url = Deno.env.get("DENAX_BUNDLE") ?? new URL("../../dist/mod.js", import.meta.url).href;
const dx: DenaxLib = await import(url).catch((e) => {
  throw new Error(`denax's bundle did not load from ${url} (build it: deno task bundle): ${e}`);
});

/** W5: initialises `backend`, runs the first jitted MLP step, and reads its loss back. */
export function firstStepLoss(backend = "webgpu"): Promise<number> {
  return firstStepLossWith(dx, backend);
}
