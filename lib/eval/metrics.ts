/**
 * The seed's validation metrics (spec §3): mean absolute error and max F-β
 * (β² = 0.3, the seed's "maxF1") over the dataset-mean PR curve. Predictions
 * are upsampled to the ground truth's own size; float32 steps of the seed are
 * emulated with `Math.fround`.
 *
 * @module
 */
import { tf } from "../deps.ts";

/** An 8-bit mask at its original size (0 background … 255 foreground), row-major. */
export interface MaskImage {
  /** `height·width` values in 0..255. */
  data: ArrayLike<number>;
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
}

/** Ground truth for `update`: a {@linkcode MaskImage}, or a 0..255 tensor `[h,w]`, `[h,w,1]` or `[1,h,w,1]`. */
export type GroundTruth = MaskImage | tf.Tensor;

/** Options of both metrics. */
export interface MetricOptions {
  /**
   * Min-max normalise each prediction, `(p − min)/(max − min)` at network
   * size, before resizing (the seed's commented-out post-norm; ORIG's
   * `normPRED`). A constant map is left unchanged instead of becoming NaN.
   * @default {false}
   */
  postNorm?: boolean;
}

/** Defaults of {@linkcode MetricOptions}. */
export const DEFAULT_METRIC_OPTIONS: Readonly<Required<MetricOptions>> = Object.freeze({
  postNorm: false,
});

/** Histogram bins (thresholds) of the PR curve. */
export const PR_BINS = 255;

const fr = Math.fround;
const EPS_4 = fr(1e-4);

/**
 * PyTorch `histc(bins=255, min=0, max=1)` bin of a float32 value, or -1 when
 * outside [0, 1] (or NaN): `min(254, floor(float32(v·255)))`.
 *
 * @example
 * ```ts
 * import { histBin } from "./metrics.ts";
 * console.log(histBin(0.5), histBin(1), histBin(1.5)); // 127 254 -1
 * ```
 */
export function histBin(v: number): number {
  if (!(v >= 0 && v <= 1)) return -1;
  return Math.min(PR_BINS - 1, Math.floor(fr(v * PR_BINS)));
}

function checkSizes(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
  if (pred.length !== gt.length || gt.length === 0) {
    throw new RangeError(
      `Cannot score prediction: current value is ${pred.length} values for a ${gt.length}-pixel mask`,
    );
  }
}

/**
 * One image's MAE, `Σ|pred − gt/255| / (h·w)`, with the ground truth not
 * binarised; `pred` must already be at the mask's size.
 *
 * @example
 * ```ts
 * import { imageMae } from "./metrics.ts";
 * console.log(imageMae([1, 0.5], [255, 0])); // 0.25
 * ```
 */
export function imageMae(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSizes(pred, gt);
  let sum = 0;
  for (let i = 0; i < gt.length; i++) sum += Math.abs(fr(pred[i] - fr(gt[i] / 255)));
  return fr(fr(sum) / gt.length);
}

/**
 * One image's precision and recall curves (float32, length 255): index `k`
 * counts pixels whose histc bin is ≥ 254 − k, so thresholds fall from 254/255
 * to 0. Foreground is `gt/255 > 0.5`; `pred` must already be at the mask's size.
 *
 * @example
 * ```ts
 * import { prCurves } from "./metrics.ts";
 * const { precision, recall } = prCurves([0.9, 0.1], [255, 0]);
 * console.log(precision[254], recall[254]); // ≈ 0.49998 ≈ 0.9999
 * ```
 */
export function prCurves(
  pred: ArrayLike<number>,
  gt: ArrayLike<number>,
): { precision: Float32Array; recall: Float32Array } {
  checkSizes(pred, gt);
  const pp = new Float64Array(PR_BINS);
  const nn = new Float64Array(PR_BINS);
  let gtNum = 0;
  for (let i = 0; i < gt.length; i++) {
    const fg = fr(gt[i] / 255) > 0.5;
    if (fg) gtNum++;
    const bin = histBin(pred[i]);
    if (bin >= 0) (fg ? pp : nn)[bin]++;
  }
  const precision = new Float32Array(PR_BINS);
  const recall = new Float32Array(PR_BINS);
  const recallDenom = fr(gtNum + EPS_4);
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < PR_BINS; k++) {
    tp += pp[PR_BINS - 1 - k];
    fp += nn[PR_BINS - 1 - k];
    precision[k] = tp / fr(fr(tp + fp) + EPS_4);
    recall[k] = tp / recallDenom;
  }
  return { precision, recall };
}

/**
 * F-β curve (β² = 0.3) of the mean PR curve, in float32 like the seed:
 * `P = Σprecision/n`, `R = Σrecall/n`, `F = 1.3·P·R/(0.3·P + R + 1e-8)`.
 *
 * @example
 * ```ts
 * import { fMeasureCurve } from "./metrics.ts";
 * console.log(fMeasureCurve(new Float32Array([1]), new Float32Array([1]), 1).f[0]); // ≈ 1
 * ```
 */
export function fMeasureCurve(
  precisionSum: Float32Array,
  recallSum: Float32Array,
  count: number,
): { precision: Float32Array; recall: Float32Array; f: Float32Array } {
  const n = fr(count);
  const precision = precisionSum.map((p) => p / n);
  const recall = recallSum.map((r) => r / n);
  const f = precision.map((p, k) => {
    const r = recall[k];
    return fr(fr(fr(1.3) * p) * r) / fr(fr(fr(fr(0.3) * p) + r) + fr(1e-8));
  });
  return { precision, recall, f };
}

/** Per output index along one axis: source indices and float32 weights. */
function axisWeights(inSize: number, outSize: number) {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l0 = new Float32Array(outSize);
  const l1 = new Float32Array(outSize);
  const scale = fr(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      [i0[o], i1[o], l0[o], l1[o]] = [o, o, 1, 0];
      continue;
    }
    const real = Math.max(scale * (o + 0.5) - 0.5, 0);
    i0[o] = Math.min(Math.trunc(real), inSize - 1);
    i1[o] = i0[o] + (i0[o] < inSize - 1 ? 1 : 0);
    l1[o] = Math.min(Math.max(real - i0[o], 0), 1);
    l0[o] = 1 - l1[o];
  }
  return { i0, i1, l0, l1 };
}

/**
 * Bilinear resize of a row-major single-channel float32 image on the host,
 * with PyTorch 1.13 CPU `interpolate(mode="bilinear", align_corners=False)`
 * rounding (half-pixel centres, no antialias, float32 lambdas and weights):
 * bit-exact where it matters for histogram bins, e.g. a constant-1 map comes
 * out slightly above 1 at some pixels and is then ignored by `histc`, as in
 * the seed. (`tf.image.resizeBilinear` agrees to ~1 ulp but not bit-exactly.)
 *
 * @example
 * ```ts
 * import { bilinearResize } from "./metrics.ts";
 * console.log(bilinearResize([0, 1], [1, 2], [1, 4])); // [0, 0.25, 0.75, 1]
 * ```
 */
export function bilinearResize(
  src: ArrayLike<number>,
  [height, width]: readonly [number, number],
  [outHeight, outWidth]: readonly [number, number],
): Float32Array {
  if (src.length !== height * width || src.length === 0 || outHeight < 1 || outWidth < 1) {
    throw new RangeError(
      `Cannot resize: current value is ${src.length} values for ${height}x${width} -> ${outHeight}x${outWidth}`,
    );
  }
  const h = axisWeights(height, outHeight);
  const w = axisWeights(width, outWidth);
  const out = new Float32Array(outHeight * outWidth);
  for (let y = 0; y < outHeight; y++) {
    const r0 = h.i0[y] * width;
    const r1 = h.i1[y] * width;
    for (let x = 0; x < outWidth; x++) {
      const [c0, c1] = [w.i0[x], w.i1[x]];
      out[y * outWidth + x] = fr(h.l0[y] * w.l0[x]) * src[r0 + c0] +
        fr(h.l0[y] * w.l1[x]) * src[r0 + c1] +
        fr(h.l1[y] * w.l0[x]) * src[r1 + c0] +
        fr(h.l1[y] * w.l1[x]) * src[r1 + c1];
    }
  }
  return out;
}

/** Per-image min-max normalisation in float32; a constant map is returned unchanged. */
function minMaxNormalise(p: Float32Array): Float32Array {
  let [mi, ma] = [Infinity, -Infinity];
  for (const v of p) [mi, ma] = [Math.min(mi, v), Math.max(ma, v)];
  const range = fr(ma - mi);
  return range > 0 ? p.map((v) => fr(v - mi) / range) : p;
}

/**
 * Reads a `[1, H, W, 1]` sigmoid map and upsamples it to `height×width` on the
 * host with {@linkcode bilinearResize} (optionally min-max normalised first).
 * Does not dispose `pred`.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { resizePrediction } from "./metrics.ts";
 * const p = tf.tensor4d([0, 1], [1, 1, 2, 1]);
 * console.log(await resizePrediction(p, 1, 4)); // [0, 0.25, 0.75, 1]
 * ```
 */
export async function resizePrediction(
  pred: tf.Tensor,
  height: number,
  width: number,
  options: MetricOptions = {},
): Promise<Float32Array> {
  const [b, h, w, c] = pred.shape;
  if (pred.rank !== 4 || b !== 1 || c !== 1) {
    throw new RangeError(
      `Cannot resize prediction: current value is shape [${pred.shape}], expected [1, H, W, 1]`,
    );
  }
  let data: Float32Array = Float32Array.from(await pred.data());
  if (options.postNorm ?? DEFAULT_METRIC_OPTIONS.postNorm) data = minMaxNormalise(data);
  return bilinearResize(data, [h, w], [height, width]);
}

async function maskOf(gt: GroundTruth): Promise<MaskImage> {
  if (!(gt instanceof tf.Tensor)) {
    if (gt.data.length !== gt.width * gt.height) {
      throw new RangeError(
        `Cannot read mask: current value is ${gt.data.length} values for ${gt.width}x${gt.height}`,
      );
    }
    return gt;
  }
  const s = gt.shape;
  const ok = s.length === 2 || (s.length === 3 && s[2] === 1) ||
    (s.length === 4 && s[0] === 1 && s[3] === 1);
  if (!ok) {
    throw new RangeError(`Cannot read mask: current value is shape [${s}], expected [1, h, w, 1]`);
  }
  const [height, width] = s.length === 4 ? [s[1], s[2]] : [s[0], s[1]];
  return { data: await gt.data(), width, height };
}

async function prepare(
  pred: tf.Tensor,
  gt: GroundTruth,
  options: MetricOptions,
): Promise<[Float32Array, ArrayLike<number>]> {
  const mask = await maskOf(gt);
  return [await resizePrediction(pred, mask.height, mask.width, options), mask.data];
}

/**
 * The seed's `MeanAbsoluteError`: per-image MAE, averaged over images.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { MeanAbsoluteError } from "./metrics.ts";
 * const mae = new MeanAbsoluteError();
 * await mae.update(tf.fill([1, 2, 2, 1], 0.5), { data: [255, 0, 0, 0], width: 2, height: 2 });
 * console.log(mae.compute(), `${mae}`); // 0.5 "MAE: 0.500"
 * ```
 */
export class MeanAbsoluteError {
  readonly #options: Required<MetricOptions>;
  readonly #values: number[] = [];
  /** Creates an empty metric; `options` as in {@linkcode MetricOptions}. */
  constructor(options: MetricOptions = {}) {
    this.#options = { ...DEFAULT_METRIC_OPTIONS, ...options };
  }
  /** Per-image MAE values, in update order. */
  get values(): readonly number[] {
    return [...this.#values];
  }
  /**
   * Scores one image (batch size 1): `pred` is the `[1, H, W, 1]` sigmoid map
   * at network size, `gt` the 0..255 mask at its original size. Disposes nothing.
   */
  async update(pred: tf.Tensor, gt: GroundTruth): Promise<void> {
    this.updateResized(...await prepare(pred, gt, this.#options));
  }
  /** Host path: `pred` already at the mask's size, `gt` 0..255 (no post-norm here). */
  updateResized(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
    this.#values.push(imageMae(pred, gt));
  }
  /** Mean over images. @throws {RangeError} Before any update. */
  compute(): number {
    if (this.#values.length === 0) {
      throw new RangeError("Cannot compute MAE: current value is 0 images");
    }
    return this.#values.reduce((a, b) => a + b, 0) / this.#values.length;
  }
  /** `MAE: 0.xxx` (`MAE: nan` before any update). */
  toString(): string {
    return `MAE: ${this.#values.length ? this.compute().toFixed(3) : "nan"}`;
  }
}

/**
 * The seed's `F1Score`: really max F-β (β² = 0.3) of the dataset-mean PR curve.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { FScore } from "./metrics.ts";
 * const f = new FScore();
 * await f.update(tf.tensor4d([0.9, 0.1], [1, 1, 2, 1]), { data: [255, 0], width: 2, height: 1 });
 * console.log(`${f}`); // "maxF1: 1.000"
 * ```
 */
export class FScore {
  readonly #options: Required<MetricOptions>;
  /** Creates an empty metric; `options` as in {@linkcode MetricOptions}. */
  constructor(options: MetricOptions = {}) {
    this.#options = { ...DEFAULT_METRIC_OPTIONS, ...options };
  }
  readonly #precisionSum = new Float32Array(PR_BINS);
  readonly #recallSum = new Float32Array(PR_BINS);
  #count = 0;
  /** Images seen. */
  get count(): number {
    return this.#count;
  }
  /**
   * Scores one image (batch size 1): `pred` is the `[1, H, W, 1]` sigmoid map
   * at network size, `gt` the 0..255 mask at its original size. Disposes nothing.
   */
  async update(pred: tf.Tensor, gt: GroundTruth): Promise<void> {
    this.updateResized(...await prepare(pred, gt, this.#options));
  }
  /** Host path: `pred` already at the mask's size, `gt` 0..255 (no post-norm here). */
  updateResized(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
    const { precision, recall } = prCurves(pred, gt);
    for (let k = 0; k < PR_BINS; k++) {
      this.#precisionSum[k] += precision[k];
      this.#recallSum[k] += recall[k];
    }
    this.#count++;
  }
  /** Mean precision, recall and F-β curves (index k: threshold bin ≥ 254 − k). */
  curves(): { precision: Float32Array; recall: Float32Array; f: Float32Array } {
    if (this.#count === 0) {
      throw new RangeError("Cannot compute F-measure: current value is 0 images");
    }
    return fMeasureCurve(this.#precisionSum, this.#recallSum, this.#count);
  }
  /** Max over thresholds of F-β. @throws {RangeError} Before any update. */
  compute(): number {
    return this.curves().f.reduce((a, b) => Math.max(a, b), -Infinity);
  }
  /** `maxF1: 0.xxx` (`maxF1: nan` before any update). */
  toString(): string {
    return `maxF1: ${this.#count ? this.compute().toFixed(3) : "nan"}`;
  }
}

/** The seed's name for {@linkcode FScore}. */
export const F1Score: typeof FScore = FScore;
/** The seed's name for {@linkcode FScore}. */
export type F1Score = FScore;
