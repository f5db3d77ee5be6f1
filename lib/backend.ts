/**
 * Backend selection in one place: `webgpu`, `cpu`, `wasm` or `auto`.
 *
 * @module
 */
import { loadWasmBackend, loadWebgpuBackend, tf } from "./deps.ts";

/** Backends a caller can ask for. */
export type BackendName = "auto" | "webgpu" | "cpu" | "wasm";

/** The backend names {@linkcode selectBackend} accepts. */
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "webgpu", "cpu", "wasm"];

/** What {@linkcode selectBackend} got. */
export interface BackendInfo {
  /** The tfjs backend now active. */
  backend: "webgpu" | "cpu" | "wasm";
  /** What was asked for. */
  requested: BackendName;
  /** GPU adapter description (vendor, architecture, device), when on WebGPU. */
  adapter?: string;
  /** True when the adapter is a software fallback (llvmpipe, SwiftShader…). */
  fallbackAdapter?: boolean;
  /** True when `auto` could not get WebGPU and fell back to cpu. */
  fellBack: boolean;
}

/** Options for {@linkcode selectBackend}. */
export interface SelectBackendOptions {
  /**
   * Accept a software WebGPU adapter (Mesa llvmpipe) when `auto` is asked for.
   * @default {true}
   */
  allowSoftwareAdapter?: boolean;
}

/** The WebGPU adapter of this process, as {@linkcode probeAdapter} reports it. */
export interface AdapterProbe {
  /** Description, vendor and architecture words. */
  name: string;
  /** True for a software adapter (llvmpipe, SwiftShader, lavapipe). */
  fallback: boolean;
  /** Whether it offers `shader-f16` (what `precision: "f16"` needs). */
  shaderF16: boolean;
}

let probe: Promise<AdapterProbe | undefined> | undefined;

/**
 * Asks for a WebGPU adapter once per process (later calls reuse the answer:
 * each request creates an adapter the driver must tear down at exit).
 *
 * @example
 * ```ts
 * import { probeAdapter } from "./backend.ts";
 * const adapter = await probeAdapter(); // undefined without WebGPU
 * ```
 */
export function probeAdapter(): Promise<AdapterProbe | undefined> {
  probe ??= describeAdapter();
  return probe;
}

async function describeAdapter(): Promise<AdapterProbe | undefined> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return undefined;
  const info = adapter.info;
  // Some drivers report PCI ids ("65541", "0") as vendor/device: keep words only.
  const name = [info.description, info.vendor, info.architecture, info.device]
    .filter((s) => s && !/^(0x)?[0-9a-f]*$/i.test(s))
    .filter((s, i, all) => all.indexOf(s) === i).join(" ");
  const fallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ||
    /llvmpipe|swiftshader|software|lavapipe/i.test(name);
  return {
    name: name || "unknown adapter",
    fallback: Boolean(fallback),
    shaderF16: adapter.features.has("shader-f16"),
  };
}

/**
 * Activates a tfjs backend and reports what it got.
 *
 * `auto` takes WebGPU where an adapter exists (software adapters included
 * unless `allowSoftwareAdapter` is false), otherwise cpu.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./backend.ts";
 * const info = await selectBackend("cpu");
 * console.log(info.backend); // "cpu"
 * ```
 */
export async function selectBackend(
  name: BackendName = "auto",
  options: SelectBackendOptions = {},
): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new TypeError(
      `Cannot select backend: current value is "${name}", expected one of ${
        BACKEND_NAMES.join(", ")
      }`,
    );
  }
  const allowSoftware = options.allowSoftwareAdapter ?? true;
  if (name === "webgpu" || name === "auto") {
    const adapter = await probeAdapter();
    if (adapter && (name === "webgpu" || allowSoftware || !adapter.fallback)) {
      await loadWebgpuBackend();
      if (await tf.setBackend("webgpu")) {
        await tf.ready();
        return {
          backend: "webgpu",
          requested: name,
          adapter: adapter.name,
          fallbackAdapter: adapter.fallback,
          fellBack: false,
        };
      }
    }
    if (name === "webgpu") {
      throw new RangeError("Cannot select backend webgpu: current value is no WebGPU adapter");
    }
  }
  if (name === "wasm") {
    await loadWasmBackend();
    if (!(await tf.setBackend("wasm"))) {
      throw new RangeError("Cannot select backend wasm: current value is initialisation failed");
    }
    await tf.ready();
    return { backend: "wasm", requested: name, fellBack: false };
  }
  await tf.setBackend("cpu");
  await tf.ready();
  return { backend: "cpu", requested: name, fellBack: name === "auto" };
}

/**
 * Throws when mixed precision is asked of the WebGPU engine or trainer on an
 * adapter without `shader-f16`, before any work starts (the engines would
 * otherwise refuse at their first call). Other engines ignore `precision`;
 * without any adapter there is nothing to check.
 *
 * @example
 * ```ts
 * import { checkHalfPrecision } from "./backend.ts";
 * await checkHalfPrecision("gpu", "f32", "predict"); // nothing to check
 * ```
 */
export async function checkHalfPrecision(
  engine: string,
  precision: "f32" | "f16" | undefined,
  who: string,
): Promise<void> {
  if (engine !== "gpu" || precision !== "f16") return;
  const adapter = await probeAdapter();
  // No adapter: no gpu engine will run (the caller falls back, or fails on its own).
  if (!adapter || adapter.shaderF16) return;
  throw new TypeError(
    `Cannot ${who} in f16: current adapter (${adapter.name}) lacks shader-f16 (use precision f32)`,
  );
}
