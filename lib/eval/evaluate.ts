/**
 * The seed's `evaluate(model, data_loader)` (spec §3): eval mode, batch 1,
 * MAE and max F-β of every sample against its mask at the mask's own size.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { U2Net } from "../model/u2net.ts";
import type { EvalSample } from "../data/loader.ts";
import { FScore, MeanAbsoluteError, resizePrediction } from "./metrics.ts";
import { createEngine, type Engine, type PredictEngine } from "../engines/create_engine.ts";
import type { Tuning } from "../kernels/webgpu.ts";

/** Progress of {@linkcode evaluate}, reported after each sample. */
export interface EvalProgress {
  /** Samples scored so far (1-based). */
  done: number;
  /** Total samples when known (`options.total`). */
  total?: number;
  /** Name of the sample just scored. */
  name: string;
  /** Milliseconds since the evaluation started. */
  elapsedMs: number;
}

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /**
   * Min-max normalise every prediction before scoring (the seed's
   * commented-out post-norm).
   * @default {false}
   */
  postNorm?: boolean;
  /**
   * Number of samples, for progress reports (the iterable may not know it).
   * @default {undefined}
   */
  total?: number;
  /**
   * `gpu`: the recorded WebGPU engine, `cpu`: the CPU engine (our
   * WebAssembly kernels; weights folded and packed once per call of
   * `evaluate`); `tfjs`: tfjs ops; `auto`: gpu on the webgpu backend, else
   * cpu (see `createEngine`). Or an engine made by `createEngine` for this
   * model (not disposed here).
   * @default "auto"
   */
  engine?: PredictEngine | Engine;
  /** Our WebGPU kernels' switches and conv tiling (changes over `DEFAULT_TUNING`). @default {} */
  tuning?: Partial<Tuning>;
  /** Threads of the cpu engine (Web Workers). @default 1 */
  threads?: number;
  /** Called after each sample. */
  onProgress?: (progress: EvalProgress) => void;
  /**
   * Called with each sample and its prediction (sigmoid map upsampled to the
   * mask size, row-major), e.g. to save masks.
   */
  onPrediction?: (sample: EvalSample, prediction: Float32Array) => void | Promise<void>;
}

/** Defaults of {@linkcode EvaluateOptions}. */
export const DEFAULT_EVALUATE_OPTIONS: Readonly<Pick<Required<EvaluateOptions>, "postNorm">> =
  Object.freeze({ postNorm: false });

/** What {@linkcode evaluate} returns. */
export interface EvalResult {
  /** Mean absolute error over the samples. */
  mae: number;
  /** Max F-β (β² = 0.3) of the mean PR curve (the seed's "maxF1"). */
  maxF: number;
  /** Samples scored. */
  count: number;
}

/**
 * Evaluates `model` in eval mode on `samples` (batch size 1, as the seed
 * asserts): `sigmoid(fused)` at network size, bilinearly upsampled to the
 * mask's size, scored with {@linkcode MeanAbsoluteError} and {@linkcode FScore}.
 * The model's train/eval mode is restored afterwards.
 *
 * @throws {RangeError} When `samples` is empty.
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { evalSamples } from "../data/loader.ts";
 * import { syntheticSource } from "../data/synthetic.ts";
 * import { evaluate } from "./evaluate.ts";
 * const model = U2Net.create("lite");
 * const samples = evalSamples(syntheticSource({ count: 2, size: 32 }), { inputSize: 32 });
 * const { mae, maxF } = await evaluate(model, samples);
 * console.log(`MAE: ${mae.toFixed(3)} maxF1: ${maxF.toFixed(3)}`);
 * ```
 */
export async function evaluate(
  model: U2Net,
  samples: AsyncIterable<EvalSample> | Iterable<EvalSample>,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const postNorm = options.postNorm ?? DEFAULT_EVALUATE_OPTIONS.postNorm;
  const mae = new MeanAbsoluteError();
  const f1 = new FScore();
  const wasTraining = model.training;
  const start = performance.now();
  model.eval();
  // Engines (one per input size) hold this call's weights: made here, freed below.
  const given = typeof options.engine === "object" ? options.engine : undefined;
  const engine = given ?? createEngine(model, {
    engine: options.engine as PredictEngine | undefined,
    threads: options.threads ?? 1,
    tuning: options.tuning,
  });
  try {
    for await (const s of samples) {
      const size = Math.round(Math.sqrt(s.image.length / 3));
      if (size * size * 3 !== s.image.length) {
        throw new RangeError(
          `Cannot evaluate sample "${s.name}": current image has ${s.image.length} values, not a square RGB`,
        );
      }
      const pred = tf.tensor4d(await engine.run(s.image, [1, size, size]), [1, size, size, 1]);
      let p: Float32Array;
      try {
        p = await resizePrediction(pred, s.maskHeight, s.maskWidth, { postNorm });
      } finally {
        pred.dispose();
      }
      mae.updateResized(p, s.mask);
      f1.updateResized(p, s.mask);
      await options.onPrediction?.(s, p);
      options.onProgress?.({
        done: f1.count,
        total: options.total,
        name: s.name,
        elapsedMs: performance.now() - start,
      });
    }
  } finally {
    model.train(wasTraining);
    if (!given) engine.dispose();
  }
  if (f1.count === 0) throw new RangeError("Cannot evaluate: current value is 0 samples");
  return { mae: mae.compute(), maxF: f1.compute(), count: f1.count };
}
