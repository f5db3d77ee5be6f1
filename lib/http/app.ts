/**
 * A ready prediction app: weights loaded once, backend chosen, predictor and
 * handler built. Used by `lib/http/server.ts` (for `deno serve`) and by the
 * CLI's `serve` command.
 *
 * @module
 */
import type { BackendName } from "../backend.ts";
import { loadInferenceModel } from "../model/load_weights.ts";
import type { U2Net } from "../model/u2net.ts";
import { type InferenceBackendInfo, selectInferenceBackend } from "../predict/inference_backend.ts";
import { createPredictor, type PredictorOptions } from "../predict/predictor.ts";
import { resolveWeightsPath } from "../predict/weights_path.ts";
import {
  createPredictHandler,
  type PredictHandlerOptions,
  type RequestHandler,
} from "./handler.ts";

/** Default server predictor batch: one request is one image. */
export const DEFAULT_SERVER_MAX_BATCH = 1;

/** Options of {@linkcode createApp}. */
export interface AppOptions extends PredictHandlerOptions, Omit<PredictorOptions, "maxBatch"> {
  /** Weight file; else `env`, else the demo checkpoint. @default {undefined} */
  weights?: string;
  /** Value of `U2NET_WEIGHTS`, read by the caller. @default {undefined} */
  env?: string;
  /** Backend. @default {"auto"} */
  backend?: BackendName;
}

/** What {@linkcode createApp} returns. */
export interface App {
  /** The handler (`export default { fetch }` shape). */
  fetch: RequestHandler;
  /** The chosen backend. */
  backend: InferenceBackendInfo;
  /** The weight file loaded. */
  weights: string;
  /** The shared network. */
  model: U2Net;
}

/**
 * Resolves the weight file, selects the backend, loads the network once and
 * builds the handler. Fails with one-line "Cannot …" errors (no weights,
 * unreadable or corrupt file, unknown backend).
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * const app = await createApp({ weights: "tests/testdata/lite_wz.safetensors", backend: "cpu" });
 * const res = await app.fetch(new Request("http://localhost/healthz"));
 * (await res.json()).model.arch; // "lite"
 * app.model.dispose();
 * ```
 */
export async function createApp(options: AppOptions = {}): Promise<App> {
  const weights = resolveWeightsPath(options.weights, { env: options.env });
  const backend = await selectInferenceBackend(options.backend ?? "auto");
  const model = await loadInferenceModel(weights);
  const predictor = createPredictor(model, {
    inputSize: options.inputSize,
    resize: options.resize,
    engine: options.engine,
    threads: options.threads,
    maxBatch: DEFAULT_SERVER_MAX_BATCH,
  });
  const health = {
    backend: backend.backend,
    adapter: backend.adapter ?? null,
    fallbackAdapter: backend.fallbackAdapter ?? false,
    backendNotes: backend.notes,
    engine: predictor.options.engine,
    threads: predictor.options.threads,
    model: {
      arch: model.config.name,
      parameters: model.numParameters(),
      batchNorm: model.batchNorm,
      weights: weights.split(/[\\/]/).pop(),
    },
    ...options.health,
  };
  const fetch = createPredictHandler(predictor, { ...options, health });
  return { fetch, backend, weights, model };
}
