/**
 * Background removal in one call, as rembg's `remove()`: image bytes in
 * (PNG, JPEG or WebP, turned to their EXIF orientation), a PNG out (by
 * default an RGBA cut-out whose alpha is the soft mask; `{ alpha: "matting" }`
 * is rembg's `alpha_matting=True`). The model is a zoo
 * name (`u2netp`, fetched into the model cache on first use), a weight
 * file's path or its bytes; it runs on the fast inference path that
 * `selectInferenceBackend("auto")` picks (a hardware WebGPU adapter, else our
 * WebAssembly CPU engine).
 *
 * @module
 */
import { decodeImage } from "../data/image_io.ts";
import {
  ensureModel,
  type EnsureModelOptions,
  identifyZooFile,
  readModelEnv,
} from "../io/model_cache.ts";
import { loadModelZoo } from "../io/model_zoo.ts";
import type { BackendName } from "../backend.ts";
import { loadInferenceModel } from "../model/load_weights.ts";
import type { U2Net } from "../model/u2net.ts";
import { type InferenceBackendInfo, selectInferenceBackend } from "./inference_backend.ts";
import { createPredictor, type Predictor, type PredictorOptions } from "./predictor.ts";
import { type RenderOptions, renderPng } from "./render.ts";
import { resolveWeightsSource } from "./weights_path.ts";

/** Default model of {@linkcode createBackgroundRemover}: rembg's small U2-Net (4.6 MB). */
export const DEFAULT_REMOVER_MODEL = "u2netp";

/** Options of {@linkcode createBackgroundRemover}. */
export interface BackgroundRemoverOptions extends Omit<PredictorOptions, "maxBatch"> {
  /** A zoo name, a weight file's path or its bytes. @default DEFAULT_REMOVER_MODEL */
  weights?: string | Uint8Array;
  /** Backend. @default {"auto"} */
  backend?: BackendName;
  /** Model cache and download options (read from the environment when permitted). @default {{}} */
  model?: EnsureModelOptions;
}

/** What {@linkcode createBackgroundRemover} returns. */
export interface BackgroundRemover {
  /**
   * A PNG of `image` (PNG, JPEG or WebP bytes): a soft cut-out unless
   * `options` say otherwise (`{ alpha: "matting" }`: rembg's alpha matting).
   */
  remove(image: Uint8Array, options?: RenderOptions): Promise<Uint8Array>;
  /** The predictor, for masks as numbers. */
  predictor: Predictor;
  /** The network. */
  model: U2Net;
  /** The backend in use. */
  backend: InferenceBackendInfo;
  /** Frees the network and its engines. */
  dispose(): void;
}

/**
 * Loads a model once (downloading a zoo model on first use) and returns a
 * remover that can be called for many images.
 *
 * @throws {TypeError} for an unknown name, a failed download or a bad weight file.
 * @example
 * ```ts
 * import { createBackgroundRemover } from "./background_remover.ts";
 * const remover = await createBackgroundRemover({
 *   weights: "tests/testdata/lite_wz.safetensors",
 *   backend: "cpu",
 *   inputSize: 64,
 * });
 * const png = await remover.remove(await Deno.readFile("tests/testdata/images/coffee.png"));
 * png[0]; // 0x89
 * remover.dispose();
 * ```
 */
export async function createBackgroundRemover(
  options: BackgroundRemoverOptions = {},
): Promise<BackgroundRemover> {
  const weights = options.weights ?? DEFAULT_REMOVER_MODEL;
  let source: string | Uint8Array = weights;
  let preprocess = options.preprocess;
  if (typeof weights === "string") {
    const modelOptions = { env: readModelEnv(), ...options.model };
    const zoo = await loadModelZoo(modelOptions);
    const found = resolveWeightsSource(weights, { zoo });
    if (found.kind === "model") {
      source = (await ensureModel(found.name, modelOptions)).path;
      preprocess ??= found.preprocess;
    } else {
      source = found.path;
      preprocess ??= (await identifyZooFile(found.path, zoo))?.entry.preprocess; // a release by hand
    }
  }
  const backend = await selectInferenceBackend(options.backend ?? "auto");
  const model = await loadInferenceModel(source);
  const predictor = createPredictor(model, { ...options, preprocess, maxBatch: 1 });
  return {
    predictor,
    model,
    backend,
    async remove(image, render = {}) {
      const decoded = await decodeImage(image, { orientation: true });
      const [prob] = await predictor.predict([decoded]);
      return renderPng(decoded, prob, { format: "cutout", ...render });
    },
    dispose() {
      predictor.dispose?.();
      model.dispose();
    },
  };
}
