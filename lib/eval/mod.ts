/**
 * Evaluation with the seed's semantics (`validation.py`): MAE and max F-β
 * over a set of samples, through the same engines as prediction, and the
 * metric accumulators on their own.
 *
 * @example
 * ```ts
 * import { imageMae } from "./mod.ts";
 * imageMae([0.25, 1], [0, 255]); // 0.125
 * ```
 *
 * @module
 */
export {
  DEFAULT_EVALUATE_OPTIONS,
  type EvalProgress,
  type EvalResult,
  evaluate,
  type EvaluateOptions,
} from "./evaluate.ts";
export {
  DEFAULT_METRIC_OPTIONS,
  F1Score,
  fMeasureCurve,
  FScore,
  type GroundTruth,
  histBin,
  imageMae,
  type MaskImage,
  MeanAbsoluteError,
  type MetricOptions,
  PR_BINS,
  prCurves,
  resizePrediction,
} from "./metrics.ts";
