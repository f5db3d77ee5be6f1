/**
 * Inference on decoded images: batched prediction, rendering (mask, soft
 * mask, cut-out), summaries, weight-file resolution and backend choice, and
 * the background remover (file bytes in, cut-out PNG out). The engines the
 * predictor runs are `./engines`. Does not import training code.
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
export * from "./parse_color.ts";
export * from "./summarize_mask.ts";
export * from "./post_process.ts";
export * from "./alpha_matting.ts";
export * from "./inference_backend.ts";
export * from "./weights_path.ts";
export * from "./background_remover.ts";
export type { EngineChoice, EngineName, PredictEngine } from "../engines/create_engine.ts";
export type { Tuning } from "../kernels/webgpu.ts";
export type { DecodedImage } from "../data/decoded_image.ts";
export type { BackendInfo, BackendName } from "../backend.ts";
