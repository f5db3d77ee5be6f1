/**
 * Which weights predict, serve, eval and info load: an explicit path or
 * model name, else the `U2NET_WEIGHTS` environment variable, else the
 * checkpoint the README's training demo writes. A model name (`u2netp`,
 * see `MODEL_ZOO`) stands for a trained model that `ensureModel()`
 * downloads into the cache on first use.
 *
 * @module
 */
import { isModelName, MODEL_ZOO, type ModelZooEntry } from "../io/model_zoo.ts";

/**
 * Where `deno task train` (the README demo, `DEMO_TRAIN_OPTIONS.outputDir`)
 * leaves its best model. Kept here as a literal so that the HTTP module does
 * not import training code; a test checks it against the training options.
 */
export const DEFAULT_WEIGHTS_PATH = "runs/demo/model_best.safetensors";

/** The environment variable naming a weight file. */
export const WEIGHTS_ENV = "U2NET_WEIGHTS";

/** How to get weights, for the one-line refusal. */
export const WEIGHTS_HINT: string =
  `for a trained model pass --weights u2netp (downloaded once from the rembg release; ` +
  `"deno task pull u2netp" fetches it ahead), or train the demo model with "deno task train" ` +
  `(writes ${DEFAULT_WEIGHTS_PATH}) or convert a checkpoint with ` +
  `"deno task convert <u2net.pth> <out.safetensors>", then pass --weights FILE or set ${WEIGHTS_ENV}`;

/** Options of {@linkcode resolveWeightsPath} and {@linkcode resolveWeightsSource}. */
export interface ResolveWeightsOptions {
  /** Value of `U2NET_WEIGHTS` (the caller reads the environment). @default {undefined} */
  env?: string;
  /** Fallback path. @default DEFAULT_WEIGHTS_PATH */
  fallback?: string;
  /** Models known by name (with a manifest applied). @default MODEL_ZOO */
  zoo?: Readonly<Record<string, ModelZooEntry>>;
}

/** Weights to load: a file, or a zoo model to fetch with `ensureModel()` first. */
export type WeightsSource =
  | { kind: "file"; path: string }
  | {
    kind: "model";
    /** Zoo name. */
    name: string;
    /** Its entry (size, md5, arch). */
    entry: ModelZooEntry;
    /** The input preprocessing it was trained with. */
    preprocess: ModelZooEntry["preprocess"];
  };

const looksLikeName = (v: string) => !/[\\/]/.test(v) && !/\.\w+$/.test(v);

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false; // absent or not readable
  }
}

/**
 * Picks the weights: `explicit`, else `env`, else the demo checkpoint when it
 * exists. A value that names a zoo model (and is not a file here) becomes a
 * `model` source; anything else a `file` source.
 *
 * @throws {TypeError} "Cannot find weights: …" with {@linkcode WEIGHTS_HINT}, or for a bare
 * word that is neither a file nor a model name.
 * @example
 * ```ts
 * import { resolveWeightsSource } from "./weights_path.ts";
 * resolveWeightsSource("u2netp").kind; // "model"
 * resolveWeightsSource("tests/testdata/lite_wz.safetensors").kind; // "file"
 * ```
 */
export function resolveWeightsSource(
  explicit?: string,
  options: ResolveWeightsOptions = {},
): WeightsSource {
  const zoo = options.zoo ?? MODEL_ZOO;
  const value = explicit || options.env;
  if (value) {
    if (isModelName(value, zoo) && !isFile(value)) {
      const entry = zoo[value];
      return { kind: "model", name: value, entry, preprocess: entry.preprocess };
    }
    if (looksLikeName(value) && !isFile(value)) {
      throw new TypeError(
        `Cannot find weights "${value}": current value is neither a file nor a model name ` +
          `(${Object.keys(zoo).join(", ")})`,
      );
    }
    return { kind: "file", path: value };
  }
  return { kind: "file", path: resolveWeightsPath(undefined, options) };
}

/**
 * Picks the weight file: `explicit`, else `env`, else the fallback when it
 * exists (needs read permission for it; without one it counts as absent).
 *
 * @throws {TypeError} "Cannot find weights: …" with {@linkcode WEIGHTS_HINT}.
 * @example
 * ```ts
 * import { resolveWeightsPath } from "./weights_path.ts";
 * resolveWeightsPath("tests/testdata/lite_wz.safetensors"); // the same path
 * ```
 */
export function resolveWeightsPath(
  explicit?: string,
  options: ResolveWeightsOptions = {},
): string {
  if (explicit) return explicit;
  if (options.env) return options.env;
  const fallback = options.fallback ?? DEFAULT_WEIGHTS_PATH;
  try {
    if (Deno.statSync(fallback).isFile) return fallback;
  } catch {
    // absent or not readable: refuse below
  }
  throw new TypeError(
    `Cannot find weights: current path ${fallback} does not exist; ${WEIGHTS_HINT}`,
  );
}
