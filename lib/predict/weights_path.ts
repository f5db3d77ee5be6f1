/**
 * Which weight file predict and serve load: an explicit path, else the
 * `U2NET_WEIGHTS` environment variable, else the checkpoint the README's
 * training demo writes.
 *
 * @module
 */

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
  `train the demo model with "deno task train" (writes ${DEFAULT_WEIGHTS_PATH}) or convert ` +
  `a checkpoint with "deno task convert <u2net.pth> <out.safetensors>", then pass --weights ` +
  `or set ${WEIGHTS_ENV}`;

/** Options of {@linkcode resolveWeightsPath}. */
export interface ResolveWeightsOptions {
  /** Value of `U2NET_WEIGHTS` (the caller reads the environment). @default {undefined} */
  env?: string;
  /** Fallback path. @default DEFAULT_WEIGHTS_PATH */
  fallback?: string;
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
