/**
 * Picks the engine of each training step: the recorded {@linkcode GpuTrainer}
 * on WebGPU (for the batch shape it was made for; a batch of another shape,
 * e.g. a short last batch, runs on tfjs after a sync), or tfjs'
 * {@linkcode trainStep}. Keeps the model and optimizer in step with the GPU
 * copy when asked ({@linkcode StepRunner.sync}).
 *
 * @module
 */
import { tf } from "../deps.ts";
import { onWebgpu } from "../kernels/webgpu.ts";
import type { Batch } from "../data/loader.ts";
import { GpuTrainer } from "../engines/gpu/gpu_trainer.ts";
import { type Trainer, trainStep, type TrainStepOptions } from "./train_step.ts";

/** Engines of a training step: `auto` is `gpu` on the webgpu backend, else `tfjs`. */
export const TRAIN_ENGINES = ["auto", "gpu", "tfjs"] as const;
/** One of {@linkcode TRAIN_ENGINES}. */
export type TrainEngine = typeof TRAIN_ENGINES[number];

/** Options of {@linkcode StepRunner}. */
export interface StepRunnerOptions {
  /** Receives a note when `auto` falls back to tfjs (the batch does not fit the recorded step). */
  onLog?: (line: string) => void;
}

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
  #gpu?: GpuTrainer;
  #shape = "";
  /** The GPU copy is behind the model/optimizer (a tfjs step ran). */
  #stale = false;
  /** The model/optimizer are behind the GPU copy. */
  #dirty = false;
  /** auto: the recorded step did not fit the device. */
  #tooLarge = false;
  readonly #onLog?: (line: string) => void;

  /** A runner for `trainer` on `engine`. */
  constructor(trainer: Trainer, engine: TrainEngine = "auto", options: StepRunnerOptions = {}) {
    if (!TRAIN_ENGINES.includes(engine)) {
      throw new RangeError(`Cannot train: current engine is ${engine}`);
    }
    this.#trainer = trainer;
    this.#engine = engine;
    this.#onLog = options.onLog;
  }

  /** The engine steps run on now: `gpu` or `tfjs`. */
  get active(): "gpu" | "tfjs" {
    if (this.#engine === "auto") return onWebgpu() && !this.#tooLarge ? "gpu" : "tfjs";
    return this.#engine;
  }

  /** One training step on `batch`; returns its loss. */
  async step(batch: Batch, where: TrainStepOptions = {}): Promise<number> {
    const shape = `${batch.size}x${batch.height}x${batch.width}`;
    if (this.active === "gpu") {
      if (this.#engine === "gpu" && !onWebgpu()) {
        throw new TypeError(
          `Cannot train on the gpu engine: current backend is ${tf.getBackend()}`,
        );
      }
      if (!this.#gpu) {
        try {
          this.#gpu = await GpuTrainer.create(this.#trainer, {
            batch: batch.size,
            height: batch.height,
            width: batch.width,
          });
        } catch (e) {
          // auto: a batch past the device's limits trains on tfjs instead
          if (this.#engine !== "auto" || !(e instanceof RangeError)) throw e;
          this.#tooLarge = true;
          this.#onLog?.(`recorded step unavailable, training on tfjs ops: ${e.message}`);
        }
        this.#shape = shape;
      }
      if (this.#gpu && shape === this.#shape) {
        if (this.#stale) await this.#gpu.reload();
        this.#stale = false;
        this.#dirty = true; // the running statistics change even when the step throws
        return await this.#gpu.step(batch.images, batch.masks, where);
      }
      if (this.#gpu) {
        await this.sync();
        this.#stale = true;
      }
    }
    const images = tf.tensor4d(batch.images, [batch.size, batch.height, batch.width, 3]);
    const masks = tf.tensor4d(batch.masks, [batch.size, batch.height, batch.width, 1]);
    try {
      return await trainStep(this.#trainer, { images, masks }, where);
    } finally {
      images.dispose();
      masks.dispose();
    }
  }

  /** Brings the model and optimizer up to date with the GPU copy. */
  async sync(): Promise<void> {
    if (this.#gpu && this.#dirty) await this.#gpu.sync();
    this.#dirty = false;
  }

  /** Frees the GPU copy (call `sync()` first to keep its state). */
  dispose(): void {
    this.#gpu?.dispose();
    this.#gpu = undefined;
  }
}
