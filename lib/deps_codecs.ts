/**
 * The image codecs' npm package (imagescript 1.3.1), named in one place like
 * `deps.ts` (which re-exports these) but without tfjs: the data loader's
 * decode workers import only this.
 *
 * @module
 */

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
