/**
 * rembg's alpha matting (`rembg i -a`, `remove(alpha_matting=True)`): a
 * trimap from the 8-bit mask (sure foreground above 240 and sure background
 * below 10, each eroded by a 10x10 square), pymatting's closed-form alpha
 * inside it and its multilevel foreground colours, so hair and soft edges
 * get a matte that follows the photo instead of the network's upsampled
 * mask, and edge colours lose the old background's tint.
 *
 * @module
 */
import type { DecodedImage } from "../data/image_io.ts";
import { closedFormAlpha } from "./_closed_form_alpha.ts";
import { estimateForeground } from "./_foreground_ml.ts";
import { runSteps, runStepsAsync, type Steps } from "./_steps.ts";

/** Options of {@linkcode alphaMatting} (rembg's `-af`, `-ab`, `-ae`). */
export interface MattingOptions {
  /** Sure foreground where the 8-bit mask is above this. @default DEFAULT_MATTING.foregroundThreshold */
  foregroundThreshold?: number;
  /** Sure background where the 8-bit mask is below this. @default DEFAULT_MATTING.backgroundThreshold */
  backgroundThreshold?: number;
  /** Side of the square both are eroded by (0: a 3x3 cross). @default DEFAULT_MATTING.erodeSize */
  erodeSize?: number;
  /**
   * Most unsure pixels to solve for (about 1 KB of memory each with the
   * factor); more fall back. @default DEFAULT_MATTING.maxUnsurePixels
   */
  maxUnsurePixels?: number;
  /**
   * Largest image to matte (about 55 bytes of memory a pixel, besides the
   * solve); larger fall back. @default DEFAULT_MATTING.maxPixels
   */
  maxPixels?: number;
}

/** rembg's defaults (`-af 240 -ab 10 -ae 10`), and our limit on the solve's size. */
export const DEFAULT_MATTING: Readonly<Required<MattingOptions>> = {
  foregroundThreshold: 240,
  backgroundThreshold: 10,
  erodeSize: 10,
  maxUnsurePixels: 1_000_000,
  maxPixels: Infinity,
};

/** Most entries of the incomplete Cholesky factor an unsure pixel may bring (12 bytes each). */
const FACTOR_ENTRIES_PER_PIXEL = 64;

/** Why {@linkcode alphaMatting} gave no matte (rembg keeps its plain cut-out then). */
export interface MattingFallback {
  /** The reason, a phrase ("no sure foreground is left after the erosion"). */
  fallback: string;
}

/** An alpha matte and the foreground colours under it. */
export interface AlphaMatte {
  /** Alpha, 0..1, one a pixel. */
  alpha: Float64Array;
  /** Foreground RGB, 0..1, three a pixel. */
  foreground: Float32Array;
}

/** The options with their defaults, checked. */
function checked(options: MattingOptions): Required<MattingOptions> {
  const o = { ...DEFAULT_MATTING, ...options };
  for (const key of ["foregroundThreshold", "backgroundThreshold"] as const) {
    if (!(Number.isInteger(o[key]) && o[key] >= 0 && o[key] <= 255)) {
      throw new RangeError(`Cannot matte: current ${key} is ${o[key]}, expected 0-255`);
    }
  }
  if (!(Number.isInteger(o.erodeSize) && o.erodeSize >= 0 && o.erodeSize <= 255)) {
    throw new RangeError(`Cannot matte: current erodeSize is ${o.erodeSize}, expected 0-255`);
  }
  for (const key of ["maxUnsurePixels", "maxPixels"] as const) {
    if (!((Number.isInteger(o[key]) || o[key] === Infinity) && o[key] >= 0)) {
      throw new RangeError(`Cannot matte: current ${key} is ${o[key]}, expected an integer ≥ 0`);
    }
  }
  return o;
}

/** scipy's `binary_erosion`: a square of side k (offsets −⌊k/2⌋..k−1−⌊k/2⌋), or the cross for 0. */
function erode(on: Uint8Array, w: number, h: number, k: number, border: 0 | 1): Uint8Array {
  const at = (x: number, y: number) => x < 0 || y < 0 || x >= w || y >= h ? border : on[y * w + x];
  const out = new Uint8Array(w * h);
  if (k === 0) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        out[y * w + x] = at(x, y) & at(x - 1, y) & at(x + 1, y) & at(x, y - 1) & at(x, y + 1);
      }
    }
    return out;
  }
  const lo = -(k >> 1), hi = k - 1 - (k >> 1);
  const rows = new Uint8Array(w * h); // AND along x first, then along y
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 1;
      for (let d = lo; d <= hi && v; d++) v &= at(x + d, y);
      rows[y * w + x] = v;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 1;
      for (let d = lo; d <= hi && v; d++) {
        const yy = y + d;
        v &= yy < 0 || yy >= h ? border : rows[yy * w + x];
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

/**
 * rembg's trimap of an 8-bit mask: 255 where the mask is above the
 * foreground threshold after erosion, 0 where it is below the background
 * threshold after erosion (the image's outside counts as background), else
 * 128.
 *
 * @example
 * ```ts
 * import { mattingTrimap } from "./alpha_matting.ts";
 * mattingTrimap(new Uint8Array([0, 128, 255]), { width: 3, height: 1 }, { erodeSize: 1 });
 * // Uint8Array [0, 128, 255]
 * ```
 */
export function mattingTrimap(
  mask: Uint8Array,
  size: { width: number; height: number },
  options: MattingOptions = {},
): Uint8Array {
  return trimapOf(mask, size, checked(options));
}

function trimapOf(
  mask: Uint8Array,
  size: { width: number; height: number },
  o: Required<MattingOptions>,
): Uint8Array {
  const { width: w, height: h } = size;
  if (mask.length !== w * h) {
    throw new RangeError(`Cannot matte: current mask has ${mask.length} values, expected ${w * h}`);
  }
  const fg = erode(mask.map((v) => v > o.foregroundThreshold ? 1 : 0), w, h, o.erodeSize, 0);
  const bg = erode(mask.map((v) => v < o.backgroundThreshold ? 1 : 0), w, h, o.erodeSize, 1);
  return fg.map((f, i) => f ? 255 : bg[i] ? 0 : 128);
}

/**
 * The alpha matte and foreground colours of `image` (grey, RGB or RGBA;
 * alpha dropped) for its 8-bit `mask`, as rembg's `alpha_matting_cutout`;
 * or, where rembg falls back to its plain cut-out (pymatting raises: the
 * trimap lacks sure foreground or background, or the solve fails) or the
 * solve would pass `maxUnsurePixels`, a {@linkcode MattingFallback} saying
 * why. rembg also falls back on grey images (pymatting needs three
 * channels); here grey is matted as RGB.
 *
 * @example
 * ```ts
 * import { alphaMatting } from "./alpha_matting.ts";
 * const image = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array(6) };
 * alphaMatting(image, new Uint8Array([255, 0]));
 * // { fallback: "no sure background is left after the erosion" }
 * ```
 */
export function alphaMatting(
  image: DecodedImage,
  mask: Uint8Array,
  options: MattingOptions = {},
): AlphaMatte | MattingFallback {
  return runSteps(mattingSteps(image, mask, options));
}

/** Options of {@linkcode alphaMattingAsync}. */
export interface AsyncMattingOptions extends MattingOptions {
  /**
   * Awaited about every 20 ms of work, so the thread serves other work
   * meanwhile. @default {a macrotask (`setTimeout(0)`)}
   */
  pause?: () => Promise<void>;
}

/**
 * {@linkcode alphaMatting} in slices of about 20 ms with `pause` between
 * them: the same result, while the thread keeps serving (the in-thread HTTP
 * service answers `/healthz` during a matte of seconds).
 *
 * @example
 * ```ts
 * import { alphaMattingAsync } from "./alpha_matting.ts";
 * const image = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array(6) };
 * await alphaMattingAsync(image, new Uint8Array([255, 0])); // { fallback: "no sure background…" }
 * ```
 */
export function alphaMattingAsync(
  image: DecodedImage,
  mask: Uint8Array,
  options: AsyncMattingOptions = {},
): Promise<AlphaMatte | MattingFallback> {
  const pause = options.pause ?? (() => new Promise<void>((r) => setTimeout(r, 0)));
  return runStepsAsync(mattingSteps(image, mask, options), pause);
}

function* mattingSteps(
  image: DecodedImage,
  mask: Uint8Array,
  options: MattingOptions,
): Steps<AlphaMatte | MattingFallback> {
  const { width, height, channels: C, data } = image;
  const o = checked(options);
  const n = width * height;
  if (n > o.maxPixels) {
    return { fallback: `the image has ${n} pixels, over the limit of ${o.maxPixels}` };
  }
  const trimap = trimapOf(mask, { width, height }, o);
  yield;
  const alpha = yield* closedFormAlpha(image, trimap, {
    maxUnknown: o.maxUnsurePixels,
    maxFactorEntries: Math.max(1, o.maxUnsurePixels) * FACTOR_ENTRIES_PER_PIXEL,
  });
  if (typeof alpha === "string") return { fallback: alpha };
  const rgb = new Float32Array(n * 3); // pymatting's `(image / 255.0).astype(np.float32)`
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = data[C === 1 ? i : i * C + c] / 255;
  }
  const foreground = yield* estimateForeground(rgb, Float32Array.from(alpha), { width, height });
  return { alpha, foreground };
}
