/**
 * Backend choice for inference (predict, serve, info): `auto` takes a
 * hardware WebGPU adapter, else the wasm backend, else cpu. A software WebGPU
 * adapter (llvmpipe) is skipped: it is several times slower than wasm.
 *
 * The wasm backend reads its `.wasm` binary from the npm cache at start-up,
 * so it needs read permission for that folder ({@linkcode wasmBinaryDir});
 * without it `auto` falls back to cpu and says why in `notes`. WebGPU needs
 * no permission flag.
 *
 * @module
 */
import { type BackendInfo, type BackendName, selectBackend } from "../backend.ts";

/** What {@linkcode selectInferenceBackend} got, with the reasons for skipped backends. */
export interface InferenceBackendInfo extends BackendInfo {
  /** One line per backend `auto` skipped, and why. */
  notes: string[];
}

/**
 * The folder holding tfjs-backend-wasm's binaries (inside Deno's npm cache).
 *
 * @example
 * ```ts
 * import { wasmBinaryDir } from "./inference_backend.ts";
 * wasmBinaryDir().endsWith("/tfjs-backend-wasm/4.22.0/dist"); // true
 * ```
 */
export function wasmBinaryDir(): string {
  const main = import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
  if (!main.startsWith("file:")) return main;
  const path = decodeURIComponent(new URL(main).pathname);
  return path.slice(0, path.lastIndexOf("/"));
}

/**
 * Whether the wasm backend's binary can be read without a prompt.
 *
 * @example
 * ```ts
 * import { wasmReadable } from "./inference_backend.ts";
 * console.log(wasmReadable()); // false under --allow-read=. alone
 * ```
 */
export function wasmReadable(): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path: wasmBinaryDir() }).state ===
      "granted";
  } catch {
    return false;
  }
}

/**
 * Activates a backend for inference. Explicit names behave as
 * {@linkcode selectBackend}; `auto` prefers hardware WebGPU, then wasm (when
 * its binary is readable), then cpu.
 *
 * @example
 * ```ts
 * import { selectInferenceBackend } from "./inference_backend.ts";
 * const info = await selectInferenceBackend("cpu");
 * info.backend; // "cpu"
 * ```
 */
export async function selectInferenceBackend(
  name: BackendName = "auto",
): Promise<InferenceBackendInfo> {
  if (name !== "auto") {
    if (name === "wasm" && !wasmReadable()) {
      throw new RangeError(
        `Cannot select backend wasm: current permissions do not allow reading ${wasmBinaryDir()} ` +
          `(add --allow-read=${wasmBinaryDir()})`,
      );
    }
    return { ...(await selectBackend(name)), notes: [] };
  }
  const notes: string[] = [];
  const gpu = await selectBackend("auto", { allowSoftwareAdapter: false });
  if (gpu.backend === "webgpu") return { ...gpu, notes };
  notes.push("webgpu: no hardware adapter");
  if (wasmReadable()) {
    try {
      const info = await selectBackend("wasm");
      return { ...info, requested: "auto", fellBack: true, notes };
    } catch (e) {
      notes.push(`wasm: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
    }
  } else {
    notes.push(`wasm: needs --allow-read=${wasmBinaryDir()}`);
  }
  const cpu = await selectBackend("cpu");
  return { ...cpu, requested: "auto", fellBack: true, notes };
}
