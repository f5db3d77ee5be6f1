/**
 * Images and datasets on the host: PNG/JPEG/WebP decoding (in the displayed
 * orientation when asked), PNG/JPEG encoding, the seed's transforms (train,
 * eval and predict presets), DUTS-style and plain-folder datasets, the
 * embedded synthetic dataset, the batching loader and its seeded RNG.
 *
 * @example
 * ```ts
 * import { decodeImage, encodePng } from "./mod.ts";
 * const img = await decodeImage(encodePng(2, 1, new Uint8Array(6), 3));
 * console.log(img.width, img.height, img.channels); // 2 1 3
 * ```
 *
 * @module
 */
export type { DecodedImage } from "./decoded_image.ts";
export * from "./image_io.ts";
export { decodeWebp, type DecodeWebpOptions, DEFAULT_WEBP_MAX_PIXELS } from "./webp.ts";
export { type ExifOrientation, readExifOrientation } from "./exif.ts";
export { orientImage } from "./orient_image.ts";
export * from "./transforms.ts";
export * from "./dataset.ts";
export * from "./loader.ts";
export * from "./synthetic.ts";
export * from "./rng.ts";
