/**
 * The device profile (`gpu/target.ts`): which adapters get which profile, the override, and the
 * gpu profile's plain f32 literals (exact for every finite f32 a program may inline).
 */
import { assertEquals, assertThrows } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";
import { setBackend } from "../core/backend.ts";
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";
import {
  CPU_ADAPTER_PROFILE,
  GPU_PROFILE,
  isSoftwareAdapter,
  selectProfile,
  setActiveProfile,
} from "../gpu/target.ts";

Deno.test("software adapters get the cpu-adapter profile, others the gpu profile", () => {
  const llvmpipe = { vendor: "mesa", description: "llvmpipe (LLVM 15.0.6, 256 bits)" };
  assertEquals(selectProfile(llvmpipe).name, "cpu-adapter");
  assertEquals(
    selectProfile({ vendor: "google", architecture: "swiftshader" }).name,
    "cpu-adapter",
  );
  assertEquals(selectProfile({ isFallbackAdapter: true, vendor: "nvidia" }).name, "cpu-adapter");
  assertEquals(
    selectProfile({ description: "Microsoft Basic Render Driver (WARP)" }).name,
    "cpu-adapter",
  );
  assertEquals(selectProfile({ vendor: "nvidia", architecture: "hopper" }).name, "gpu");
  assertEquals(selectProfile({ vendor: "amd", description: "AMD Radeon RX 7900" }).name, "gpu");
  assertEquals(isSoftwareAdapter(undefined), false);
});

Deno.test("DENAX_GPU_PROFILE overrides the adapter's profile and rejects unknown names", () => {
  assertEquals(selectProfile({ description: "llvmpipe" }, "gpu"), GPU_PROFILE);
  assertEquals(selectProfile({ vendor: "nvidia" }, "cpu"), CPU_ADAPTER_PROFILE);
  assertEquals(selectProfile({ vendor: "nvidia" }, " CPU-Adapter "), CPU_ADAPTER_PROFILE);
  assertEquals(selectProfile({ vendor: "nvidia" }, ""), GPU_PROFILE);
  assertThrows(() => selectProfile({}, "tpu"), RangeError, "DENAX_GPU_PROFILE");
});

Deno.test("the gpu profile carries none of the CPU-adapter tuning", () => {
  assertEquals(GPU_PROFILE.textureGemm || GPU_PROFILE.textureStaging, false);
  assertEquals(GPU_PROFILE.fourLane || GPU_PROFILE.literalMask, false);
  assertEquals(CPU_ADAPTER_PROFILE.textureStaging && CPU_ADAPTER_PROFILE.literalMask, true);
});

const HAS_GPU = await webgpuAvailable();

Deno.test({
  name: "plain f32 literals of the gpu profile are exact for awkward values",
  ignore: !HAS_GPU,
  fn: async () => {
    setBackend(await createWebGpuBackend());
    const values = [0.1, -0.25, 1e-30, 1.17549435e-38, 3.4028234663852886e38, -0, 1 / 3];
    const x = np.array([1, -2, 4, 0]);
    for (const profile of [GPU_PROFILE, CPU_ADAPTER_PROFILE]) {
      const prev = setActiveProfile(profile);
      try {
        for (const c of values) {
          // one product per element: no reassociation can change it, so the bits must match
          const got = await jit((t: Tensor) => t.mul(c))(x).data();
          const want = Float32Array.from([1, -2, 4, 0], (v) => Math.fround(v * Math.fround(c)));
          assertEquals(Array.from(got).map(String), Array.from(want).map(String), `${c}`);
        }
      } finally {
        setActiveProfile(prev);
      }
    }
  },
});

Deno.test({
  name: "the deviceProfile option forces a profile on the backend it creates",
  ignore: !HAS_GPU,
  fn: async () => {
    const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
    try {
      const g = await createWebGpuBackend({ deviceProfile: "gpu" });
      assertEquals(g.runtime.ctx.profile, GPU_PROFILE);
      const c = await createWebGpuBackend({ deviceProfile: "cpu" });
      assertEquals(c.runtime.ctx.profile, CPU_ADAPTER_PROFILE);
    } finally {
      setActiveProfile(prev);
    }
  },
});
