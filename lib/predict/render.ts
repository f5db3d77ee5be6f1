/**
 * Post-processing of a probability map: a binary mask (the seed's `pred >
 * threshold`), an 8-bit soft mask, or a cut-out (RGBA with the soft mask as
 * alpha, as rembg's, or the thresholded one; or composited on a background
 * colour), optionally after rembg's mask clean-up; PNG bytes; a JSON summary.
 *
 * @module
 */
import { type DecodedImage, encodePng } from "../data/image_io.ts";
import {
  type AlphaMatte,
  alphaMatting,
  alphaMattingAsync,
  type MattingFallback,
  type MattingOptions,
} from "./alpha_matting.ts";
import type { RgbColor } from "./parse_color.ts";
import { postProcessMask } from "./post_process.ts";
import type { ProbabilityMap } from "./predictor.ts";

/** Output kinds of {@linkcode renderOutput}. */
export type OutputFormat = "mask" | "soft" | "cutout";

/** The output formats, for option parsing and help texts. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["mask", "soft", "cutout"];

/**
 * Default output: a cut-out (RGBA, the soft mask as alpha), what people
 * removing a background expect (rembg's default too); `mask` is the seed's
 * binary mask.
 */
export const DEFAULT_FORMAT: OutputFormat = "cutout";

/** Default threshold: the seed's `pred > 0.5` (strictly greater). */
export const DEFAULT_THRESHOLD = 0.5;

/**
 * Cut-out alpha: the 8-bit soft mask, 0/255 from the threshold, or rembg's
 * alpha matting of the photo inside the mask's uncertain band.
 */
export type AlphaMode = "soft" | "hard" | "matting";

/** The alpha modes, for option parsing and help texts. */
export const ALPHA_MODES: readonly AlphaMode[] = ["soft", "hard", "matting"];

/** Default cut-out alpha: the soft mask, as rembg's cut-outs. */
export const DEFAULT_ALPHA: AlphaMode = "soft";

/** Default: no mask clean-up (rembg's `-ppm` is off by default too). */
export const DEFAULT_POST_PROCESS = false;

/** Options of {@linkcode renderOutput}. */
export interface RenderOptions {
  /** What to draw. @default DEFAULT_FORMAT */
  format?: OutputFormat;
  /** Foreground where probability > threshold (mask, hard cutout). @default DEFAULT_THRESHOLD */
  threshold?: number;
  /** Cut-out alpha: `round(255·p)` (soft), 0/255 at the threshold (hard) or matted. @default DEFAULT_ALPHA */
  alpha?: AlphaMode;
  /** Trimap thresholds and erosion of `alpha: "matting"`. @default DEFAULT_MATTING */
  matting?: MattingOptions;
  /** Told why, when `alpha: "matting"` falls back to the soft cut-out. @default {undefined} */
  onMattingFallback?: (reason: string) => void;
  /** Clean the mask first ({@linkcode postProcessMask}, rembg's `-ppm`). @default DEFAULT_POST_PROCESS */
  postProcess?: boolean;
  /** Cut-out background: none keeps transparency (RGBA); a colour gives RGB. @default {undefined} */
  bgColor?: RgbColor;
}

function checkSizes(image: { width: number; height: number }, prob: ProbabilityMap): void {
  if (image.width !== prob.width || image.height !== prob.height) {
    throw new RangeError(
      `Cannot render: current mask is ${prob.width}x${prob.height}, image ${image.width}x${image.height}`,
    );
  }
}

function checkThreshold(t: number): void {
  if (!(t >= 0 && t <= 1)) throw new RangeError(`Cannot render: current threshold is ${t}`);
}

/**
 * Draws the prediction: `mask` (grey 0/255), `soft` (grey `round(255·p)`) or
 * `cutout`: the image's RGB with alpha `round(255·p)` (`alpha: "soft"`, the
 * default, as rembg) or 255 where p > threshold, else 0 (`"hard"`); colour is
 * zeroed where alpha is 0 and not premultiplied elsewhere; or `"matting"`,
 * rembg's `-a` ({@linkcode alphaMatting}): alpha `⌊255·α⌋` and colour
 * `⌊255·F⌋` from the closed-form matte of the 8-bit soft mask, or the soft
 * cut-out where rembg falls back to it (no sure foreground or background
 * left after the erosion; `onMattingFallback` hears why). With `bgColor`,
 * RGB composited on that colour: `round((a·rgb + (255 − a)·bg) / 255)`.
 * With `postProcess`, the map is cleaned first ({@linkcode postProcessMask}):
 * its result is 0/1, so every format comes out hard.
 *
 * @example
 * ```ts
 * import { renderOutput } from "./render.ts";
 * const img = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array([9, 9, 9, 8, 8, 8]) };
 * const prob = { width: 2, height: 1, data: new Float32Array([0.6, 0]) };
 * renderOutput(img, prob, { format: "cutout" }).data; // [9, 9, 9, 153, 0, 0, 0, 0]
 * ```
 */
export function renderOutput(
  image: DecodedImage,
  prob: ProbabilityMap,
  options: RenderOptions = {},
): DecodedImage {
  const job = prepare(image, prob, options);
  return draw(job, job.mask ? alphaMatting(image, job.mask, options.matting) : undefined);
}

/** Options of {@linkcode renderOutputAsync} and {@linkcode renderPngAsync}. */
export interface AsyncRenderOptions extends RenderOptions {
  /** Awaited about every 20 ms of alpha matting. @default {a macrotask} */
  pause?: () => Promise<void>;
}

/**
 * {@linkcode renderOutput}, with alpha matting in slices of about 20 ms and
 * `pause` between them (the other formats take milliseconds and run at once).
 *
 * @example
 * ```ts
 * import { renderOutputAsync } from "./render.ts";
 * const img = { width: 1, height: 1, channels: 3 as const, data: new Uint8Array(3) };
 * (await renderOutputAsync(img, { width: 1, height: 1, data: new Float32Array([1]) })).channels; // 4
 * ```
 */
export async function renderOutputAsync(
  image: DecodedImage,
  prob: ProbabilityMap,
  options: AsyncRenderOptions = {},
): Promise<DecodedImage> {
  const job = prepare(image, prob, options);
  const matting = { ...options.matting, ...(options.pause ? { pause: options.pause } : {}) };
  return draw(job, job.mask ? await alphaMattingAsync(image, job.mask, matting) : undefined);
}

/** A checked render: the (cleaned) map and, for a matted cut-out, its 8-bit mask. */
interface RenderJob {
  image: DecodedImage;
  prob: ProbabilityMap;
  options: RenderOptions;
  format: OutputFormat;
  threshold: number;
  alpha: AlphaMode;
  mask?: Uint8Array;
}

const level = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);

function prepare(image: DecodedImage, prob: ProbabilityMap, options: RenderOptions): RenderJob {
  checkSizes(image, prob);
  const format = options.format ?? DEFAULT_FORMAT;
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  checkThreshold(threshold);
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (!ALPHA_MODES.includes(alpha)) {
    throw new TypeError(
      `Cannot render: current alpha is "${alpha}", expected ${ALPHA_MODES.join("|")}`,
    );
  }
  if (!OUTPUT_FORMATS.includes(format)) {
    throw new TypeError(
      `Cannot render: current format is "${format}", expected ${OUTPUT_FORMATS.join("|")}`,
    );
  }
  if (options.postProcess ?? DEFAULT_POST_PROCESS) prob = postProcessMask(prob);
  const matted = format === "cutout" && alpha === "matting";
  const mask = matted ? Uint8Array.from(prob.data, level) : undefined;
  return { image, prob, options, format, threshold, alpha, mask };
}

function draw(job: RenderJob, matte: AlphaMatte | MattingFallback | undefined): DecodedImage {
  const { image, format, threshold: t, alpha, options } = job;
  const { width, height } = image;
  const n = width * height;
  const p = job.prob.data;
  if (format === "mask" || format === "soft") {
    const out = new Uint8Array(n);
    if (format === "mask") { for (let i = 0; i < n; i++) out[i] = p[i] > t ? 255 : 0; }
    else for (let i = 0; i < n; i++) out[i] = level(p[i]);
    return { width, height, channels: 1, data: out };
  }
  const C = image.channels, src = image.data, bg = options.bgColor;
  if (matte && !("fallback" in matte)) return composite(matte, { width, height }, bg);
  if (matte) options.onMattingFallback?.(matte.fallback);
  const oc = bg ? 3 : 4;
  const out = new Uint8Array(n * oc);
  const soft = alpha !== "hard";
  for (let i = 0; i < n; i++) {
    const a = soft ? level(p[i]) : p[i] > t ? 255 : 0;
    for (let c = 0; c < 3; c++) {
      const v = C === 1 ? src[i] : src[i * C + c];
      if (!bg) out[i * oc + c] = a ? v : 0;
      else out[i * oc + c] = a === 255 ? v : Math.round((a * v + (255 - a) * bg[c]) / 255);
    }
    if (!bg) out[i * oc + 3] = a;
  }
  return { width, height, channels: oc, data: out };
}

/** A matte as rembg writes it (⌊255·F⌋, ⌊255·α⌋), or composited on `bg`. */
function composite(
  matte: AlphaMatte,
  size: { width: number; height: number },
  bg: RgbColor | undefined,
): DecodedImage {
  const { width, height } = size, n = width * height, oc = bg ? 3 : 4;
  const out = new Uint8Array(n * oc);
  for (let i = 0; i < n; i++) {
    const a = Math.trunc(matte.alpha[i] * 255);
    for (let c = 0; c < 3; c++) {
      const v = Math.trunc(matte.foreground[i * 3 + c] * 255);
      out[i * oc + c] = !bg || a === 255 ? v : Math.round((a * v + (255 - a) * bg[c]) / 255);
    }
    if (!bg) out[i * oc + 3] = a;
  }
  return { width, height, channels: oc, data: out };
}

/**
 * {@linkcode renderOutput} encoded as PNG bytes.
 *
 * @example
 * ```ts
 * import { renderPng } from "./render.ts";
 * const img = { width: 1, height: 1, channels: 3 as const, data: new Uint8Array(3) };
 * renderPng(img, { width: 1, height: 1, data: new Float32Array([1]) })[1]; // 0x50
 * ```
 */
export function renderPng(
  image: DecodedImage,
  prob: ProbabilityMap,
  options: RenderOptions = {},
): Uint8Array {
  const out = renderOutput(image, prob, options);
  return encodePng(out.width, out.height, out.data, out.channels);
}

/**
 * {@linkcode renderOutputAsync} encoded as PNG bytes.
 *
 * @example
 * ```ts
 * import { renderPngAsync } from "./render.ts";
 * const img = { width: 1, height: 1, channels: 3 as const, data: new Uint8Array(3) };
 * (await renderPngAsync(img, { width: 1, height: 1, data: new Float32Array([1]) }))[1]; // 0x50
 * ```
 */
export async function renderPngAsync(
  image: DecodedImage,
  prob: ProbabilityMap,
  options: AsyncRenderOptions = {},
): Promise<Uint8Array> {
  const out = await renderOutputAsync(image, prob, options);
  return encodePng(out.width, out.height, out.data, out.channels);
}
