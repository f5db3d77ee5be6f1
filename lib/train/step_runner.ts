/**
 * Picks the engine of each training step: a recorded step planned from the
 * network graph — {@linkcode GpuTrainer} on WebGPU, {@linkcode CpuTrainer}
 * (our WebAssembly kernels) elsewhere — one per batch shape (a batch of
 * another shape, e.g. a short last batch, gets its own plan, kept for the
 * next epoch: the state moves between them with a sync and a reload), or
 * tfjs' {@linkcode trainStep}.
 * Keeps the model and optimizer in step with the GPU copy when asked
 * ({@linkcode StepRunner.sync}). {@linkcode StepRunner.submit} queues a
 * step without waiting for its loss where the engine allows it (the
 * GpuTrainer), so the next step is submitted before the loss is read.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { resolveEngineChoice } from "../engines/create_engine.ts";
import type { Batch } from "../data/loader.ts";
import { type AmpState, GpuTrainer } from "../engines/gpu/gpu_trainer.ts";
import { CpuTrainer } from "../engines/cpu/cpu_trainer.ts";
import { type Trainer, trainStep, type TrainStepOptions } from "./train_step.ts";

/**
 * Engines of a training step: `gpu` (GpuTrainer, the webgpu backend), `cpu`
 * (CpuTrainer, any backend), `tfjs` (tfjs ops and autodiff); `auto` is gpu
 * on the webgpu backend, else cpu (`resolveEngineChoice(…, { training: true })`).
 */
export const TRAIN_ENGINES = ["auto", "gpu", "cpu", "tfjs"] as const;
/** One of {@linkcode TRAIN_ENGINES}. */
export type TrainEngine = typeof TRAIN_ENGINES[number];

/** Options of {@linkcode StepRunner}. */
export interface StepRunnerOptions {
  /** Receives a note when `auto` falls back to tfjs (the batch does not fit the recorded step). */
  onLog?: (line: string) => void;
  /**
   * Threads of the CPU step (CpuTrainer's `threads`: Web Workers that split
   * each kernel call; the same results on any count).
   * @default 1
   */
  threads?: number;
  /**
   * The recorded WebGPU step's arithmetic (`GpuTrainerOptions.precision`;
   * one loss scale for the run, as one GradScaler: a batch shape's step
   * takes over the scale of the one before it). @default "f32"
   */
  precision?: "f32" | "f16";
  /**
   * Mixed precision: the loss scaling to start from (a resumed run's scale
   * and good steps since it changed), given to the first recorded step.
   * @default undefined (`GpuTrainer`'s initial scale)
   */
  lossScale?: LossScaleState;
}

/** The loss scaling a run carries (as GradScaler's `_scale` and `_growth_tracker`). */
export interface LossScaleState {
  /** The current loss scale. */
  scale: number;
  /** Good steps since the scale last changed. */
  goodSteps: number;
}

/**
 * A step submitted with {@linkcode StepRunner.submit}: its loss arrives later.
 *
 * @example
 * ```ts ignore
 * const submitted: SubmittedStep = await runner.submit(batch, { step: 0, epoch: 0 });
 * console.log(await submitted.loss());
 * ```
 */
export interface SubmittedStep {
  /**
   * The step's loss; rejects with `NonFiniteLossError` when it (or a step
   * before it still in flight) was not finite, no update applied.
   */
  loss(): Promise<number>;
}

/** A recorded training step of one batch shape (GpuTrainer or CpuTrainer). */
interface RecordedStep {
  step(images: Float32Array, masks: Float32Array, where?: TrainStepOptions): Promise<number>;
  /** Pipelined steps (the GpuTrainer); without, `step` runs synchronously. */
  submit?(images: Float32Array, masks: Float32Array, where?: TrainStepOptions): Promise<
    SubmittedStep
  >;
  sync(): Promise<void>;
  reload(): Promise<void>;
  dispose(): void;
  /** Mixed precision (GpuTrainer in f16): the loss scaling's state. */
  lossScale?(): Promise<AmpState | undefined>;
  /** Mixed precision: sets the loss scale and its good steps. */
  setLossScale?(scale: number, goodSteps?: number): Promise<void>;
}

/** Recorded training steps kept at once (the batch shape and a short last batch's). */
export const STEP_PLAN_CACHE_SIZE = 2;

/**
 * Runs training steps on the chosen engine.
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { AdamW } from "../optim/adamw.ts";
 * import { getParamsGroups } from "../optim/params_groups.ts";
 * import { StepRunner } from "./step_runner.ts";
 * const model = U2Net.create("lite");
 * const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
 * const runner = new StepRunner({ model, optimizer }, "auto");
 * const [size, height, width] = [1, 32, 32];
 * const batch = {
 *   images: new Float32Array(size * height * width * 3),
 *   masks: new Float32Array(size * height * width),
 *   names: ["a"], indices: [0], size, height, width, epoch: 0, step: 0,
 * };
 * console.log(runner.active, await runner.step(batch));
 * await runner.sync();
 * runner.dispose();
 * ```
 */
export class StepRunner {
  readonly #trainer: Trainer;
  readonly #engine: TrainEngine;
  /** Recorded steps by batch shape, least recently used first. */
  readonly #gpus = new Map<string, RecordedStep>();
  /** The shape whose recorded step holds the newest state (host copy stale until synced). */
  #live = "";
  #dirty = false;
  readonly #tooLarge = new Set<string>();
  #last = "";
  /** The step submitted last (pipelined) whose loss nobody asked for yet. */
  #inFlight?: SubmittedStep;
  readonly #onLog?: (line: string) => void;
  readonly #threads: number;
  readonly #precision: "f32" | "f16";
  /** The loss scaling the first recorded step starts from (a resumed run's). */
  #startScale?: LossScaleState;

  /** Creates a runner over `trainer` on `engine` (see {@linkcode TRAIN_ENGINES}). */
  constructor(trainer: Trainer, engine: TrainEngine = "auto", options: StepRunnerOptions = {}) {
    if (!TRAIN_ENGINES.includes(engine)) {
      throw new RangeError(`Cannot train: current engine is ${engine}`);
    }
    this.#trainer = trainer;
    this.#engine = engine;
    this.#onLog = options.onLog;
    this.#threads = options.threads ?? 1;
    this.#precision = options.precision ?? "f32";
    this.#startScale = options.lossScale;
  }

  /** The engine the next step of the last batch shape runs on. */
  get active(): "gpu" | "cpu" | "tfjs" {
    const engine = resolveEngineChoice(this.#engine, { training: true });
    if (this.#engine === "auto" && engine !== "tfjs" && this.#tooLarge.has(this.#last)) {
      return "tfjs";
    }
    return engine;
  }

  /** One training step on `batch`; returns its loss. */
  async step(batch: Batch, where: TrainStepOptions = {}): Promise<number> {
    const shape = `${batch.size}x${batch.height}x${batch.width}`;
    this.#last = shape;
    const engine = resolveEngineChoice(this.#engine, { training: true });
    if (engine !== "tfjs" && !this.#tooLarge.has(shape)) {
      const gpu = await this.#recordedFor(engine, batch, shape);
      if (gpu) {
        this.#dirty = true; // the running statistics change even when the step throws
        return await gpu.step(batch.images, batch.masks, where);
      }
    }
    await this.sync(); // tfjs works on the host copy
    this.#live = "";
    const images = tf.tensor4d(batch.images, [batch.size, batch.height, batch.width, 3]);
    const masks = tf.tensor4d(batch.masks, [batch.size, batch.height, batch.width, 1]);
    try {
      return await trainStep(this.#trainer, { images, masks }, where);
    } finally {
      images.dispose();
      masks.dispose();
    }
  }

  /**
   * Submits one training step on `batch` and resolves once it is queued:
   * on the recorded GPU step of the live batch shape the loss is read back
   * later (one step can be in flight while the next is submitted); any other
   * step (the first of a shape, the cpu and tfjs engines) runs now, after
   * the step in flight has been settled (its error, if any, is thrown here:
   * no step runs after a failed one), and a non-finite loss throws here.
   * Model, optimizer and scheduler are in step once the losses are read and
   * {@linkcode StepRunner.sync} ran (sync waits for the steps in flight).
   */
  async submit(batch: Batch, where: TrainStepOptions = {}): Promise<SubmittedStep> {
    const shape = `${batch.size}x${batch.height}x${batch.width}`;
    const live = this.#live === shape ? this.#gpus.get(shape) : undefined;
    if (live?.submit && resolveEngineChoice(this.#engine, { training: true }) !== "tfjs") {
      this.#last = shape;
      this.#dirty = true;
      const handle = await live.submit(batch.images, batch.masks, where);
      const submitted: SubmittedStep = {
        loss: () => {
          if (this.#inFlight === submitted) this.#inFlight = undefined;
          return handle.loss();
        },
      };
      this.#inFlight = submitted;
      return submitted;
    }
    const before = this.#inFlight;
    this.#inFlight = undefined;
    await before?.loss();
    const loss = await this.step(batch, where);
    return { loss: () => Promise.resolve(loss) };
  }

  /** The recorded step of `shape` holding the newest state (undefined: auto falls back). */
  async #recordedFor(
    engine: "gpu" | "cpu",
    batch: Batch,
    shape: string,
  ): Promise<RecordedStep | undefined> {
    let gpu = this.#gpus.get(shape);
    if (gpu && this.#live === shape) return gpu;
    // Mixed precision: the loss scaling carries over to the next shape's step (one GradScaler).
    const amp = (await this.#gpus.get(this.#live)?.lossScale?.()) ?? this.#startScale;
    await this.sync(); // the host copy now holds the newest state
    if (gpu) {
      this.#gpus.delete(shape); // most recently used last
      await gpu.reload();
    } else {
      try {
        const size = { batch: batch.size, height: batch.height, width: batch.width };
        gpu = engine === "gpu"
          ? await GpuTrainer.create(this.#trainer, { ...size, precision: this.#precision })
          : await CpuTrainer.create(this.#trainer, { ...size, threads: this.#threads });
      } catch (e) {
        // auto: a batch past the device's limits trains on tfjs instead
        if (this.#engine !== "auto" || !(e instanceof RangeError)) throw e;
        this.#tooLarge.add(shape);
        this.#onLog?.(`recorded step unavailable, training on tfjs ops: ${e.message}`);
        return undefined;
      }
    }
    if (amp && gpu.setLossScale) {
      await gpu.setLossScale(amp.scale, amp.goodSteps);
      this.#startScale = undefined;
    }
    this.#gpus.set(shape, gpu);
    for (const [key, old] of this.#gpus) {
      if (this.#gpus.size <= STEP_PLAN_CACHE_SIZE) break;
      old.dispose();
      this.#gpus.delete(key);
    }
    this.#live = shape;
    return gpu;
  }

  /**
   * Mixed precision: the loss scale of the live recorded step (after the
   * steps submitted); `undefined` in f32 or before the first recorded step.
   */
  async lossScale(): Promise<number | undefined> {
    return (await this.ampState())?.scale;
  }

  /**
   * Mixed precision: the live recorded step's loss scaling (scale, good
   * steps, optimizer steps taken and steps skipped since it was made; see
   * `GpuTrainer.lossScale`); `undefined` in f32 or before the first
   * recorded step.
   */
  async ampState(): Promise<AmpState | undefined> {
    return await this.#gpus.get(this.#live)?.lossScale?.();
  }

  /** Copies the recorded step's parameters, moments and statistics back to the model and optimizer. */
  async sync(): Promise<void> {
    const gpu = this.#gpus.get(this.#live);
    if (gpu && this.#dirty) await gpu.sync();
    this.#dirty = false;
  }

  /** Frees the recorded steps (call {@linkcode StepRunner.sync} first to keep their state). */
  dispose(): void {
    for (const gpu of this.#gpus.values()) gpu.dispose();
    this.#gpus.clear();
    this.#live = "";
  }
}
