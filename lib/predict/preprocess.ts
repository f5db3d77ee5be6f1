/**
 * What a network expects around it: the image → input tensor step and the
 * output map → mask step, per preprocessing profile. `seed` is how this
 * project (and the seed's `predict.py`) trains and predicts; `rembg` is how
 * rembg runs the trained models it distributes (u2net, u2netp,
 * u2net_human_seg, silueta), reproduced step for step.
 *
 * @module
 */
import { type DecodedImage, toRgb } from "../data/image_io.ts";
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  resize,
  resizeBilinear,
  toFloat,
} from "../data/transforms.ts";
import { resizeLanczos8 } from "./pil_resize.ts";

/** A preprocessing profile. */
export type PreprocessProfile = "seed" | "rembg";

/** The profiles, for option parsing and help texts. */
export const PREPROCESS_PROFILES: readonly PreprocessProfile[] = ["seed", "rembg"];

/** Default profile: the seed's, which the networks trained here expect. */
export const DEFAULT_PREPROCESS: PreprocessProfile = "seed";

/** One line per profile: what it does to the input and to the output. */
export const PREPROCESS_DESCRIPTIONS: Readonly<Record<PreprocessProfile, string>> = Object.freeze({
  seed: "RGB / 255, bilinear resize (half-pixel, no antialiasing), ImageNet mean/std; " +
    "the sigmoid map as is, bilinear back to the image size (the seed's predict.py; " +
    "networks trained here)",
  rembg: "RGB, Pillow LANCZOS resize (8-bit, antialiased), / the resized image's own " +
    "maximum (not 255), ImageNet mean/std; the sigmoid map min-max normalised, " +
    "truncated to 8 bits and LANCZOS back to the image size (rembg's sessions for " +
    "u2net, u2netp, u2net_human_seg and silueta)",
});

/** A network size. */
export interface MapSize {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** Options of {@linkcode preprocessImage} and {@linkcode postprocessMap}. */
export interface PreprocessOptions {
  /** The profile. @default DEFAULT_PREPROCESS */
  profile?: PreprocessProfile;
}

/**
 * The network input for an image: `size.height × size.width × 3` float32,
 * HWC, normalised as the profile says.
 *
 * @example
 * ```ts
 * import { preprocessImage } from "./preprocess.ts";
 * const img = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array([128, 128, 128, 0, 0, 0]) };
 * // rembg scales by the image's maximum: 128 becomes 1, then (1 - 0.485) / 0.229.
 * preprocessImage(img, { height: 1, width: 2 }, { profile: "rembg" })[0]; // 2.2489…
 * ```
 */
export function preprocessImage(
  image: DecodedImage,
  size: MapSize,
  options: PreprocessOptions = {},
): Float32Array {
  const rgb = toRgb(image);
  if ((options.profile ?? DEFAULT_PREPROCESS) === "seed") {
    return normalize(resize(toFloat(rgb), size)).data;
  }
  const r = resizeLanczos8(
    Float32Array.from(rgb.data),
    rgb.height,
    rgb.width,
    3,
    size.height,
    size.width,
  );
  let max = 0;
  for (let i = 0; i < r.length; i++) if (r[i] > max) max = r[i];
  const m = Math.max(max, 1e-6);
  const out = new Float32Array(r.length);
  for (let i = 0; i < r.length; i++) {
    const c = i % 3;
    out[i] = (r[i] / m - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
  }
  return out;
}

/**
 * A network output map (`from` size, values in [0, 1]) to probabilities at
 * the image's size: `seed` resizes it bilinearly; `rembg` min-max normalises
 * it (a constant map becomes 0), truncates to 8 bits, resizes with LANCZOS
 * and divides by 255.
 *
 * @example
 * ```ts
 * import { postprocessMap } from "./preprocess.ts";
 * const map = { height: 1, width: 2, data: new Float32Array([0.25, 0.75]) };
 * postprocessMap(map, { height: 1, width: 2 }, { profile: "rembg" }); // Float32Array [0, 1]
 * ```
 */
export function postprocessMap(
  map: MapSize & { data: Float32Array },
  size: MapSize,
  options: PreprocessOptions = {},
): Float32Array {
  const { height: h, width: w, data } = map;
  const same = h === size.height && w === size.width;
  if ((options.profile ?? DEFAULT_PREPROCESS) === "seed") {
    return same ? data.slice() : resizeBilinear(data, h, w, 1, size.height, size.width);
  }
  let mi = Infinity, ma = -Infinity;
  for (const v of data) {
    if (v < mi) mi = v;
    if (v > ma) ma = v;
  }
  const range = Math.fround(ma - mi);
  const u8 = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const p = Math.fround(Math.fround(data[i] - mi) / range);
    u8[i] = range > 0 ? Math.trunc(Math.fround(p * 255)) : 0;
  }
  const out = resizeLanczos8(u8, h, w, 1, size.height, size.width);
  for (let i = 0; i < out.length; i++) out[i] /= 255;
  return out;
}
