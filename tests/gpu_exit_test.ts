// Exiting with GPU work in flight: `Deno.exit()` right after a jitted call, while its kernels
// still compile and run (on lavapipe this crashed the process, SIGSEGV or abort, in 7 of 16
// tries before `drainAtExit`; with the compile helper's worker busy too). Six processes, each a
// fresh Mesa cache and another image size, must all exit with code 0.
import { BACKEND } from "./backend.ts";
import { assertEquals } from "@std/assert";

Deno.test({
  name: "Deno.exit with a jitted step still running exits cleanly",
  ignore: BACKEND !== "webgpu",
  async fn() {
    const script = new URL("./testdata/exit_in_flight.ts", import.meta.url).pathname;
    for (let w = 9; w < 15; w++) {
      const dir = await Deno.makeTempDir();
      try {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", script, String(w)],
          env: { MESA_SHADER_CACHE_DIR: dir, DENAX_CACHE: "0", XDG_RUNTIME_DIR: "/tmp" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(out.stderr);
        assertEquals(
          out.code,
          0,
          `image ${w}×${w}: exit code ${out.code} (signal ${out.signal})\n${err}`,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});
