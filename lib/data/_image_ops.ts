/**
 * Transform primitives re-exported by `transforms.ts` (HWC float32, torch's
 * float32 rounding reproduced).
 *
 * @module
 */
import type { DecodedImage } from "./image_io.ts";
import { resizeBilinear } from "./_bilinear.ts";

const f = Math.fround;

/** A float32 image, HWC. */
export interface FloatImage {
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
  /** Channels (3 for images, 1 for masks). */
  channels: number;
  /** `height * width * channels` values. */
  data: Float32Array;
}

/** A crop rectangle, in pixels. */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Rows kept. */
  height: number;
  /** Columns kept. */
  width: number;
}

/** ImageNet channel means (torchvision `Normalize` in the seed). */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations. */
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Options of {@linkcode normalize}. */
export interface NormalizeOptions {
  /** Per-channel means. @default IMAGENET_MEAN */
  mean?: readonly number[];
  /** Per-channel standard deviations. @default IMAGENET_STD */
  std?: readonly number[];
}

/**
 * `F.to_tensor`: u8 → float32 `u/255` (the division rounded to float32).
 *
 * @example
 * ```ts
 * import { toFloat } from "./transforms.ts";
 * toFloat({ width: 1, height: 1, channels: 1, data: new Uint8Array([255]) }).data[0]; // 1
 * ```
 */
export function toFloat(image: DecodedImage): FloatImage {
  const { width, height, channels, data } = image;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
  return { width, height, channels, data: out };
}

/**
 * Resizes a {@linkcode FloatImage} with `resizeBilinear` (returns the input
 * itself when the size is unchanged).
 *
 * @example
 * ```ts
 * import { resize } from "./transforms.ts";
 * const img = { height: 1, width: 2, channels: 1, data: new Float32Array([0, 1]) };
 * resize(img, { height: 1, width: 4 }).data; // [0, 0.25, 0.75, 1]
 * ```
 */
export function resize(image: FloatImage, size: { height: number; width: number }): FloatImage {
  const { height, width, channels, data } = image;
  if (height === size.height && width === size.width) return image;
  return {
    height: size.height,
    width: size.width,
    channels,
    data: resizeBilinear(data, height, width, channels, size.height, size.width),
  };
}

/**
 * Copies a rectangle out of an image (torchvision `F.crop` without padding).
 *
 * @throws {RangeError} when the box leaves the image.
 * @example
 * ```ts
 * import { crop } from "./transforms.ts";
 * const img = { height: 2, width: 2, channels: 1, data: new Float32Array([1, 2, 3, 4]) };
 * crop(img, { top: 1, left: 0, height: 1, width: 2 }).data; // [3, 4]
 * ```
 */
export function crop(image: FloatImage, box: CropBox): FloatImage {
  const { top, left, height, width } = box;
  if (
    ![top, left, height, width].every(Number.isInteger) || top < 0 || left < 0 || height < 1 ||
    width < 1 || top + height > image.height || left + width > image.width
  ) {
    throw new RangeError(
      `Cannot crop: current box is ${JSON.stringify(box)} in ${image.height}x${image.width}`,
    );
  }
  const C = image.channels;
  const out = new Float32Array(height * width * C);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * C;
    out.set(image.data.subarray(from, from + width * C), y * width * C);
  }
  return { height, width, channels: C, data: out };
}

/**
 * Mirrors an image left-right (`F.hflip`).
 *
 * @example
 * ```ts
 * import { hflip } from "./transforms.ts";
 * hflip({ height: 1, width: 2, channels: 1, data: new Float32Array([1, 2]) }).data; // [2, 1]
 * ```
 */
export function hflip(image: FloatImage): FloatImage {
  const { height, width, channels: C, data } = image;
  const out = new Float32Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * C, to = (y * width + width - 1 - x) * C;
      for (let c = 0; c < C; c++) out[to + c] = data[from + c];
    }
  }
  return { height, width, channels: C, data: out };
}

/**
 * `F.normalize`: `(x − mean) / std` per channel, each op rounded to float32
 * (mean and std are float32 tensors in torchvision).
 *
 * @example
 * ```ts
 * import { normalize } from "./transforms.ts";
 * const img = { height: 1, width: 1, channels: 3, data: new Float32Array([0.485, 0.456, 0.406]) };
 * normalize(img).data; // [0, 0, 0]
 * ```
 */
export function normalize(image: FloatImage, options: NormalizeOptions = {}): FloatImage {
  const mean = (options.mean ?? IMAGENET_MEAN).map(f);
  const std = (options.std ?? IMAGENET_STD).map(f);
  const C = image.channels;
  if (mean.length !== C || std.length !== C) {
    throw new RangeError(
      `Cannot normalize: current image has ${C} channels, mean/std ${mean.length}`,
    );
  }
  const src = image.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i += C) {
    for (let c = 0; c < C; c++) out[i + c] = f(src[i + c] - mean[c]) / std[c];
  }
  return { ...image, data: out };
}

/**
 * Output size of torchvision `Resize(int)` (predict.py): the shorter side
 * becomes `shorterSide`, the longer one `int(shorterSide * long / short)`
 * (truncated, computed in double like Python); unchanged when the shorter side
 * already has that length.
 *
 * @example
 * ```ts
 * import { shorterSideSize } from "./transforms.ts";
 * shorterSideSize(300, 451, 320); // { height: 320, width: 481 }
 * ```
 */
export function shorterSideSize(
  height: number,
  width: number,
  shorterSide: number,
): { height: number; width: number } {
  const short = Math.min(height, width), long = Math.max(height, width);
  if (short === shorterSide) return { height, width };
  const newLong = Math.trunc((shorterSide * long) / short);
  return width <= height
    ? { height: newLong, width: shorterSide }
    : { height: shorterSide, width: newLong };
}
