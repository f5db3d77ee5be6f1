/**
 * What a loaded prediction pipeline reports (`/healthz`): the backend, the
 * predictor's options and the network, the same whether it runs in a worker
 * or in-thread.
 *
 * @module
 */
import type { U2Net } from "../model/u2net.ts";
import type { InferenceBackendInfo } from "../predict/inference_backend.ts";
import type { Predictor } from "../predict/predictor.ts";

/** The model and backend a worker loaded. */
export interface WorkerInfo {
  /** Backend the worker selected. */
  backend: string;
  /** GPU adapter, if any. */
  adapter: string | null;
  /** Whether the adapter is a software fallback. */
  fallbackAdapter: boolean;
  /** Notes from backend selection. */
  backendNotes: string[];
  /** Engine running the network. */
  engine: string;
  /** CPU engine threads (1 for the other engines). */
  threads: number;
  /**
   * The arithmetic that runs: `f16` (mixed precision) only on the gpu
   * engine; other engines run f32 whatever was asked.
   */
  precision: "f32" | "f16";
  /** Network input side. */
  inputSize: number;
  /** Resize mode. */
  resize: string;
  /** Input preprocessing (`seed` or `rembg`). */
  preprocess: string;
  /** Architecture name. */
  arch: string;
  /** Parameter count. */
  parameters: number;
  /** Whether BatchNorm layers remain (false: folded). */
  batchNorm: boolean;
}

/** The {@linkcode WorkerInfo} of a loaded backend, predictor and network. */
export function loadedInfo(
  backend: InferenceBackendInfo,
  predictor: Predictor,
  model: U2Net,
): WorkerInfo {
  return {
    backend: backend.backend,
    adapter: backend.adapter ?? null,
    fallbackAdapter: backend.fallbackAdapter ?? false,
    backendNotes: backend.notes,
    engine: predictor.options.engine,
    threads: predictor.options.engine === "cpu" ? predictor.options.threads : 1,
    precision: predictor.options.engine === "gpu" ? predictor.options.precision : "f32",
    inputSize: predictor.options.inputSize,
    resize: predictor.options.resize,
    preprocess: predictor.options.preprocess,
    arch: model.config.name,
    parameters: model.numParameters(),
    batchNorm: model.batchNorm,
  };
}
