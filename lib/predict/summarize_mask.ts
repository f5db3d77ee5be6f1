/**
 * The JSON answer of `POST /predict?format=json`: size, foreground share and
 * bounding box of a prediction at a threshold.
 *
 * @module
 */
import type { ProbabilityMap } from "./predictor.ts";
import { DEFAULT_THRESHOLD } from "./render.ts";

/** The JSON summary of a prediction. */
export interface MaskSummary {
  /** Image width. */
  width: number;
  /** Image height. */
  height: number;
  /** Threshold used. */
  threshold: number;
  /** Share of pixels with p > threshold. */
  foregroundFraction: number;
  /** Smallest box around the foreground, or null when there is none. */
  bbox: { x: number; y: number; width: number; height: number } | null;
}

/**
 * Size, foreground fraction and bounding box of the mask at `threshold`.
 *
 * @example
 * ```ts
 * import { summarizeMask } from "./summarize_mask.ts";
 * const s = summarizeMask({ width: 2, height: 2, data: new Float32Array([0, 0.9, 0, 0]) });
 * [s.foregroundFraction, s.bbox]; // [0.25, { x: 1, y: 0, width: 1, height: 1 }]
 * ```
 */
export function summarizeMask(
  prob: ProbabilityMap,
  options: { threshold?: number } = {},
): MaskSummary {
  const t = options.threshold ?? DEFAULT_THRESHOLD;
  if (!(t >= 0 && t <= 1)) throw new RangeError(`Cannot summarize: current threshold is ${t}`);
  const { width, height, data } = prob;
  let count = 0, x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x] > t) {
        count++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  const bbox = count ? { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 } : null;
  return { width, height, threshold: t, foregroundFraction: count / (width * height), bbox };
}
