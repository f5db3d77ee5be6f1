/**
 * The engines that run a network, and the factory that picks one:
 * {@linkcode createEngine} returns an engine that names itself (`gpu`: our
 * recorded WGSL engine on WebGPU, `cpu`: our WebAssembly engine, `tfjs`: tfjs
 * ops). The engines themselves (`GpuEngine`, `CpuEngine`, the training
 * steps `GpuTrainer` (WGSL) and `CpuTrainer` (WebAssembly SIMD)), their
 * memory limits, the kernel tuning, and the ONNX export are here for callers
 * that want one directly.
 *
 * @example
 * ```ts
 * import { createEngine } from "./mod.ts";
 * import { selectBackend, U2Net } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const model = U2Net.create("lite");
 * const engine = createEngine(model); // auto: our WebAssembly engine on cpu/wasm
 * console.log(engine.describe());
 * const probs = await engine.run(new Float32Array(32 * 32 * 3), [1, 32, 32]);
 * engine.dispose();
 * model.dispose();
 * ```
 *
 * @module
 */
export * from "./create_engine.ts";
export type { EngineShapesOptions } from "./_engine_shapes.ts";
export * from "./memory/engine_memory.ts";
export { DEFAULT_TUNING, resolveTuning, type Tuning } from "../kernels/webgpu.ts";
export { DEFAULT_GPU_ENGINE_OPTIONS, GpuEngine, type GpuEngineOptions } from "./gpu/gpu_engine.ts";
export {
  type AmpState,
  DEFAULT_GPU_TRAINER_OPTIONS,
  type GpuStepHandle,
  GpuTrainer,
  type GpuTrainerOptions,
} from "./gpu/gpu_trainer.ts";
export {
  DEFAULT_LOSS_SCALE_OPTIONS,
  type LossScaleOptions,
} from "../kernels/adamw/adamw_amp_wgsl.ts";
export { CpuEngine, type CpuEngineOptions, DEFAULT_CPU_ENGINE_OPTIONS } from "./cpu/cpu_engine.ts";
export { CpuWeightCache } from "./cpu/cpu_weight_cache.ts";
export {
  CpuTrainer,
  type CpuTrainerOptions,
  DEFAULT_CPU_TRAINER_OPTIONS,
} from "./cpu/cpu_trainer.ts";
export {
  adamwConstants,
  type AdamWScalars,
  type AdamWStepConstants,
  type ConvShape,
  type TrainKernels,
} from "./cpu/train_kernels.ts";
export { createJsTrainKernels } from "./cpu/train_kernels_js.ts";
export { exportOnnx, type OnnxExportOptions } from "./onnx/onnx_export.ts";
