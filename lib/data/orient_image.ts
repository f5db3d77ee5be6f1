/**
 * Turns a decoded image into its displayed orientation: the rotation or flip
 * an EXIF orientation tag asks for, as Pillow's `ImageOps.exif_transpose`
 * (which rembg applies before inference) does it.
 *
 * @module
 */
import type { ExifOrientation } from "./exif.ts";
import type { DecodedImage } from "./decoded_image.ts";

/**
 * What each orientation does to the stored image, for messages and docs
 * (Pillow's `Image.Transpose` names).
 */
export const ORIENTATION_TRANSFORMS: Readonly<Record<ExifOrientation, string>> = {
  1: "none",
  2: "flip left-right",
  3: "rotate 180",
  4: "flip top-bottom",
  5: "transpose",
  6: "rotate 90 clockwise",
  7: "transverse",
  8: "rotate 90 counter-clockwise",
};

/**
 * The image as displayed for EXIF `orientation` (1-8): 2 mirrors, 3 turns
 * 180°, 4 flips vertically, 5 transposes, 6 turns 90° clockwise, 7
 * transverses, 8 turns 90° counter-clockwise; 5-8 swap width and height.
 * Returns the input itself for 1.
 *
 * @throws {RangeError} for an orientation outside 1-8.
 * @example
 * ```ts
 * import { orientImage } from "./orient_image.ts";
 * const img = { width: 2, height: 1, channels: 1 as const, data: new Uint8Array([1, 2]) };
 * const r = orientImage(img, 6); // a 1x2 column
 * [r.width, r.height, ...r.data]; // [1, 2, 1, 2]
 * ```
 */
export function orientImage(image: DecodedImage, orientation: number): DecodedImage {
  if (!(Number.isInteger(orientation) && orientation >= 1 && orientation <= 8)) {
    throw new RangeError(
      `Cannot orient image: current orientation is ${orientation}, expected 1 to 8`,
    );
  }
  if (orientation === 1) return image;
  const { width: w, height: h, channels: c, data } = image;
  const transpose = orientation >= 5;
  const flipX = orientation === 2 || orientation === 3 || orientation === 7 || orientation === 8;
  const flipY = orientation === 3 || orientation === 4 || orientation === 6 || orientation === 7;
  const W = transpose ? h : w, H = transpose ? w : h;
  const out = new Uint8Array(data.length);
  // Output (X, Y) reads source (sx, sy): u = transpose ? Y : X feeds sx, v the other.
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      const u = transpose ? Y : X, v = transpose ? X : Y;
      const sx = flipX ? w - 1 - u : u, sy = flipY ? h - 1 - v : v;
      const s = (sy * w + sx) * c, d = (Y * W + X) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k];
    }
  }
  return { width: W, height: H, channels: c, data: out };
}
