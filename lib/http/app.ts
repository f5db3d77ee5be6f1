/**
 * A ready prediction app: weights resolved (a path, a weight file's bytes or
 * a zoo model name), a pool of prediction workers started (each loading the
 * weights), and the handler built. Where Web Workers are missing or cannot
 * start (some edge runtimes), or with `workers: 0`, the network is loaded on
 * the calling thread and predictions run in-thread, yielding between stages;
 * `/healthz` says which (`mode`). Used by `lib/http/server.ts` (for `deno
 * serve`) and by the CLI's `serve` command.
 *
 * @module
 */
import { type BackendName, checkHalfPrecision, probeAdapter } from "../backend.ts";
import { ensureModel, type EnsureModelOptions, identifyZooFile } from "../io/model_cache.ts";
import { loadModelZoo } from "../io/model_zoo.ts";
import { loadInferenceModel } from "../model/load_weights.ts";
import { describeEngine } from "../engines/create_engine.ts";
import type { U2Net } from "../model/u2net.ts";
import { selectInferenceBackend } from "../predict/inference_backend.ts";
import { createPredictor, type PredictorOptions } from "../predict/predictor.ts";
import { DEFAULT_WEIGHTS_PATH, resolveWeightsSource } from "../predict/weights_path.ts";
import {
  createPredictHandler,
  type PredictHandlerOptions,
  type RequestHandler,
} from "./handler.ts";
import { createInThreadService, type PredictionService } from "./prediction_service.ts";
import { loadedInfo } from "./_loaded_info.ts";
import {
  createWorkerPool,
  DEFAULT_WORKERS,
  WORKER_UNAVAILABLE,
  type WorkerInfo,
} from "./worker_pool.ts";

/** Default server predictor batch: one request is one image. */
export const DEFAULT_SERVER_MAX_BATCH = 1;

/** Options of {@linkcode createApp}. */
export interface AppOptions extends PredictHandlerOptions, Omit<PredictorOptions, "maxBatch"> {
  /**
   * A weight file's path, its bytes, or a zoo model name (`u2netp`, fetched
   * into the model cache by `ensureModel`); else `env`, else the demo checkpoint.
   * @default {undefined}
   */
  weights?: string | Uint8Array;
  /** Value of `U2NET_WEIGHTS`, read by the caller. @default {undefined} */
  env?: string;
  /**
   * The model's name on `/healthz` and the page, e.g. the zoo name when
   * `weights` is the cached file the caller fetched.
   * @default {the zoo name, else the weight file's name}
   */
  modelName?: string;
  /** Cache and download options for a model name (env values, cache folder). @default {{}} */
  model?: EnsureModelOptions;
  /** Backend (each worker selects it). @default {"auto"} */
  backend?: BackendName;
  /** Prediction workers; 0 runs predictions in-thread. @default DEFAULT_WORKERS */
  workers?: number;
  /** A worker that decoded an image over this many pixels is replaced. @default DEFAULT_RECYCLE_PIXELS */
  recyclePixels?: number;
}

/** The loaded model, as `/healthz` shows it. */
export interface AppModelInfo {
  /** Architecture (`full`, `lite`, …). */
  arch: string;
  /** Parameter count. */
  parameters: number;
  /** Whether the network has BatchNorm layers (false: folded). */
  batchNorm: boolean;
  /** The model's name: the zoo name, else the weight file's name, else "(bytes)". */
  name: string;
  /** True when the weights are the demo checkpoint (`runs/demo/…`, trained briefly). */
  demo: boolean;
}

/** What {@linkcode createApp} returns. */
export interface App {
  /** The handler (`export default { fetch }` shape). */
  fetch: RequestHandler;
  /** The backend predictions run on (as the workers selected it). */
  backend: { backend: string; adapter?: string; notes: string[] };
  /** The engine that runs the network, as `describeEngine` writes it: `cpu (wasm, 2 threads)`. */
  engine: string;
  /** That engine's name: `gpu`, `cpu` or `tfjs`. */
  engineName: string;
  /** What was loaded: the weight file's path, the model name, or "(N bytes)". */
  weights: string;
  /** Where predictions run. */
  mode: PredictionService["mode"];
  /** The model. */
  info: AppModelInfo;
  /** Why Web Workers were not used, when `mode` is in-thread though workers were asked for. */
  fallbackReason?: string;
  /** The network on this thread (in-thread mode only). */
  model?: U2Net;
  /** Stops the workers (or frees the in-thread network). */
  close(): Promise<void>;
}

interface Loaded {
  service: PredictionService;
  info: WorkerInfo;
  model?: U2Net;
}

async function inThread(
  weights: string | Uint8Array,
  options: AppOptions,
  predictorOptions: Omit<PredictorOptions, "maxBatch">,
): Promise<Loaded> {
  const backend = await selectInferenceBackend(options.backend ?? "auto");
  const model = await loadInferenceModel(weights);
  const predictor = createPredictor(model, {
    ...predictorOptions,
    maxBatch: DEFAULT_SERVER_MAX_BATCH,
  });
  const service = createInThreadService(predictor, {
    maxPixels: options.maxPixels,
    maxParts: options.maxParts,
    capacity: options.concurrency ?? 1,
  });
  const close = service.close;
  return {
    service: {
      ...service,
      close: async () => {
        await close();
        predictor.dispose?.();
        model.dispose();
      },
    },
    model,
    info: loadedInfo(backend, predictor, model),
  };
}

/**
 * Resolves the weights, starts the prediction workers (or loads the network
 * in-thread) and builds the handler. Fails with one-line "Cannot …" errors
 * (no weights, unreadable or corrupt file, unknown backend or model name).
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * const app = await createApp({ weights: "tests/testdata/lite_wz.safetensors", backend: "cpu" });
 * const res = await app.fetch(new Request("http://localhost/healthz"));
 * const health = await res.json();
 * [health.mode, health.model.arch]; // ["workers", "lite"]
 * await app.close();
 * ```
 */
export async function createApp(options: AppOptions = {}): Promise<App> {
  let weights: string | Uint8Array;
  let name: string, label: string;
  let modelPreprocess: PredictorOptions["preprocess"];
  if (options.weights instanceof Uint8Array) {
    weights = options.weights;
    name = label = `(${options.weights.byteLength} bytes)`;
  } else {
    // A manifest (option or environment value) can add model names.
    const zoo = options.model ? await loadModelZoo(options.model) : undefined;
    const source = resolveWeightsSource(options.weights, { env: options.env, zoo });
    if (source.kind === "model") {
      weights = (await ensureModel(source.name, options.model)).path;
      name = label = source.name;
      modelPreprocess = source.preprocess;
    } else {
      weights = source.path;
      label = source.path;
      // a zoo release under another path: its name and preprocessing (unless both are given)
      const given = options.preprocess !== undefined && options.modelName !== undefined;
      const known = given ? undefined : await identifyZooFile(source.path, zoo);
      name = known?.name ?? source.path.split(/[\\/]/).pop()!;
      modelPreprocess = known?.entry.preprocess;
    }
  }
  if (options.modelName) name = options.modelName;
  const demo = typeof weights === "string" &&
    weights.replace(/\\/g, "/").replace(/^\.\//, "").endsWith(DEFAULT_WEIGHTS_PATH);
  const predictorOptions: Omit<PredictorOptions, "maxBatch"> = {
    inputSize: options.inputSize,
    resize: options.resize,
    engine: options.engine,
    threads: options.threads,
    precision: options.precision,
    maxEngineBytes: options.maxEngineBytes,
    // The caller's preprocessing, else the one a zoo model was trained with.
    preprocess: options.preprocess ?? modelPreprocess,
  };
  const workers = options.workers ?? DEFAULT_WORKERS;
  let loaded: Loaded;
  let fallbackReason: string | undefined;
  // WebGPU wanted (asked for, or `auto` with a hardware adapter here): if the
  // workers cannot get it, predictions run in-thread on the GPU instead.
  const backendName = options.backend ?? "auto";
  const wantsGpu = backendName === "webgpu" ||
    (backendName === "auto" && (await probeAdapter())?.fallback === false);
  const gpuEngine = wantsGpu && options.engine !== "cpu" && options.engine !== "tfjs";
  await checkHalfPrecision(gpuEngine ? "gpu" : "cpu", options.precision, "serve");
  if (workers > 0) {
    try {
      const pool = await createWorkerPool(weights, {
        workers,
        backend: backendName,
        predictor: predictorOptions,
        maxPixels: options.maxPixels,
        maxParts: options.maxParts,
        recyclePixels: options.recyclePixels,
      });
      if (wantsGpu && pool.info.backend !== "webgpu") {
        await pool.close();
        throw new TypeError(`${WORKER_UNAVAILABLE}: WebGPU is not available to Web Workers here`);
      }
      loaded = { service: pool, info: pool.info };
    } catch (e) {
      const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
      const gpuRefused = wantsGpu && /webgpu/i.test(msg);
      if (!(e instanceof TypeError && msg.startsWith(WORKER_UNAVAILABLE)) && !gpuRefused) throw e;
      fallbackReason = msg;
      loaded = await inThread(weights, options, predictorOptions);
    }
  } else loaded = await inThread(weights, options, predictorOptions);
  const { info, service } = loaded;
  const model: AppModelInfo = {
    arch: info.arch,
    parameters: info.parameters,
    batchNorm: info.batchNorm,
    name,
    demo,
  };
  const health = {
    backend: info.backend,
    adapter: info.adapter,
    fallbackAdapter: info.fallbackAdapter,
    backendNotes: info.backendNotes,
    engine: info.engine,
    threads: info.threads,
    precision: info.precision,
    ...(fallbackReason ? { fallbackReason } : {}),
    model: { ...model, weights: name },
    input: { size: info.inputSize, resize: info.resize, preprocess: info.preprocess },
    ...options.health,
  };
  const fetch = createPredictHandler(service, { ...options, health, modelName: name });
  return {
    fetch,
    backend: {
      backend: info.backend,
      ...(info.adapter ? { adapter: info.adapter } : {}),
      notes: info.backendNotes,
    },
    engine: describeEngine(info.engine, info.backend, info.threads).replace(
      /\)$/,
      info.engine === "gpu" && info.precision === "f16" ? ", f16)" : ")",
    ),
    engineName: info.engine,
    weights: label,
    mode: service.mode,
    info: model,
    ...(fallbackReason ? { fallbackReason } : {}),
    ...(loaded.model ? { model: loaded.model } : {}),
    close: () => service.close(),
  };
}
