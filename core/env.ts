/**
 * Environment variables for the core (`DENAX_BACKEND`, `DENAX_STRICT`, `DENAX_CHECKS`), read
 * without requiring `--allow-env`. STYLE keeps `Deno.*` out of the core; this module is the
 * one exception, guarded (`globalThis.Deno?.…`) so the core still loads in a browser, where
 * every variable reads as unset.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any -- Deno may be absent (a browser) and is read untyped to stay lib-independent
const deno = (): any => (globalThis as any).Deno;

/** Whether the process may read `name` without a prompt (true outside Deno). */
function envReadable(name: string): boolean {
  const perms = deno()?.permissions;
  if (!perms?.querySync) return deno()?.env !== undefined;
  try {
    return perms.querySync({ name: "env", variable: name }).state === "granted";
  } catch {
    return false;
  }
}

const _warned = new Set<string>();

/**
 * Reads an environment variable, or undefined when unset, empty, or not readable (no
 * `--allow-env`, or not running in Deno). Never prompts and never throws.
 *
 * @param name The variable.
 * @param warn When true and the variable cannot be read for lack of permission, says so once
 *   on stderr (used for `DENAX_BACKEND`, whose silent loss would run on another backend).
 * @returns The value.
 * @example
 * ```ts
 * import { env } from "./env.ts";
 * const backend = env("DENAX_BACKEND");
 * console.log(backend ?? "unset");
 * if (backend !== (Deno.env.get("DENAX_BACKEND") || undefined)) throw new Error(`got ${backend}`);
 * ```
 */
export function env(name: string, warn = false): string | undefined {
  const d = deno();
  if (!d?.env) return undefined;
  if (!envReadable(name)) {
    if (warn && !_warned.has(name)) {
      _warned.add(name);
      console.error(
        `denax: cannot read ${name} without --allow-env, so it is ignored if set\n` +
          `help: run with --allow-env (or --allow-env=${name}), or pass init({ backend })`,
      );
    }
    return undefined;
  }
  try {
    return d.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

let _checks: boolean | undefined;

/**
 * Whether checked mode is on: `DENAX_CHECKS=1`, read once. In checked mode, value checks that
 * cannot run while tracing (class indices of losses, embedding indices, probabilities of
 * binary cross-entropy) run inside jitted programs too: the program computes an error flag
 * as an extra output and the jit wrapper raises when it is set.
 *
 * @returns Whether checked mode is on.
 * @example
 * ```ts
 * import { checksEnabled, env } from "./env.ts";
 * const v = checksEnabled();
 * console.log(v); // false unless DENAX_CHECKS=1
 * if (v !== (env("DENAX_CHECKS") === "1")) throw new Error(`got ${v}`);
 * ```
 */
export function checksEnabled(): boolean {
  return _checks ??= env("DENAX_CHECKS") === "1";
}

/**
 * Turns checked mode on or off for this process (tests; overrides `DENAX_CHECKS`).
 *
 * @param on Whether jitted programs check values.
 * @example
 * ```ts
 * import { checksEnabled, setChecks } from "./env.ts";
 * const before = checksEnabled();
 * setChecks(true);
 * if (!checksEnabled()) throw new Error("checked mode should be on");
 * setChecks(before);
 * ```
 */
export function setChecks(on: boolean): void {
  _checks = on;
}

/**
 * The URL of one of denax's own modules (a worker's script), seen from the module at `base`
 * (its `import.meta.url`): `source`, relative to `base`, when denax runs from its TypeScript
 * sources (local or remote); `bundled`, relative to the bundle's folder, when `base` is a chunk
 * of the bundle that `tools/bundle.ts` writes (all its chunks lie in that one folder).
 *
 * @param base The calling module's `import.meta.url`.
 * @param source The module's path from the calling source file, e.g. `"./pool_worker.ts"`.
 * @param bundled The module's path in the bundle, e.g. `"./native/pool_worker.js"`.
 * @returns The module's URL.
 */
export function ownModuleUrl(base: string, source: string, bundled: string): URL {
  return new URL(inBundle(base) ? bundled : source, base);
}

/**
 * Whether the module at `url` (an `import.meta.url`) is a chunk of denax's bundle
 * (`tools/bundle.ts`) rather than one of its TypeScript sources, local or remote.
 *
 * @param url The module's URL.
 * @returns True for a bundle's chunk.
 */
export function inBundle(url: string): boolean {
  return !/\.ts$/.test(new URL(url).pathname);
}
