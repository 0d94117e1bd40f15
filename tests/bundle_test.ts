// The bundle (tools/bundle.ts): built into a temporary folder and imported by a process of its
// own, it computes what the sources compute on cpu, native and webgpu, finds its two worker
// modules (the native pool's and the compile helper's) beside itself, keys the program cache by
// its own files, and names the sources' types. Also `ownModuleUrl`, which picks the path, and
// the program cache's fingerprint.
import { assert, assertAllClose, assertEquals, assertNotEquals } from "@std/assert";
import * as denax from "../mod.ts";
import { BACKEND, withCpu } from "./backend.ts";
import { bundle } from "../tools/bundle.ts";
import { ownModuleUrl } from "../core/env.ts";
import { fingerprintAt, sourceFingerprint } from "../gpu/jit/disk_cache.ts";
import { bigElementwise, convStep } from "./bundle/workloads.ts";

Deno.test("ownModuleUrl: the source path from a .ts module, the bundle path from a chunk", () => {
  const src = "file:///x/denax/gpu/precompile.ts";
  assertEquals(
    ownModuleUrl(src, "./precompile_worker.ts", "./gpu/precompile_worker.js").href,
    "file:///x/denax/gpu/precompile_worker.ts",
  );
  const remote = "https://jsr.io/@denax/denax/0.1.0/native/pool.ts";
  assertEquals(
    ownModuleUrl(remote, "./pool_worker.ts", "./native/pool_worker.js").href,
    "https://jsr.io/@denax/denax/0.1.0/native/pool_worker.ts",
  );
  const chunk = "file:///x/dist/chunk-ABC123.js";
  assertEquals(
    ownModuleUrl(chunk, "./pool_worker.ts", "./native/pool_worker.js").href,
    "file:///x/dist/native/pool_worker.js",
  );
});

Deno.test("the program cache's fingerprint: sources, a bundle's files, a server's URL", async () => {
  const sources = new URL("../gpu/jit/disk_cache.ts", import.meta.url).href;
  assertEquals(fingerprintAt(sources), sourceFingerprint());
  // a published version: its URL, which names the version
  const at = (v: string) => fingerprintAt(`https://jsr.io/@denax/denax/${v}/gpu/jit/disk_cache.ts`);
  assertEquals(at("0.1.0"), at("0.1.0"));
  assertNotEquals(at("0.1.0"), at("0.2.0"));
  // a bundle: its own .js files; a rebuilt one (another size) is another fingerprint
  const dir = await Deno.makeTempDir({ prefix: "denax_fp_" });
  try {
    await Deno.writeTextFile(`${dir}/mod.js`, "export const a = 1;");
    await Deno.writeTextFile(`${dir}/notes.txt`, "not code");
    const chunk = new URL(`file://${dir}/chunk-A.js`).href;
    const before = fingerprintAt(chunk);
    assertEquals(fingerprintAt(chunk), before);
    await Deno.writeTextFile(`${dir}/notes.txt`, "not code, longer");
    assertEquals(fingerprintAt(chunk), before, "only the .js files count");
    await Deno.writeTextFile(`${dir}/mod.js`, "export const a = 12;");
    assertNotEquals(fingerprintAt(chunk), before);
    assertNotEquals(before, sourceFingerprint());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  // one of CI's suites is enough: the child runs every backend itself
  name: "the bundle computes what the sources do on every backend, with its workers",
  ignore: BACKEND !== "webgpu",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "denax_bundle_" });
    try {
      await bundle({ outdir: `${dir}/dist`, extraEntries: ["tests/bundle/probe.ts"] });
      const first = (await Deno.readTextFile(`${dir}/dist/mod.js`)).split("\n", 1)[0];
      assert(/^\/\/ @ts-self-types="[^"]*\/mod\.ts"$/.test(first), first);
      const child = new URL("./bundle/child.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", child, `${dir}/dist`],
        env: {
          DENAX_NATIVE_THREADS: "2",
          DENAX_CACHE_DIR: `${dir}/cache`,
          DENAX_BACKEND: "",
          DENAX_STRICT: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert(out.success, `the child failed:\n${err.slice(-3000)}`);
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      const got = JSON.parse(lines[lines.length - 1]);

      // the same numbers as the sources
      const want = await withCpu(() => convStep(denax));
      got.cpu.forEach((g: number[], i: number) => assertAllClose(g, want[i], { rtol: 1e-6 }));
      const big = await withCpu(() => bigElementwise(denax));
      assertAllClose(got.native, big, { rtol: 1e-4 });
      // the native pool ran its workers (the bundle's native/pool_worker.js loaded)
      if (got.cores >= 2) {
        assert(got.pool.started >= 1 && got.pool.workerChunks > 0, JSON.stringify(got.pool));
      }
      assertEquals(got.pool.fallbacks, 0);
      // the bundle's program-cache key is its own files', not the sources'
      assertNotEquals(got.fingerprint, sourceFingerprint());
      if (got.webgpu) {
        got.webgpu.forEach((g: number[], i: number) =>
          assertAllClose(g, want[i], { rtol: 1e-4, atol: 1e-5 })
        );
        // the compile helper's worker (the bundle's gpu/precompile_worker.js) compiled them all
        const p = got.precompile;
        assert(p.workers >= 1 && p.sent > 0, JSON.stringify(p));
        assertEquals(p.failed, 0);
        assert(p.compiled >= p.sent, JSON.stringify(p));
        assert(got.programCache.stores > 0, JSON.stringify(got.programCache));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
