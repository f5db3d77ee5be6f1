/**
 * The seed's image transforms (spec §4, §5.4) on host float32 arrays, with
 * PyTorch's float32 rounding reproduced (`Math.fround` after every op).
 *
 * Layout: **HWC** (row-major, channels interleaved), the layout of tfjs' NHWC
 * tensors, so a preset's `data` is a `[H, W, C]` tensor's data as is. The
 * parity fixtures are NCHW: tests transpose our output, never theirs.
 *
 * @module
 */
import { type DecodedImage, toGray, toRgb } from "./image_io.ts";
import type { Rng } from "./rng.ts";
import {
  crop,
  type FloatImage,
  hflip,
  normalize,
  resize,
  shorterSideSize,
  toFloat,
} from "./_image_ops.ts";

export { resizeBilinear } from "./_bilinear.ts";
export {
  crop,
  type CropBox,
  type FloatImage,
  hflip,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  type NormalizeOptions,
  resize,
  shorterSideSize,
  toFloat,
} from "./_image_ops.ts";

/** Network input side of the eval and train presets (`[320, 320]` in the seed). */
export const DEFAULT_INPUT_SIZE = 320;

/** Shorter side of predict.py's `Resize(320)`. */
export const DEFAULT_SHORTER_SIDE = 320;

/** Options of {@linkcode evalPreset}. */
export interface EvalPresetOptions {
  /** Square side the image is squashed to. @default DEFAULT_INPUT_SIZE */
  inputSize?: number;
}

/**
 * `SODPresetEval([320, 320])` on the image: `to_tensor` → bilinear squash to
 * inputSize×inputSize (aspect ignored) → ImageNet normalise. Grey and RGBA
 * inputs are first made RGB like `cv2.IMREAD_COLOR`. Returns HWC float32.
 *
 * @example
 * ```ts
 * import { evalPreset } from "./transforms.ts";
 * const img = { width: 4, height: 2, channels: 3 as const, data: new Uint8Array(24) };
 * evalPreset(img, { inputSize: 8 }).data.length; // 8 * 8 * 3
 * ```
 */
export function evalPreset(image: DecodedImage, options: EvalPresetOptions = {}): FloatImage {
  const s = options.inputSize ?? DEFAULT_INPUT_SIZE;
  return normalize(resize(toFloat(toRgb(image)), { height: s, width: s }));
}

/** Options of {@linkcode predictPreset}. */
export interface PredictPresetOptions {
  /** Length of the shorter side after resizing. @default DEFAULT_SHORTER_SIDE */
  shorterSide?: number;
}

/**
 * predict.py's `ToTensor → Resize(320) → Normalize`: aspect-preserving
 * resize with {@linkcode shorterSideSize} (chelsea 300×451 → 320×481).
 *
 * @example
 * ```ts
 * import { predictPreset } from "./transforms.ts";
 * const img = { width: 6, height: 4, channels: 3 as const, data: new Uint8Array(72) };
 * const out = predictPreset(img, { shorterSide: 8 });
 * [out.height, out.width]; // [8, 12]
 * ```
 */
export function predictPreset(image: DecodedImage, options: PredictPresetOptions = {}): FloatImage {
  const size = shorterSideSize(
    image.height,
    image.width,
    options.shorterSide ?? DEFAULT_SHORTER_SIDE,
  );
  return normalize(resize(toFloat(toRgb(image)), size));
}

/** Options of {@linkcode trainPreset}, {@linkcode squashSample} and {@linkcode augmentSample}. */
export interface TrainPresetOptions {
  /** Square side image and mask are squashed to. @default 320 */
  inputSize?: number;
  /** Side of the square crop. @default 288 */
  cropSize?: number;
  /** Probability of a horizontal flip. @default 0.5 */
  hflipProb?: number;
  /** Random crop and flip; false: centre crop, no flip, no draws. @default true */
  augment?: boolean;
}

/** Defaults of {@linkcode TrainPresetOptions} (`SODPresetTrain([320,320], 288, 0.5)`). */
export const DEFAULT_TRAIN_PRESET: Readonly<Required<TrainPresetOptions>> = {
  inputSize: DEFAULT_INPUT_SIZE,
  cropSize: 288,
  hflipProb: 0.5,
  augment: true,
};

/** Image and mask after `to_tensor` and the squash, before crop/flip/normalise. */
export interface SquashedSample {
  /** inputSize² × 3 in [0, 1]. */
  image: FloatImage;
  /** inputSize² × 1 in [0, 1], soft at edges (bilinear, like the seed). */
  mask: FloatImage;
}

/** A training sample from {@linkcode trainPreset}. */
export interface TrainSample {
  /** cropSize² × 3, normalised. */
  image: FloatImage;
  /** cropSize² × 1 in [0, 1]. */
  mask: FloatImage;
  /** Crop row offset, in [0, inputSize − cropSize]. */
  top: number;
  /** Crop column offset, in [0, inputSize − cropSize]. */
  left: number;
  /** Whether the sample was mirrored. */
  flipped: boolean;
}

/**
 * First, deterministic half of {@linkcode trainPreset}: `to_tensor` and the
 * bilinear squash of both image and mask (cacheable across epochs).
 *
 * @example
 * ```ts
 * import { squashSample } from "./transforms.ts";
 * const img = { width: 4, height: 4, channels: 3 as const, data: new Uint8Array(48) };
 * const mask = { width: 4, height: 4, channels: 1 as const, data: new Uint8Array(16) };
 * squashSample(img, mask, { inputSize: 8 }).mask.data.length; // 64
 * ```
 */
export function squashSample(
  image: DecodedImage,
  mask: DecodedImage,
  options: Pick<TrainPresetOptions, "inputSize"> = {},
): SquashedSample {
  const s = options.inputSize ?? DEFAULT_TRAIN_PRESET.inputSize;
  const size = { height: s, width: s };
  return {
    image: resize(toFloat(toRgb(image)), size),
    mask: resize(toFloat(toGray(mask)), size),
  };
}

/**
 * Second half of {@linkcode trainPreset}: `RandomCrop` (row offset drawn
 * first, then column, each `rng.int(0, inputSize − cropSize + 1)`), then
 * `RandomHorizontalFlip` (`rng.float() < hflipProb`, always drawn), then
 * normalise the image. With `augment: false`: centre crop at
 * `floor((inputSize − cropSize) / 2)`, no flip, nothing drawn.
 *
 * @example
 * ```ts
 * import { augmentSample, squashSample } from "./transforms.ts";
 * import { Rng } from "./rng.ts";
 * const img = { width: 4, height: 4, channels: 3 as const, data: new Uint8Array(48) };
 * const mask = { width: 4, height: 4, channels: 1 as const, data: new Uint8Array(16) };
 * const sq = squashSample(img, mask, { inputSize: 8 });
 * augmentSample(sq, new Rng(1), { inputSize: 8, cropSize: 6 }).image.width; // 6
 * ```
 */
export function augmentSample(
  sample: SquashedSample,
  rng: Rng,
  options: TrainPresetOptions = {},
): TrainSample {
  const o = { ...DEFAULT_TRAIN_PRESET };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) Object.assign(o, { [k]: v });
  const s = sample.image.height;
  if (sample.image.width !== s || sample.mask.height !== s || sample.mask.width !== s) {
    throw new RangeError(`Cannot augment: current sample is not square ${s}x${s}`);
  }
  if (!Number.isInteger(o.cropSize) || o.cropSize < 1 || o.cropSize > s) {
    throw new RangeError(`Cannot augment: current cropSize is ${o.cropSize} for inputSize ${s}`);
  }
  let top: number, left: number, flipped: boolean;
  if (o.augment) {
    top = rng.int(0, s - o.cropSize + 1);
    left = rng.int(0, s - o.cropSize + 1);
    flipped = rng.float() < o.hflipProb;
  } else {
    top = left = Math.floor((s - o.cropSize) / 2);
    flipped = false;
  }
  const box = { top, left, height: o.cropSize, width: o.cropSize };
  let image = crop(sample.image, box);
  let mask = crop(sample.mask, box);
  if (flipped) {
    image = hflip(image);
    mask = hflip(mask);
  }
  return { image: normalize(image), mask, top, left, flipped };
}

/**
 * `SODPresetTrain([320,320], crop_size=288, hflip_prob=0.5)`: squash image
 * and mask to inputSize² (bilinear, the mask too, so it is soft), random
 * crop, random flip, normalise the image. See {@linkcode augmentSample}.
 *
 * @example
 * ```ts
 * import { trainPreset } from "./transforms.ts";
 * import { Rng } from "./rng.ts";
 * const img = { width: 4, height: 4, channels: 3 as const, data: new Uint8Array(48) };
 * const mask = { width: 4, height: 4, channels: 1 as const, data: new Uint8Array(16).fill(255) };
 * trainPreset(img, mask, new Rng(1), { inputSize: 8, cropSize: 6 }).mask.data[0]; // 1
 * ```
 */
export function trainPreset(
  image: DecodedImage,
  mask: DecodedImage,
  rng: Rng,
  options: TrainPresetOptions = {},
): TrainSample {
  return augmentSample(squashSample(image, mask, options), rng, options);
}
