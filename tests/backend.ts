/**
 * Imported first by test files whose results must hold on every backend: selects the backend
 * named by `DENAX_BACKEND` (default cpu), so `DENAX_BACKEND=webgpu deno task test` runs them
 * on WebGPU.
 *
 * @module
 */
import { init } from "../mod.ts";

/** The backend the tests run on. */
export const BACKEND: string = Deno.env.get("DENAX_BACKEND") ?? "cpu";
await init({ backend: BACKEND });
