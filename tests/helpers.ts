/**
 * Test helpers: fixtures, backends, comparisons.
 *
 * @module
 */
import { tf } from "../lib/deps.ts";
import { readSafetensors } from "../lib/io/safetensors.ts";
import type { StateDict } from "../lib/io/raw_tensor.ts";
import { type BackendName, probeAdapter, selectBackend } from "../lib/backend.ts";
import { wasmReadable } from "../lib/predict/inference_backend.ts";
import type { DecodedImage } from "../lib/data/image_io.ts";
import type { ProbabilityMap } from "../lib/predict/predictor.ts";
import { assert, assertEquals } from "./assert.ts";
import { configFromWidths, U2NET_LITE, type U2NetConfig } from "../lib/net/config.ts";

/** Lite with every width halved: a custom-width U2-Net (as silueta may be to full). */
export const HALF_LITE: U2NetConfig = configFromWidths(
  [...U2NET_LITE.encoder, ...U2NET_LITE.decoder].map((s, i) => ({
    inCh: i === 0 ? 3 : s.inCh / 2,
    midCh: s.midCh / 2,
    outCh: s.outCh / 2,
  })),
);

const cache = new Map<string, StateDict>();

/** Reads a safetensors fixture from tests/testdata (cached). */
export async function fixture(name: string): Promise<StateDict> {
  if (!cache.has(name)) {
    const bytes = await Deno.readFile(new URL(`./testdata/${name}`, import.meta.url));
    cache.set(name, readSafetensors(bytes).tensors);
  }
  return cache.get(name)!;
}

/** Path of a file in tests/testdata. */
export function testdata(name: string): URL {
  return new URL(`./testdata/${name}`, import.meta.url);
}

/** NCHW host data to an NHWC tensor. */
export function nchwToNhwc(data: Float32Array, shape: number[]): tf.Tensor4D {
  return tf.tidy(() =>
    tf.transpose(tf.tensor4d(data, shape as [number, number, number, number]), [0, 2, 3, 1])
  );
}

/** NHWC tensor to NCHW host data. */
export async function nhwcToNchw(t: tf.Tensor4D): Promise<Float32Array> {
  const n = tf.transpose(t, [0, 3, 1, 2]);
  try {
    return await n.data() as Float32Array;
  } finally {
    n.dispose();
  }
}

/** Largest absolute difference of two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

/** Largest absolute value. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * True under `U2NET_TEST_EXHAUSTIVE=1` (`deno task test:exhaustive`): the
 * default suite then also runs the few slow cases whose every part another
 * default case already checks (each says which), so the suite stays within
 * CI's 15 minutes on 2 cores.
 */
export const EXHAUSTIVE = Deno.env.get("U2NET_TEST_EXHAUSTIVE") === "1";

/**
 * Backends the suite runs on: `U2NET_TEST_BACKENDS` (comma list), or cpu,
 * plus wasm when its binaries are readable (the test task grants it: the CLI
 * uses wasm on machines without a GPU) and webgpu when an adapter exists.
 */
export async function testBackends(): Promise<BackendName[]> {
  const env = Deno.env.get("U2NET_TEST_BACKENDS");
  if (env) return env.split(",") as BackendName[];
  const out: BackendName[] = ["cpu"];
  if (wasmReadable()) out.push("wasm");
  if (await probeAdapter()) out.push("webgpu");
  return out;
}

/**
 * Activates webgpu for a test and returns true; without an adapter, records
 * an ignored step saying so and returns false (the test then returns).
 */
export async function webgpuOrSkip(t: Deno.TestContext): Promise<boolean> {
  if (!(await testBackends()).includes("webgpu")) {
    await t.step({ name: "no WebGPU adapter here", ignore: true, fn() {} });
    return false;
  }
  await useBackend("webgpu");
  return true;
}

/**
 * {@linkcode webgpuOrSkip}, and also false (with an ignored step saying so)
 * where the adapter lacks `shader-f16` (the mixed-precision tests).
 */
export async function f16OrSkip(t: Deno.TestContext): Promise<boolean> {
  if (!(await webgpuOrSkip(t))) return false;
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter?.features.has("shader-f16")) return true;
  await t.step({ name: "no shader-f16 on this adapter", ignore: true, fn() {} });
  return false;
}

/** Deterministic values in [-s, s) (a hash of the index and `seed`), for kernel tests. */
export function noise(n: number, seed: number, s = 1): Float32Array {
  const frac = (v: number) => ((v % 1) + 1) % 1;
  return new Float32Array(n).map((_, i) =>
    s * (2 * frac(Math.sin(i * 12.9898 + seed) * 43758.5453) - 1)
  );
}

/**
 * Runs `fn` under `tf.profile` and returns its result with the names of the
 * kernels it ran, so a test can check which path (ours or tf ops) it took.
 */
export async function withKernels<T extends tf.TensorContainer>(
  fn: () => T,
): Promise<{ result: T; kernels: string[] }> {
  const info = await tf.profile(fn);
  return { result: info.result as T, kernels: info.kernels.map((k) => k.name) };
}

/** Activates a backend for a test. */
export async function useBackend(name: BackendName): Promise<void> {
  await selectBackend(name);
}

// Destroy tfjs' WebGPU device while the runtime is still whole: left to
// process exit, the driver teardown (Mesa llvmpipe through EGL) sometimes
// aborts with "corrupted size vs. prev_size" after every test has passed.
globalThis.addEventListener("unload", () => {
  if (Deno.env.get("U2NET_TEST_KEEP_DEVICE")) return;
  const backend = tf.engine().registry["webgpu"] as unknown as { device?: GPUDevice } | undefined;
  backend?.device?.destroy();
});

/** A `width` x `height` RGB test image, a byte pattern that differs by `seed`. */
export function patternImage(width: number, height: number, seed: number): DecodedImage {
  return {
    width,
    height,
    channels: 3,
    data: Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7 + seed * 31) % 251),
  };
}

/** Asserts two predictors' maps have the same sizes and values within `tol`. */
export function assertMapsClose(a: ProbabilityMap[], b: ProbabilityMap[], tol: number): void {
  assertEquals(a.length, b.length);
  a.forEach((m, i) => {
    assertEquals([m.width, m.height], [b[i].width, b[i].height]);
    assert(
      maxAbsDiff(m.data, b[i].data) < tol,
      `image ${i}: max |Δ| ${maxAbsDiff(m.data, b[i].data)}`,
    );
  });
}
