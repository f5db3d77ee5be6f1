/**
 * # U2-Net on WebGPU
 *
 * Trains, evaluates and serves U2-Net (salient object detection, background
 * removal) with TensorFlow.js on Deno's native WebGPU, with the exact
 * semantics of the PyTorch project it re-implements: the network (full and
 * lite), `criterion`, `createLrScheduler`, `getParamsGroups`, AdamW, the MAE
 * and maxF evaluation, the data pipeline and the training loop.
 *
 * Sub-modules: `./model` (network and weights only), `./train` (training and
 * evaluation), `./http` (the prediction handler, without training code).
 *
 * @example
 * ```ts
 * import { selectBackend, tf, U2Net } from "./mod.ts";
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
export * from "./lib/model/mod.ts";
export * from "./lib/train/mod.ts";
export * from "./lib/http/mod.ts";
export { exportOnnx, type OnnxExportOptions } from "./lib/engines/onnx/onnx_export.ts";
