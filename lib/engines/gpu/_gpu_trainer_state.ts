/**
 * The GPU side of a recorded trainer (`gpu_trainer.ts`),
 * {@linkcode TrainerGpu}: the plan's buffers and every dispatch of a step
 * bound (the plan's, then the guarded update of `_gpu_trainer_update.ts`),
 * and the state they hold written and read: the first upload and
 * `GpuTrainer.reload`, `GpuTrainer.sync` (`_gpu_trainer_sync.ts`), the
 * diagnostics' reads.
 *
 * @module
 */
import type { Trainer } from "../../optim/trainer.ts";
import type { U2Net } from "../../model/u2net.ts";
import type { AdamWState } from "../../optim/adamw_types.ts";
import type { TrainDispatch, TrainPlan } from "./trainer_plan.ts";
import type { GpuRuntime } from "./gpu_runtime.ts";
import { bindAll, type BoundDispatch, createBuffers, uploadStart } from "./gpu_trainer_setup.ts";
import { planUpdate, updateBuffers } from "./_gpu_trainer_update.ts";
import {
  AMP_BUFFER,
  ampStart,
  type AmpState,
  type LossScaleOptions,
  readAmpState,
} from "../../kernels/adamw/adamw_amp_wgsl.ts";
import { syncTrainer } from "./_gpu_trainer_sync.ts";
import { commonStep } from "./_gpu_trainer_check.ts";

/** A trainer's buffers and bound dispatches on its runtime. */
export class TrainerGpu {
  /** The runtime. */
  readonly rt: GpuRuntime;
  /** The plan. */
  readonly plan: TrainPlan;
  /** The update phase's dispatches (guarded running-stat copy, AdamW per chunk). */
  readonly update: TrainDispatch[];
  /** Every buffer by name. */
  readonly buffers: Map<string, GPUBuffer>;
  /** Every dispatch of a step, bound: the plan's steps, then the update phase. */
  readonly bound: BoundDispatch[];
  /** Mixed precision (a planned `amp` buffer: loss scaling). */
  readonly half: boolean;
  readonly #initScale: number;

  /**
   * Creates the buffers of `plan` and binds its step with the update phase
   * (loss-scaled when the plan is mixed precision: `lossScale`).
   */
  constructor(rt: GpuRuntime, plan: TrainPlan, lossScale: Required<LossScaleOptions>) {
    this.rt = rt;
    this.plan = plan;
    this.half = plan.buffers.has(AMP_BUFFER);
    this.#initScale = lossScale.initScale;
    this.update = planUpdate(plan, {
      half: this.half,
      growthInterval: lossScale.growthInterval,
    });
    this.buffers = createBuffers(rt, { ...plan, buffers: updateBuffers(plan) });
    this.bound = bindAll(rt, this.dispatches, this.buffers);
  }

  /** Every dispatch of a step, unbound: the plan's steps, then the update phase. */
  get dispatches(): TrainDispatch[] {
    return [...this.plan.steps, ...this.update];
  }

  /** Bytes of every buffer. */
  get bytes(): number {
    return [...this.buffers.values()].reduce((a, b) => a + b.size, 0);
  }

  /**
   * Uploads the model's parameters and running statistics and the moments
   * of `state` (and, mixed precision, the loss scale's start at `step`
   * optimizer steps).
   */
  async upload(model: U2Net, state: AdamWState, step = 0): Promise<void> {
    if (this.half) this.rt.write(this.buffers.get(AMP_BUFFER)!, ampStart(this.#initScale, step));
    await uploadStart(this.rt, this.plan, this.buffers, model, state);
  }

  /** Mixed precision: queues a new loss scale (a power of two) and its good steps. */
  setLossScale(scale: number, goodSteps = 0): void {
    if (!this.half) {
      throw new TypeError("Cannot set the loss scale: current precision is f32");
    }
    if (!Number.isInteger(goodSteps) || goodSteps < 0 || goodSteps >= 2 ** 32) {
      throw new RangeError(`Cannot set the loss scale: current goodSteps is ${goodSteps}`);
    }
    // Words 0 and 1: the scale and the good steps; the overflow flag is 0 between steps.
    const start = ampStart(scale, 0);
    new Uint32Array(start, 4, 1)[0] = goodSteps;
    this.rt.device.queue.writeBuffer(this.buffers.get(AMP_BUFFER)!, 0, start, 0, 12);
  }

  /** Mixed precision: the loss scaling's state (`undefined` in f32). */
  async ampState(): Promise<AmpState | undefined> {
    if (!this.half) return undefined;
    return readAmpState((await this.rt.read(this.buffers.get(AMP_BUFFER)!)).buffer);
  }

  /**
   * Uploads the trainer's model and optimizer state again and returns the
   * step count of its parameters (0 without state).
   *
   * @throws {RangeError} When they have taken different step counts.
   */
  async reload(trainer: Trainer): Promise<number> {
    const { model, optimizer } = trainer;
    const state = await optimizer.state();
    const step = commonStep(this.plan.params.keys(), state, "reload") ?? 0;
    if (this.half) {
      // The scale and its good-step count carry on; the step count is the optimizer's.
      const amp = this.buffers.get(AMP_BUFFER)!;
      this.rt.device.queue.writeBuffer(amp, 12, new Uint32Array([step]));
    }
    await uploadStart(this.rt, this.plan, this.buffers, model, state);
    return step;
  }

  /**
   * Copies the trained state into the trainer's model and optimizer
   * (`syncTrainer`: `counts.unsynced` steps since the last sync, then 0).
   */
  async sync(trainer: Trainer, counts: { step: number; unsynced: number }): Promise<void> {
    const read = (name: string) => this.rt.read(this.buffers.get(name)!);
    // Mixed precision: skipped steps did not count; the GPU knows how many did.
    const amp = await this.ampState();
    if (amp) counts.step = amp.step;
    await syncTrainer(trainer, this.plan, read, counts);
  }

  /** The values of a named map of the plan (`logit0` …) or of a buffer. */
  async read(name: string): Promise<Float32Array> {
    const id = this.plan.named.get(name) ?? name;
    if (!this.buffers.has(id)) {
      throw new RangeError(
        `Cannot read GpuTrainer buffer: current value is unknown name "${name}"`,
      );
    }
    return await this.rt.read(this.buffers.get(id)!);
  }

  /** The flat gradients split by seed key. */
  async gradients(): Promise<Map<string, Float32Array>> {
    const flat = await this.read("grads");
    const out = new Map<string, Float32Array>();
    for (const [key, s] of this.plan.params) out.set(key, flat.slice(s.off, s.off + s.len));
    return out;
  }
}
