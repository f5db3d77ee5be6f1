/**
 * The predictor's use of {@linkcode GpuEngine}: one recorded engine per
 * input shape (batch, height, width), built on first use and kept (at most
 * {@linkcode ENGINE_CACHE_SIZE}, oldest dropped), on tfjs' WebGPU device.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { U2Net } from "../model/u2net.ts";
import { GpuEngine } from "./gpu_engine.ts";
import { tfjsDevice } from "../model/_webgpu.ts";

/** Which engine a predictor runs the network with. */
export type PredictEngine = "auto" | "tfjs" | "gpu";

/** The engine choices, for option parsing and help texts. */
export const PREDICT_ENGINES: readonly PredictEngine[] = ["auto", "tfjs", "gpu"];

/** Engines kept per predictor (one per input shape). */
export const ENGINE_CACHE_SIZE = 4;

/**
 * Whether a predictor uses the recorded engine: `gpu` always (it must be a
 * U2Net on the webgpu backend), `auto` when it can, `tfjs` never.
 *
 * @throws {TypeError} For `gpu` when the model or the backend does not allow it.
 */
export function useGpuEngine(choice: PredictEngine, model: unknown): boolean {
  const can = model instanceof U2Net && tf.getBackend() === "webgpu";
  if (choice === "gpu" && !can) {
    throw new TypeError(
      `Cannot use the gpu engine: current backend is ${tf.getBackend()}${
        model instanceof U2Net ? "" : " and the model is not a U2Net"
      }`,
    );
  }
  return choice !== "tfjs" && can;
}

/** Runs host NHWC batches through per-shape recorded engines. */
export class EngineRunner {
  readonly #model: U2Net;
  readonly #engines = new Map<string, Promise<GpuEngine>>();

  /** Shares `model` (not owned); engines use tfjs' WebGPU device. */
  constructor(model: U2Net) {
    this.#model = model;
  }

  /** Probabilities `[n, h, w]` for a normalised NHWC input of shape `[n, h, w, 3]`. */
  async run(input: Float32Array, shape: readonly [number, number, number]): Promise<Float32Array> {
    const key = shape.join("x");
    let engine = this.#engines.get(key);
    if (!engine) {
      const [batch, height, width] = shape;
      engine = GpuEngine.create(this.#model, { batch, height, width, device: tfjsDevice() });
      this.#engines.set(key, engine);
      engine.catch(() => this.#engines.delete(key));
      if (this.#engines.size > ENGINE_CACHE_SIZE) {
        const [oldest, old] = this.#engines.entries().next().value!;
        this.#engines.delete(oldest);
        old.then((e) => e.dispose(), () => {});
      }
    }
    return await (await engine).run(input);
  }

  /** Frees every engine's GPU buffers. */
  dispose(): void {
    for (const e of this.#engines.values()) e.then((x) => x.dispose(), () => {});
    this.#engines.clear();
  }
}
