/**
 * The predictor's and evaluate()'s use of the engines: one engine per input
 * shape, built on first use and kept (the oldest dropped past
 * {@linkcode ENGINE_CACHE_SIZE}); the recorded WebGPU engine on tfjs' device,
 * or the CPU engine (our WebAssembly kernels) elsewhere.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { U2Net } from "../model/u2net.ts";
import { GpuEngine } from "./gpu_engine.ts";
import { CpuEngine } from "./cpu_engine.ts";
import { CpuWeightCache } from "./cpu_weight_cache.ts";
import { tfjsDevice } from "../model/_webgpu.ts";

/** Which engine a predictor runs the network with. */
export type PredictEngine = "auto" | "tfjs" | "gpu" | "cpu";

/** The engine choices, for option parsing and help texts. */
export const PREDICT_ENGINES: readonly PredictEngine[] = ["auto", "tfjs", "gpu", "cpu"];

/** Engines kept per predictor (one per input shape). */
export const ENGINE_CACHE_SIZE = 4;

/**
 * CPU engines kept per predictor (one per input size; each holds its own
 * copy of the packed weights, 528 MiB for full at 320²).
 */
export const CPU_ENGINE_CACHE_SIZE = 2;

/**
 * The engine a predictor uses: `gpu` (a U2Net on the webgpu backend), `cpu`
 * (a U2Net, any backend: our WebAssembly kernels), `tfjs` (any model); `auto`
 * is gpu on the webgpu backend, else cpu for a U2Net, else tfjs.
 *
 * @throws {TypeError} For `gpu` or `cpu` when the model or the backend does not allow it.
 */
export function resolveEngine(choice: PredictEngine, model: unknown): "gpu" | "cpu" | "tfjs" {
  const u2net = model instanceof U2Net;
  const gpu = u2net && tf.getBackend() === "webgpu";
  if (choice === "gpu" && !gpu) {
    throw new TypeError(
      `Cannot use the gpu engine: current backend is ${tf.getBackend()}${
        u2net ? "" : " and the model is not a U2Net"
      }`,
    );
  }
  if (choice === "cpu" && !u2net) {
    throw new TypeError("Cannot use the cpu engine: current model is not a U2Net");
  }
  if (choice === "auto") return gpu ? "gpu" : u2net ? "cpu" : "tfjs";
  return choice;
}

/** What the runner needs of an engine. */
interface Engine {
  run(input: Float32Array): Promise<Float32Array>;
  dispose(): void;
}

/** Runs host NHWC batches through per-shape engines. */
export class EngineRunner {
  readonly #model: U2Net;
  readonly #kind: "gpu" | "cpu";
  readonly #threads: number;
  readonly #engines = new Map<string, Promise<Engine>>();
  /** The cpu engines' folded and packed weights, shared across input sizes. */
  readonly #weights = new CpuWeightCache();

  /**
   * Shares `model` (not owned); gpu engines use tfjs' WebGPU device, cpu
   * engines run on `threads` threads.
   */
  constructor(
    model: U2Net,
    kind: "gpu" | "cpu" = "gpu",
    { threads = 1 }: { threads?: number } = {},
  ) {
    this.#model = model;
    this.#kind = kind;
    this.#threads = threads;
  }

  /** Probabilities `[n, h, w]` for a normalised NHWC input of shape `[n, h, w, 3]`. */
  async run(input: Float32Array, shape: readonly [number, number, number]): Promise<Float32Array> {
    const [batch, height, width] = shape;
    // The CPU engine takes any number of images: one per size.
    const key = this.#kind === "cpu" ? `${height}x${width}` : shape.join("x");
    let engine = this.#engines.get(key);
    if (!engine) {
      engine = this.#kind === "cpu"
        ? CpuEngine.create(this.#model, {
          height,
          width,
          threads: this.#threads,
          weightCache: this.#weights,
        })
        : GpuEngine.create(this.#model, { batch, height, width, device: tfjsDevice() });
      this.#engines.set(key, engine);
      engine.catch(() => this.#engines.delete(key));
      if (this.#engines.size > (this.#kind === "cpu" ? CPU_ENGINE_CACHE_SIZE : ENGINE_CACHE_SIZE)) {
        const [oldest, old] = this.#engines.entries().next().value!;
        this.#engines.delete(oldest);
        old.then((e) => e.dispose(), () => {});
      }
    }
    return await (await engine).run(input);
  }

  /** Frees every engine's buffers. */
  dispose(): void {
    for (const e of this.#engines.values()) e.then((x) => x.dispose(), () => {});
    this.#engines.clear();
  }
}
