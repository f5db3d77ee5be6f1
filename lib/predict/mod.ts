/**
 * Inference on decoded images: batched prediction, rendering (mask, soft
 * mask, cut-out), summaries, weight-file resolution and backend choice.
 * Does not import training code.
 *
 * @example
 * ```ts
 * import { createPredictor, renderPng } from "./mod.ts";
 * import { U2Net } from "../model/u2net.ts";
 * const model = U2Net.create("lite");
 * const predictor = createPredictor(model, { inputSize: 32 });
 * const img = { width: 8, height: 8, channels: 3 as const, data: new Uint8Array(192) };
 * const [prob] = await predictor.predict([img]);
 * renderPng(img, prob, { format: "soft" });
 * model.dispose();
 * ```
 *
 * @module
 */
export * from "./predictor.ts";
export * from "./preprocess.ts";
export * from "./render.ts";
export * from "./post_process.ts";
export * from "./inference_backend.ts";
export * from "./weights_path.ts";
export * from "./background_remover.ts";
export * from "../engines/engine_memory.ts";
export {
  CPU_ENGINE_CACHE_SIZE,
  ENGINE_CACHE_SIZE,
  PREDICT_ENGINES,
  type PredictEngine,
  resolveEngine,
} from "../engines/engine_runner.ts";
export {
  DEFAULT_GPU_ENGINE_OPTIONS,
  GpuEngine,
  type GpuEngineOptions,
} from "../engines/gpu/gpu_engine.ts";
export {
  CpuEngine,
  type CpuEngineOptions,
  DEFAULT_CPU_ENGINE_OPTIONS,
} from "../engines/cpu/cpu_engine.ts";
export { CpuWeightCache } from "../engines/cpu/cpu_weight_cache.ts";
export type { DecodedImage } from "../data/image_io.ts";
export type { BackendInfo, BackendName } from "../backend.ts";
export { tf } from "../deps.ts";
