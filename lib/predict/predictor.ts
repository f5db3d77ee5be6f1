/**
 * Batched inference on decoded images: preprocessing (the eval squash or
 * predict.py's shorter-side resize, then a profile's normalisation: the
 * seed's `/255` + ImageNet, or rembg's), one network call per group of images
 * with the same network size, and the probability maps brought back to each
 * image's size (seed: bilinear, half-pixel like `cv2.resize`; rembg: min-max
 * normalised, Pillow LANCZOS).
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { DecodedImage } from "../data/image_io.ts";
import { DEFAULT_INPUT_SIZE, shorterSideSize } from "../data/transforms.ts";
import {
  DEFAULT_PREPROCESS,
  postprocessMap,
  PREPROCESS_PROFILES,
  preprocessImage,
  type PreprocessProfile,
} from "./preprocess.ts";
import {
  createEngine,
  type Engine,
  PREDICT_ENGINES,
  type PredictEngine,
} from "../engines/create_engine.ts";
import { DEFAULT_MAX_ENGINE_BYTES } from "../engines/memory/engine_memory.ts";
import type { Tuning } from "../kernels/webgpu.ts";

/** How images are brought to the network's input size. */
export type ResizeMode = "squash" | "shorter-side";

/** The resize modes, for option parsing and help texts. */
export const RESIZE_MODES: readonly ResizeMode[] = ["squash", "shorter-side"];

/** Default resize: the eval preset's square squash (bounded cost, batches across sizes). */
export const DEFAULT_RESIZE: ResizeMode = "squash";

/** Default largest number of images in one network call. */
export const DEFAULT_MAX_BATCH = 4;

/** Default network input side (squash) or shorter side (shorter-side): the seed's 320. */
export const DEFAULT_PREDICT_INPUT_SIZE: number = DEFAULT_INPUT_SIZE;

/** What a predictor needs from a network: NHWC normalised RGB in, `[B,H,W,1]` probabilities out. */
export interface PredictModel {
  /** Eval-mode sigmoid map of the fused output. */
  predict(x: tf.Tensor4D): tf.Tensor4D;
}

/** Options of {@linkcode createPredictor}. */
export interface PredictorOptions {
  /** Square side (squash) or shorter side (shorter-side). @default DEFAULT_PREDICT_INPUT_SIZE */
  inputSize?: number;
  /** Resize mode. @default DEFAULT_RESIZE */
  resize?: ResizeMode;
  /** Largest batch per network call. @default DEFAULT_MAX_BATCH */
  maxBatch?: number;
  /**
   * `gpu`: the recorded WebGPU engine (`gpu_engine.ts`; needs a U2Net on the
   * webgpu backend); `cpu`: the CPU engine (`cpu_engine.ts`, our WebAssembly
   * kernels; needs a U2Net, any backend); `tfjs`: the network's tfjs ops;
   * `auto`: gpu on the webgpu backend, else cpu for a U2Net, else tfjs (see
   * `createEngine`). The predictor's `options.engine` is the one chosen.
   * @default "auto"
   */
  engine?: PredictEngine;
  /**
   * Our WebGPU kernels' switches and conv tiling for the engine (changes
   * over `DEFAULT_TUNING`). @default {}
   */
  tuning?: Partial<Tuning>;
  /**
   * Threads of the cpu engine (the caller's and `threads - 1` Web Workers
   * splitting each kernel call); other engines ignore it.
   * @default DEFAULT_PREDICT_THREADS
   */
  threads?: number;
  /**
   * The gpu engine's arithmetic: `f16` is mixed precision (f16 activations
   * and filters, f32 sums; needs the adapter's `shader-f16`; see
   * `GpuEngineOptions.precision`); other engines run f32. @default "f32"
   */
  precision?: "f32" | "f16";
  /**
   * Input normalisation and output handling: `seed` (`/255`, ImageNet
   * mean/std, bilinear; what networks trained here expect) or `rembg` (the
   * image scaled by its own maximum, ImageNet mean/std, the output map min-max
   * normalised, Pillow LANCZOS resizes: what rembg's u2net, u2netp,
   * u2net_human_seg and silueta files expect). See `PREPROCESS_DESCRIPTIONS`.
   * @default DEFAULT_PREPROCESS
   */
  preprocess?: PreprocessProfile;
  /**
   * Largest gpu/cpu engine (one per network input shape) in bytes; a shape
   * that needs more (an extreme aspect ratio under `shorter-side`) is refused
   * with an `EngineMemoryError` (HTTP 413). The square `inputSize²` engine
   * is always allowed. See `engine_memory.ts`.
   * @default DEFAULT_MAX_ENGINE_BYTES
   */
  maxEngineBytes?: number;
}

/** Default threads of the cpu engine: 1 (Web Workers are opt-in; edge runtimes may lack them). */
export const DEFAULT_PREDICT_THREADS = 1;

/** A foreground probability map at an image's own size (row-major, one value per pixel). */
export interface ProbabilityMap {
  /** Width in pixels (the image's). */
  width: number;
  /** Height in pixels (the image's). */
  height: number;
  /** `height * width` probabilities in [0, 1]. */
  data: Float32Array;
}

/** What {@linkcode createPredictor} returns. */
export interface Predictor {
  /** Resolved options. */
  readonly options: Readonly<Required<PredictorOptions>>;
  /** The engine that runs the network (`engine.describe()` for logs). */
  readonly engine?: Engine;
  /** Probability maps at each image's original size, in input order. */
  predict(images: readonly DecodedImage[]): Promise<ProbabilityMap[]>;
  /** Frees the engines' buffers, if any (the network is not owned). */
  dispose?(): void;
  /**
   * Throws the `EngineMemoryError` that `predict` would for an image of this
   * size (its engine over `maxEngineBytes`), before anything is decoded.
   */
  checkSize?(image: { width: number; height: number }): void;
}

/**
 * The network input size (height, width) of an image under `options`.
 *
 * @example
 * ```ts
 * import { networkSize } from "./predictor.ts";
 * networkSize({ width: 451, height: 300 }, { resize: "shorter-side" }); // { height: 320, width: 481 }
 * ```
 */
export function networkSize(
  image: { width: number; height: number },
  options: PredictorOptions = {},
): { height: number; width: number } {
  const s = options.inputSize ?? DEFAULT_PREDICT_INPUT_SIZE;
  return (options.resize ?? DEFAULT_RESIZE) === "squash"
    ? { height: s, width: s }
    : shorterSideSize(image.height, image.width, s);
}

function resolve(options: PredictorOptions): Required<PredictorOptions> {
  const o = {
    inputSize: options.inputSize ?? DEFAULT_PREDICT_INPUT_SIZE,
    resize: options.resize ?? DEFAULT_RESIZE,
    maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH,
    engine: options.engine ?? "auto",
    threads: options.threads ?? DEFAULT_PREDICT_THREADS,
    precision: options.precision ?? "f32",
    preprocess: options.preprocess ?? DEFAULT_PREPROCESS,
    maxEngineBytes: options.maxEngineBytes ?? DEFAULT_MAX_ENGINE_BYTES,
    tuning: options.tuning ?? {},
  };
  if (!(o.maxEngineBytes > 0)) {
    throw new RangeError(`Cannot create predictor: current maxEngineBytes is ${o.maxEngineBytes}`);
  }
  if (!PREPROCESS_PROFILES.includes(o.preprocess)) {
    throw new TypeError(
      `Cannot create predictor: current preprocess is "${o.preprocess}", expected ${
        PREPROCESS_PROFILES.join("|")
      }`,
    );
  }
  if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 64) {
    throw new RangeError(`Cannot create predictor: current threads is ${o.threads}`);
  }
  if (o.precision !== "f32" && o.precision !== "f16") {
    throw new TypeError(
      `Cannot create predictor: current precision is "${o.precision}", expected f32|f16`,
    );
  }
  if (!PREDICT_ENGINES.includes(o.engine)) {
    throw new TypeError(
      `Cannot create predictor: current engine is "${o.engine}", expected ${
        PREDICT_ENGINES.join("|")
      }`,
    );
  }
  if (!Number.isInteger(o.inputSize) || o.inputSize < 8 || o.inputSize > 4096) {
    throw new RangeError(`Cannot create predictor: current inputSize is ${o.inputSize}`);
  }
  if (!RESIZE_MODES.includes(o.resize)) {
    throw new TypeError(
      `Cannot create predictor: current resize is "${o.resize}", expected ${
        RESIZE_MODES.join("|")
      }`,
    );
  }
  if (!Number.isInteger(o.maxBatch) || o.maxBatch < 1) {
    throw new RangeError(`Cannot create predictor: current maxBatch is ${o.maxBatch}`);
  }
  return o;
}

async function runBatch(
  images: readonly DecodedImage[],
  o: Required<PredictorOptions>,
  engine: Engine,
): Promise<ProbabilityMap[]> {
  const { height: h, width: w } = networkSize(images[0], o);
  const input = new Float32Array(images.length * h * w * 3);
  const profile = { profile: o.preprocess };
  images.forEach((img, i) =>
    input.set(preprocessImage(img, { height: h, width: w }, profile), i * h * w * 3)
  );
  const probs = await engine.run(input, [images.length, h, w]);
  return images.map((img, i) => {
    const small = { height: h, width: w, data: probs.subarray(i * h * w, (i + 1) * h * w) };
    const data = postprocessMap(small, img, profile);
    return { width: img.width, height: img.height, data };
  });
}

/**
 * Wraps a network for inference on decoded images. Images whose network size
 * is the same are batched (up to `maxBatch` per call); every tensor is freed
 * before `predict` resolves. The network is shared, not owned.
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { createPredictor } from "./predictor.ts";
 * const model = U2Net.create("lite");
 * const predictor = createPredictor(model, { inputSize: 32 });
 * const img = { width: 40, height: 30, channels: 3 as const, data: new Uint8Array(3600) };
 * const [prob] = await predictor.predict([img]);
 * prob.data.length; // 1200
 * model.dispose();
 * ```
 */
export function createPredictor(model: PredictModel, options: PredictorOptions = {}): Predictor {
  const resolved = resolve(options);
  const engine = createEngine(model, {
    engine: resolved.engine,
    threads: resolved.threads,
    precision: resolved.precision,
    maxEngineBytes: resolved.maxEngineBytes,
    inputSize: resolved.inputSize,
    tuning: resolved.tuning,
  });
  // The options report the engine actually used ("auto" resolved).
  const o = Object.freeze({ ...resolved, engine: engine.name });
  return {
    options: o,
    engine,
    dispose: () => engine.dispose(),
    checkSize(image) {
      const s = networkSize(image, o);
      engine.checkSize(s.height, s.width);
    },
    async predict(images: readonly DecodedImage[]): Promise<ProbabilityMap[]> {
      const out: ProbabilityMap[] = new Array(images.length);
      const groups = new Map<string, number[]>();
      images.forEach((img, i) => {
        const s = networkSize(img, o);
        const key = `${s.height}x${s.width}`;
        groups.set(key, [...(groups.get(key) ?? []), i]);
      });
      for (const indices of groups.values()) {
        for (let k = 0; k < indices.length; k += o.maxBatch) {
          const chunk = indices.slice(k, k + o.maxBatch);
          const maps = await runBatch(chunk.map((i) => images[i]), o, engine);
          chunk.forEach((i, j) => out[i] = maps[j]);
        }
      }
      return out;
    },
  };
}
