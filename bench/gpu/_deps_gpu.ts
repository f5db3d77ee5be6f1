/**
 * `lib/deps.ts` for the GPU bundle (mapped in by `bench/gpu/bundle.json`):
 * the same `tf` and WebGPU loader, without what a bundler cannot carry
 * (`import.source` of the image codecs' wasm, the wasm backend's `.wasm`
 * files read from the npm cache). The benchmarks need neither.
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- bench-only; lib/deps.ts names the library\'s packages
import * as tf from "npm:@tensorflow/tfjs@4.22.0";

tf.env().set("PROD", true);

export { tf };

/** Loads (and so registers) the WebGPU backend. */
export const loadWebgpuBackend = (): Promise<unknown> =>
  // deno-lint-ignore no-import-prefix
  import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");

const missing = (what: string) => (): Promise<never> =>
  Promise.reject(new RangeError(`Cannot load ${what}: current build is the GPU bench bundle`));

/** Not in the bundle: the wasm backend reads its binaries from the npm cache. */
export const loadWasmBackend = missing("the wasm backend") as () => Promise<
  typeof import("npm:@tensorflow/tfjs-backend-wasm@4.22.0")
>;

/** Not in the bundle (image decoding is not benchmarked). */
export const loadPngWasm = missing("the PNG decoder") as () => Promise<WebAssembly.Module>;

/** Not in the bundle (image decoding is not benchmarked). */
export const loadJpegWasm = missing("the JPEG codec") as () => Promise<WebAssembly.Module>;

// The PNG encoder is plain JavaScript (no wasm): the training loop's saved prediction needs it.
// deno-lint-ignore no-import-prefix
export { encode as encodePngBytes } from "npm:imagescript@1.3.1/png/src/png.mjs";
