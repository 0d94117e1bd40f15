/**
 * Builds denax as a bundle: `dist/mod.js` (what `mod.ts` exports), its chunks and the two worker
 * modules (`dist/gpu/precompile_worker.js`, `dist/native/pool_worker.js`). Its types are the
 * sources': `mod.js` starts with a `@ts-self-types` directive naming `mod.ts` (the declarations
 * that `deno bundle --declaration` writes do not type-check with Deno 2.9.6).
 *
 * Why: Deno loads a program's TypeScript modules one by one, each looked up in its transpile
 * cache; the ~185 modules that `mod.ts` imports take ~55 ms to import on these machines, the
 * bundle ~15 ms (`bench/coldstart_bench.ts`, group `import`, and `bench/coldstart_breakdown.ts
 * --lib denax-bundle`). A process that starts often (a CLI, a serverless
 * function, W5's cold start) imports the bundle instead: `import { np } from "./dist/mod.js"`.
 * The bundle is made by `deno bundle` (esbuild) with code splitting, so that the native backend
 * (and Node's `worker_threads` that its pool loads) stays a chunk loaded by `init` only when it
 * is chosen, as from the sources. The code finds its worker modules next to itself by the
 * extension of its own URL (`.js` in the bundle, `.ts` from the sources), and the on-disk caches
 * key their entries by the bundle's files instead of the source folders.
 *
 * Usage: `deno run -A tools/bundle.ts [--outdir DIR] [--minify]` (`deno task bundle`), or
 * {@linkcode bundle} from a script.
 *
 * @module
 */
import { relative } from "node:path";
import { parseArgs } from "node:util";

/** The entry points, relative to the repository root; the first is the library. */
export const BUNDLE_ENTRIES = ["mod.ts", "gpu/precompile_worker.ts", "native/pool_worker.ts"];

/** Options of {@linkcode bundle}. */
export interface BundleOptions {
  /** The output folder (replaced). Default: `dist` in the repository root. */
  outdir?: string;
  /** Minify the code (smaller files, names kept for error messages). Default: false. */
  minify?: boolean;
  /** More entries (relative to the root) to bundle beside the library, sharing its chunks. */
  extraEntries?: readonly string[];
}

const root = new URL("../", import.meta.url);

/**
 * Bundles the library into `outdir`.
 *
 * @param opts Where and how.
 * @returns The path of the bundle's `mod.js`.
 */
export async function bundle(opts: BundleOptions = {}): Promise<string> {
  const outdir = opts.outdir ?? new URL("dist", root).pathname;
  await Deno.remove(outdir, { recursive: true }).catch(() => {});
  const args = [
    "bundle",
    "--quiet",
    "--code-splitting",
    "--platform",
    "deno",
    "--outdir",
    outdir,
    ...(opts.minify ? ["--minify", "--keep-names"] : []),
    ...BUNDLE_ENTRIES,
    ...(opts.extraEntries ?? []),
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  }
  const mod = `${outdir}/mod.js`;
  // the bundle's types: the sources'
  const rel = relative(outdir, new URL("mod.ts", root).pathname);
  const types = rel.startsWith(".") ? rel : `./${rel}`;
  const js = await Deno.readTextFile(mod);
  await Deno.writeTextFile(mod, `// @ts-self-types="${types}"\n${js}`);
  return mod;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { outdir: { type: "string" }, minify: { type: "boolean", default: false } },
  });
  const t = performance.now();
  const mod = await bundle({ outdir: values.outdir, minify: values.minify });
  console.log(`bundled ${mod} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
