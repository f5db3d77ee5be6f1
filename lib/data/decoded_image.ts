/**
 * The host image type every codec produces and every transform reads: 8-bit
 * samples, row-major, channels interleaved. Its own file so that the codecs
 * (`webp.ts`, `_wasm_codecs.ts`, `orient_image.ts`) and `image_io.ts`, which
 * calls them, share it without importing each other.
 *
 * @module
 */

/**
 * A decoded 8-bit image, row-major, channels interleaved (HWC).
 *
 * @example
 * ```ts
 * import type { DecodedImage } from "./decoded_image.ts";
 * const red: DecodedImage = { width: 1, height: 1, channels: 3, data: new Uint8Array([255, 0, 0]) };
 * ```
 */
export interface DecodedImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: 1 | 3 | 4;
  /** `height * width * channels` bytes. */
  data: Uint8Array;
}
