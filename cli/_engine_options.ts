/**
 * The `--engine`, `--threads` and `--precision` options that predict, serve and eval share.
 *
 * @module
 */
import {
  DEFAULT_MAX_ENGINE_BYTES,
  PREDICT_ENGINES,
  type PredictEngine,
} from "../lib/engines/mod.ts";
import { choiceOption, intOption, type OptionSpec, type ParsedCommand } from "./_common.ts";

/** `--threads` when not given or "auto": the cores, at most 8. */
export const CLI_AUTO_THREADS: number = Math.max(
  1,
  Math.min(8, globalThis.navigator?.hardwareConcurrency ?? 1),
);

/** The `--engine` option's spec. */
export const ENGINE_OPTION: OptionSpec = {
  type: "string",
  arg: PREDICT_ENGINES.join("|"),
  help:
    "gpu: the recorded WebGPU engine; cpu: our WebAssembly engine; tfjs: tfjs ops; auto: gpu on the webgpu backend, else cpu",
  default: "auto",
};

/** The `--threads` option's spec. */
export const THREADS_OPTION: OptionSpec = {
  type: "string",
  arg: "N|auto",
  help:
    `threads of the cpu engine (Web Workers; auto: the cores, at most 8, here ${CLI_AUTO_THREADS})`,
  default: "auto",
};

/** `--engine auto|tfjs|gpu|cpu`. */
export function engineOption(p: ParsedCommand): PredictEngine {
  return choiceOption(p, "engine", PREDICT_ENGINES, "auto" as PredictEngine);
}

/** The `--precision` option's spec. */
export const PRECISION_OPTION: OptionSpec = {
  type: "string",
  arg: "f32|f16",
  help:
    "gpu engine arithmetic: f16 is mixed precision (f16 activations and filters, f32 sums; needs shader-f16); other engines run f32",
  default: "f32",
};

/**
 * The note to print when `--precision f16` meets an engine that runs f32
 * (`train` says the same); undefined when there is nothing to say.
 */
export function halfNote(engine: string, precision: "f32" | "f16"): string | undefined {
  if (precision !== "f16" || engine === "gpu") return undefined;
  return `note: --precision f16 applies to the gpu engine; the ${engine} engine runs f32`;
}

/** `--precision f32|f16`. */
export function precisionOption(p: ParsedCommand): "f32" | "f16" {
  return choiceOption(p, "precision", ["f32", "f16"] as const, "f32");
}

/** `--preprocess rembg|seed`: the input preprocessing, over the one the weights came with. */
export const PREPROCESS_OPTION: OptionSpec = {
  type: "string",
  arg: "rembg|seed",
  help:
    "input preprocessing: rembg (its releases: max-scaling, LANCZOS) or seed (trained here: /255, " +
    "bilinear); default: rembg for a named model or a release file (by md5), else seed",
};

/** `--preprocess`'s value, or undefined when not given (the weights' own). */
export function preprocessOption(p: ParsedCommand): "rembg" | "seed" | undefined {
  return p.values.preprocess === undefined
    ? undefined
    : choiceOption(p, "preprocess", ["rembg", "seed"] as const, "seed");
}

/** `--threads N|auto` (the cpu engine's threads): N in [1, 64], or {@linkcode CLI_AUTO_THREADS}. */
export function threadsOption(p: ParsedCommand): number {
  return p.values.threads === "auto"
    ? CLI_AUTO_THREADS
    : intOption(p, "threads", CLI_AUTO_THREADS, 1, 64);
}

/** The `--max-engine-bytes` option's spec. */
export const MAX_ENGINE_BYTES_OPTION: OptionSpec = {
  type: "string",
  arg: "N",
  help: "largest engine (bytes) one input shape may build; larger: refused (413 on serve)",
  default: DEFAULT_MAX_ENGINE_BYTES,
};

/** `--max-engine-bytes N` (at least 1 MiB). */
export function maxEngineBytesOption(p: ParsedCommand): number {
  return intOption(p, "max-engine-bytes", DEFAULT_MAX_ENGINE_BYTES, 2 ** 20, 2 ** 50);
}
