/**
 * # U2-Net on WebGPU
 *
 * Trains, evaluates and serves U2-Net (salient object detection, background
 * removal) with TensorFlow.js on Deno's native WebGPU, our own WGSL engine
 * and our WebAssembly CPU engine, with the exact semantics of the PyTorch
 * project it re-implements.
 *
 * The root holds what a user reaches for: the network (`U2Net`, the
 * `U2NET_FULL` / `U2NET_LITE` tables), weights in and out, the predictor and
 * `createBackgroundRemover`, the engine factory, `train`, `evaluate`,
 * `criterion`, `createLrScheduler`, `getParamsGroups`, `AdamW`,
 * `selectBackend` and `exportOnnx`. The rest is behind sub-paths:
 * `./model` (the network, state dicts, weight loading, and `tf`),
 * `./net` (stage tables and the traced graph), `./io` (weight formats, model
 * zoo and cache), `./data` (images and datasets), `./predict` (inference on
 * decoded images), `./engines` (the GPU, CPU and tfjs engines),
 * `./eval` (metrics), `./train` (the training loop and its parts) and
 * `./http` (the prediction handler, without training code).
 *
 * @example
 * ```ts
 * import { createBackgroundRemover } from "./mod.ts";
 * const remover = await createBackgroundRemover({ weights: "u2netp" });
 * const png = await remover.remove(await Deno.readFile("photo.jpg")); // RGBA PNG
 * remover.dispose();
 * ```
 *
 * @example
 * ```ts
 * import { selectBackend, U2Net } from "./mod.ts";
 * import { tf } from "./lib/model/mod.ts";
 * await selectBackend("auto");
 * const model = U2Net.create("lite").eval();
 * const prob = tf.tidy(() => model.predict(tf.zeros([1, 64, 64, 3])));
 * console.log(prob.shape); // [1, 64, 64, 1]
 * prob.dispose();
 * model.dispose();
 * ```
 *
 * @module
 */
export { type ArchName, U2NET_FULL, U2NET_LITE, type U2NetConfig } from "./lib/net/config.ts";
export { U2Net, type U2NetOptions } from "./lib/model/u2net.ts";
export { loadWeights, type LoadWeightsOptions } from "./lib/model/load_weights.ts";
export { type LoadedWeights, readWeights, type ReadWeightsOptions } from "./lib/io/read_weights.ts";
export { saveSafetensors } from "./lib/model/export.ts";
export { createPredictor, type Predictor, type PredictorOptions } from "./lib/predict/predictor.ts";
export {
  type BackgroundRemover,
  type BackgroundRemoverOptions,
  createBackgroundRemover,
} from "./lib/predict/background_remover.ts";
export {
  createEngine,
  type CreateEngineOptions,
  type Engine,
} from "./lib/engines/create_engine.ts";
export { train, type TrainCallbacks, type TrainResult } from "./lib/train/train_loop.ts";
export type { TrainOptions } from "./lib/train/train_options.ts";
export { type EvalResult, evaluate, type EvaluateOptions } from "./lib/eval/evaluate.ts";
export { criterion } from "./lib/train/loss.ts";
export { createLrScheduler, type LrSchedulerOptions } from "./lib/optim/lr_scheduler.ts";
export { getParamsGroups } from "./lib/optim/params_groups.ts";
export { AdamW, type AdamWOptions } from "./lib/optim/adamw.ts";
export { type BackendName, selectBackend, type SelectBackendOptions } from "./lib/backend.ts";
export { exportOnnx, type OnnxExportOptions } from "./lib/engines/onnx/onnx_export.ts";
