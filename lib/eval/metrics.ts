/**
 * The seed's validation metrics (spec §3): mean absolute error and max F-β
 * (β² = 0.3, the seed's "maxF1") over the dataset-mean PR curve. Predictions
 * are upsampled to the ground truth's own size; float32 steps of the seed are
 * emulated with `Math.fround`.
 *
 * @module
 */
import type { tf } from "../deps.ts";

export {
  bilinearResize,
  DEFAULT_METRIC_OPTIONS,
  type GroundTruth,
  type MaskImage,
  type MetricOptions,
  resizePrediction,
} from "./_prediction.ts";
import {
  DEFAULT_METRIC_OPTIONS,
  type GroundTruth,
  type MetricOptions,
  prepare,
} from "./_prediction.ts";

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
