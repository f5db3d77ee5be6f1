/**
 * The one place npm packages are named. Every module imports them through
 * this file by full `npm:name@version` specifier, so that importing the
 * module by URL works without our `deno.json` import map.
 *
 * `@tensorflow/tfjs` (not only `-core`) is used because it registers the
 * gradients and the cpu backend as side effects.
 *
 * @module
 */
import * as tf from "npm:@tensorflow/tfjs@4.22.0";

// Silences tfjs' "you are running in Node.js, install tfjs-node" banner.
tf.env().set("PROD", true);

export { tf };

/** Loads (and so registers) the WebGPU backend; called by `selectBackend`. */
export const loadWebgpuBackend = (): Promise<unknown> =>
  import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");

/** Loads (and so registers) the wasm backend; called by `selectBackend`. */
export const loadWasmBackend = (): Promise<
  typeof import("npm:@tensorflow/tfjs-backend-wasm@4.22.0")
> => import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");

// Image codecs (imagescript 1.3.1). The `wasm/node/*.js` wrappers read their
// `.wasm` from the npm cache at run time (read permission outside the project)
// and read `process.env` (env permission), so the wasm binaries are loaded by
// source-phase import instead: no permissions needed, and the module graph
// records them like any other import.

/** imagescript's PNG decoder as a compiled (not yet instantiated) wasm module. */
export const loadPngWasm = (): Promise<WebAssembly.Module> =>
  // @ts-ignore: TypeScript does not type source-phase imports yet; Deno runs them.
  import.source("npm:imagescript@1.3.1/wasm/any/png.wasm");

/** imagescript's JPEG decoder/encoder as a compiled (not yet instantiated) wasm module. */
export const loadJpegWasm = (): Promise<WebAssembly.Module> =>
  // @ts-ignore: TypeScript does not type source-phase imports yet; Deno runs them.
  import.source("npm:imagescript@1.3.1/wasm/any/jpeg.wasm");

export { encode as encodePngBytes } from "npm:imagescript@1.3.1/png/src/png.mjs";
