/**
 * Compiling a program's new pipelines on a second device, in parallel, on a software adapter.
 *
 * llvmpipe compiles a pipeline's machine code with LLVM at its first dispatch, on the device's
 * one queue thread, one pipeline after another: the first call of a large program waits for
 * all of them in turn (ResNet-18's training step: ~110 pipelines, several seconds) while the
 * other cores idle. Mesa keeps what it compiles in its on-disk shader cache, shared by every
 * device of the process, and a later compile of the same shader with the same texture state is
 * a cache read (~1 ms instead of 20–150 ms). So at the first call of a program with many new
 * pipelines, {@link prewarm} hands the last 40 % of them, last first, to a second device of
 * the same adapter, which creates each and dispatches it once over dummy resources (buffers of
 * zeros, textures of the same format and power-of-two class as the program's), all in one
 * command buffer: its queue thread compiles them on another core while the program's own
 * device compiles the rest, and the two meet near the middle. Nothing the second device
 * computes is read; a failure there only leaves a pipeline to compile the usual way.
 *
 * It runs only where it can help: a software adapter (`ctx.software`), Mesa's shader cache not
 * disabled (`MESA_SHADER_CACHE_DISABLE`), programs with at least {@link MIN_NEW} new pipelines
 * that were compiled in this process (one read from denax's program cache was compiled here
 * before, so Mesa's cache likely holds its shaders), and not under `DENAX_PREWARM=0`. The second device is requested at the first such program and
 * used from the next one on (a device arrives asynchronously, and a jitted call is synchronous):
 * a network's jitted initialization is usually that first program.
 *
 * @module
 */
import { debugLevel, envVar } from "../device.ts";
import type { GpuRuntime } from "../runtime.ts";
import type { TextureSpec } from "../kernels/common.ts";
import type { DispatchOp, Program } from "./program.ts";

/** The part of a program's new pipelines the second device compiles. */
const SHARE = 0.4;

/** New pipelines a program needs before a second device compiles some of them (default). */
export const MIN_NEW = 24;
let _minNew = MIN_NEW;

/**
 * Sets the number of new pipelines from which a program is prewarmed (tests); `null` restores
 * {@link MIN_NEW}.
 *
 * @param n The minimum.
 */
export function setPrewarmMinimum(n: number | null): void {
  _minNew = n ?? MIN_NEW;
}

/**
 * Counters, for tests and `DENAX_DEBUG`: programs and pipelines handed to a second device,
 * devices created, and command buffers of the second device that reported a validation error.
 */
export const prewarmStats = { programs: 0, pipelines: 0, devices: 0, errors: 0 };

interface _Warm {
  readonly device: GPUDevice;
  /** The second device's last submit, until its work is done (a new submit would wait). */
  busy: Promise<void> | null;
  /** Dummy buffers by binding index (a dispatch must not bind one writable buffer twice). */
  readonly storage: GPUBuffer[];
  readonly uniform: GPUBuffer;
  readonly textures: Map<string, GPUTextureView>;
}

const _warm = new WeakMap<GpuRuntime, _Warm | "pending" | "off">();
const _UNIFORM_BYTES = 4096;

/**
 * Whether {@link prewarm} can help on `rt`'s adapter: a software adapter, Mesa's shader cache
 * not disabled, and not `DENAX_PREWARM=0`.
 *
 * @param rt The runtime.
 * @returns The answer.
 */
export function prewarmEnabled(rt: GpuRuntime): boolean {
  if (!rt.ctx.software || envVar("DENAX_PREWARM") === "0") return false;
  const off = (v: string | undefined) => v !== undefined && /^(1|true|yes)$/i.test(v);
  return !off(envVar("MESA_SHADER_CACHE_DISABLE")) && !off(envVar("MESA_GLSL_CACHE_DISABLE"));
}

function _request(rt: GpuRuntime): void {
  _warm.set(rt, "pending");
  const { adapter, device } = rt.ctx;
  adapter.requestDevice({
    requiredFeatures: [...device.features] as GPUFeatureName[],
    requiredLimits: {
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    },
  }).then((d) => {
    prewarmStats.devices++;
    const uniform = d.createBuffer({ size: _UNIFORM_BYTES, usage: GPUBufferUsage.UNIFORM });
    _warm.set(rt, { device: d, busy: null, storage: [], uniform, textures: new Map() });
  }, () => _warm.set(rt, "off"));
}

/** The program's dispatches (scan bodies included) whose pipelines the runtime lacks. */
function _newDispatches(
  rt: GpuRuntime,
  p: Program,
  seen: Set<string>,
  out: { op: DispatchOp; textures: readonly TextureSpec[] }[],
): void {
  for (const op of p.ops) {
    if (op.kind === "scan") _newDispatches(rt, op.body, seen, out);
    if (op.kind !== "dispatch" || seen.has(op.wgsl) || rt.hasPipeline(op.wgsl)) continue;
    seen.add(op.wgsl);
    out.push({ op, textures: p.textures });
  }
}

const _pot = (n: number) => (n & (n - 1)) === 0;

function _texture(w: _Warm, binding: number, t: TextureSpec): GPUTextureView {
  const key = `${binding}|${t.format}|${_pot(t.width)}|${_pot(t.height)}|${t.layers > 1}`;
  let v = w.textures.get(key);
  if (!v) {
    // the same class as the program's texture: llvmpipe keys its shader variants by it
    const tex = w.device.createTexture({
      size: [_pot(t.width) ? 1 : 3, _pot(t.height) ? 1 : 3, t.layers > 1 ? 2 : 1],
      format: t.format,
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
    });
    v = tex.createView({ dimension: "2d-array" });
    w.textures.set(key, v);
  }
  return v;
}

/**
 * At the first call of `p`: compiles the last 40 % of its new pipelines on a second device
 * (see the module comment). Returns at once; does nothing where it cannot help.
 *
 * @param rt The runtime whose device runs `p`.
 * @param p The program.
 */
export function prewarm(rt: GpuRuntime, p: Program): void {
  const state = _warm.get(rt);
  if (state === "off" || state === "pending") return;
  if (state === undefined && !prewarmEnabled(rt)) {
    _warm.set(rt, "off");
    return;
  }
  const news: { op: DispatchOp; textures: readonly TextureSpec[] }[] = [];
  _newDispatches(rt, p, new Set(), news);
  if (news.length < _minNew) return;
  if (state === undefined) {
    _request(rt);
    return;
  }
  const w = state;
  // lavapipe's submit waits for the queue's previous work: never block the caller on it
  if (w.busy) return;
  const d = w.device;
  // a little less than half: the two meet before the middle, so the second device is done by
  // the time the program's own device has compiled its part, not still compiling beside the
  // next call
  const mine = news.slice(Math.ceil(news.length * (1 - SHARE))).reverse();
  d.pushErrorScope("validation");
  const enc = d.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const { op, textures } of mine) {
    const entries: GPUBindGroupEntry[] = [];
    let ok = true;
    op.bindings.forEach((r, binding) => {
      if (r.kind === "tex") {
        entries.push({ binding, resource: _texture(w, binding, textures[r.index]) });
      } else if (r.kind === "step" || r.kind === "params") {
        const bytes = r.kind === "step" ? 16 : Math.max(16, Math.ceil(r.words.length / 4) * 16);
        if (bytes > _UNIFORM_BYTES) ok = false;
        entries.push({ binding, resource: { buffer: w.uniform, size: bytes } });
      } else {
        w.storage[binding] ??= d.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
        entries.push({ binding, resource: { buffer: w.storage[binding] } });
      }
    });
    if (!ok) continue;
    const module = d.createShaderModule({ code: op.wgsl });
    const pipe = d.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    pass.setPipeline(pipe);
    pass.setBindGroup(0, d.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(1);
    prewarmStats.pipelines++;
  }
  pass.end();
  d.queue.submit([enc.finish()]);
  const scope = d.popErrorScope().then((err) => {
    if (!err) return;
    prewarmStats.errors++;
    if (debugLevel() >= 1) console.error(`[denax:jit] prewarm: ${err.message}`);
  }, () => {});
  const busy: Promise<void> = Promise.all([scope, d.queue.onSubmittedWorkDone()]).then(() => {
    if (w.busy === busy) w.busy = null;
  }, () => {});
  w.busy = busy;
  prewarmStats.programs++;
}

/**
 * Resolves once the second device of `rt` (if any) has finished what it was given (tests).
 *
 * @param rt The runtime.
 * @returns The promise.
 */
export async function prewarmIdle(rt: GpuRuntime): Promise<void> {
  const w = _warm.get(rt);
  if (typeof w === "object" && w.busy) await w.busy;
}

/**
 * Whether the second device of `rt` exists (tests).
 *
 * @param rt The runtime.
 * @returns The answer.
 */
export function prewarmReady(rt: GpuRuntime): boolean {
  return typeof _warm.get(rt) === "object";
}
