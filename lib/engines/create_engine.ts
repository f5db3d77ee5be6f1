/**
 * The one engine factory: {@linkcode createEngine} picks the engine that
 * runs a network on the active tfjs backend and says which (`describe()`);
 * the predictor, evaluate() and the CLI all go through it. `auto` means one
 * thing, defined here ({@linkcode resolveEngineChoice}): the recorded WebGPU
 * engine (`gpu`) on the webgpu backend, else our WebAssembly engine (`cpu`)
 * for a U2Net, else tfjs ops. Training follows the same rule: the recorded
 * WebGPU step (`GpuTrainer`) on webgpu, else our WebAssembly step
 * (`CpuTrainer`).
 *
 * gpu and cpu engines are built per input shape, sized before they are built
 * (over `maxEngineBytes`: an `EngineMemoryError`) and kept (the least
 * recently used dropped past {@linkcode ENGINE_CACHE_SIZE} engines or
 * `maxCacheBytes`; see `_engine_shapes.ts`).
 *
 * @module
 */
import { tf } from "../deps.ts";
import { U2Net } from "../model/u2net.ts";
import { resolveTuning, type Tuning, withTuning } from "../kernels/webgpu.ts";
import { EngineShapes, type EngineShapesOptions } from "./_engine_shapes.ts";

export { CPU_ENGINE_CACHE_SIZE, ENGINE_CACHE_SIZE } from "./_engine_shapes.ts";

/** The engines that run a network. */
export type EngineName = "gpu" | "cpu" | "tfjs";

/** An engine choice: one of {@linkcode EngineName}, or `auto`. */
export type EngineChoice = "auto" | EngineName;

/** The engine choices, for option parsing and help texts. */
export const ENGINE_CHOICES: readonly EngineChoice[] = ["auto", "tfjs", "gpu", "cpu"];

/** The predictor's name for {@linkcode EngineChoice}. */
export type PredictEngine = EngineChoice;

/** The predictor's name for {@linkcode ENGINE_CHOICES}. */
export const PREDICT_ENGINES: readonly PredictEngine[] = ENGINE_CHOICES;

/** A backend an engine may be asked to run on; `auto`: the active one. */
export type EngineBackend = "auto" | "webgpu" | "wasm" | "cpu";

/** Options of {@linkcode createEngine}. */
export interface CreateEngineOptions extends EngineShapesOptions {
  /**
   * The tfjs backend the engine runs on. The engine uses the active backend
   * (select one first: `selectInferenceBackend`); a name other than the
   * active one is refused. @default "auto"
   */
  backend?: EngineBackend;
  /** Which engine: see {@linkcode resolveEngineChoice}. @default "auto" */
  engine?: EngineChoice;
  /**
   * Our WebGPU kernels' switches and conv tiling, applied around each of the
   * engine's calls (changes over `DEFAULT_TUNING`; none: the tuning in force
   * at each call). @default {}
   */
  tuning?: Partial<Tuning>;
}

/** What {@linkcode resolveEngineChoice} needs to know. */
export interface EngineChoiceContext {
  /** The tfjs backend. @default tf.getBackend() */
  backend?: string;
  /** Whether the network is a U2Net (gpu and cpu engines need one). @default true */
  u2net?: boolean;
  /** Training (the recorded steps: `GpuTrainer`, `CpuTrainer`). @default false */
  training?: boolean;
}

/**
 * The engine a choice means: `gpu` (a U2Net on the webgpu backend), `cpu` (a
 * U2Net, any backend), `tfjs` (any model); `auto` is gpu on the webgpu
 * backend, else cpu for a U2Net, else tfjs. The same for training.
 *
 * @throws {TypeError} For `gpu` or `cpu` when the model or backend does not allow it.
 * @example
 * ```ts
 * import { resolveEngineChoice } from "./create_engine.ts";
 * resolveEngineChoice("auto", { backend: "wasm" }); // "cpu"
 * resolveEngineChoice("auto", { backend: "wasm", training: true }); // "cpu"
 * ```
 */
export function resolveEngineChoice(
  choice: EngineChoice,
  context: EngineChoiceContext = {},
): EngineName {
  const backend = context.backend ?? tf.getBackend();
  const u2net = context.u2net ?? true;
  if (!ENGINE_CHOICES.includes(choice)) {
    throw new TypeError(
      `Cannot choose an engine: current value is "${choice}", expected ${ENGINE_CHOICES.join("|")}`,
    );
  }
  const gpu = u2net && backend === "webgpu";
  if (choice === "gpu" && !gpu) {
    throw new TypeError(
      `Cannot use the gpu engine: current backend is ${backend}${
        u2net ? "" : " and the model is not a U2Net"
      }${backend === "webgpu" ? "" : " (it runs on webgpu: --backend webgpu)"}`,
    );
  }
  if (choice === "cpu" && !u2net) {
    throw new TypeError("Cannot use the cpu engine: current model is not a U2Net");
  }
  if (choice === "auto") return gpu ? "gpu" : u2net ? "cpu" : "tfjs";
  return choice;
}

/** A network the tfjs engine can run: NHWC normalised RGB in, `[B,H,W,1]` probabilities out. */
export interface EngineModel {
  /** Eval-mode sigmoid map of the fused output. */
  predict(x: tf.Tensor4D): tf.Tensor4D;
}

/** What {@linkcode createEngine} returns. */
export interface Engine {
  /** The engine that runs (never `auto`). */
  readonly name: EngineName;
  /** The tfjs backend it runs on. */
  readonly backend: string;
  /** Threads (the cpu engine's; 1 for the others). */
  readonly threads: number;
  /** The tuning it was made with (`tuning` over `DEFAULT_TUNING`). */
  readonly tuning: Tuning;
  /** One line for logs: `cpu (wasm, 2 threads)`, `gpu (webgpu)`, `tfjs (cpu)`. */
  describe(): string;
  /** Probabilities `[n, h, w]` for a normalised NHWC input of shape `[n, h, w, 3]`. */
  run(input: Float32Array, shape: readonly [number, number, number]): Promise<Float32Array>;
  /**
   * Throws the `EngineMemoryError` that `run` would for this input size;
   * returns the engine's estimated bytes otherwise (tfjs: 0, no limit).
   */
  checkSize(height: number, width: number, batch?: number): number;
  /** Engines kept now (one per input shape; tfjs: 0). */
  readonly size: number;
  /** Estimated bytes of the engines kept now. */
  readonly keptBytes: number;
  /** Frees every kept engine's buffers (the network is not owned). */
  dispose(): void;
}

/**
 * An engine for `model` on the active tfjs backend: gpu and cpu engines are
 * built per input shape on first use; tfjs runs `model.predict`. The model
 * is shared, not owned.
 *
 * @throws {TypeError} For an engine the model or backend does not allow, or
 *   a `backend` other than the active one.
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { createEngine } from "./create_engine.ts";
 * const model = U2Net.create("lite");
 * const engine = createEngine(model, { engine: "tfjs" });
 * engine.describe(); // "tfjs (cpu)"
 * const probs = await engine.run(new Float32Array(32 * 32 * 3), [1, 32, 32]);
 * probs.length; // 1024
 * engine.dispose();
 * model.dispose();
 * ```
 */
export function createEngine(model: EngineModel, options: CreateEngineOptions = {}): Engine {
  const backend = tf.getBackend();
  const asked = options.backend ?? "auto";
  if (asked !== "auto" && asked !== backend) {
    throw new TypeError(
      `Cannot create an engine on ${asked}: current backend is ${backend} (select it first)`,
    );
  }
  const tuning = resolveTuning(options.tuning);
  const name = resolveEngineChoice(options.engine ?? "auto", {
    backend,
    u2net: model instanceof U2Net,
  });
  const threads = name === "cpu" ? options.threads ?? 1 : 1;
  const shapes = name === "tfjs"
    ? undefined
    : new EngineShapes(model as U2Net, name, { ...options, threads });
  const half = name === "gpu" && options.precision === "f16";
  const describe = () =>
    describeEngine(name, backend, threads).replace(/\)$/, half ? ", f16)" : ")");
  return {
    name,
    backend,
    threads,
    tuning,
    describe,
    get size() {
      return shapes?.size ?? 0;
    },
    get keptBytes() {
      return shapes?.keptBytes ?? 0;
    },
    checkSize: (height, width, batch = 1) => shapes?.checkSize(height, width, batch) ?? 0,
    run: (input, shape) =>
      withTuning(
        options.tuning,
        () => shapes ? shapes.run(input, shape) : runTfjs(model, input, shape),
      ),
    dispose: () => shapes?.dispose(),
  };
}

/**
 * The one-line description of an engine that logs print after `engine: `:
 * the engine, what it runs on (the tfjs backend; for cpu, always our
 * WebAssembly module, whichever backend tfjs has) and, for cpu, its threads.
 *
 * @example
 * ```ts
 * import { describeEngine } from "./create_engine.ts";
 * describeEngine("cpu", "webgpu", 2); // "cpu (wasm, 2 threads)"
 * describeEngine("gpu", "webgpu"); // "gpu (webgpu)"
 * ```
 */
export function describeEngine(name: string, backend: string, threads = 1): string {
  if (name !== "cpu") return `${name} (${backend})`;
  return `cpu (wasm, ${threads} thread${threads === 1 ? "" : "s"})`;
}

async function runTfjs(
  model: EngineModel,
  input: Float32Array,
  [n, h, w]: readonly [number, number, number],
): Promise<Float32Array> {
  const x = tf.tensor4d(input, [n, h, w, 3]);
  let y: tf.Tensor4D | undefined;
  try {
    y = model.predict(x);
    return await y.data() as Float32Array;
  } finally {
    x.dispose();
    y?.dispose();
  }
}
