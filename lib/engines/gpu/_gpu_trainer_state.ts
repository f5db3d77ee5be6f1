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

  /** Creates the buffers of `plan` and binds its step with the update phase. */
  constructor(rt: GpuRuntime, plan: TrainPlan) {
    this.rt = rt;
    this.plan = plan;
    this.update = planUpdate(plan);
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

  /** Uploads the model's parameters and running statistics and the moments of `state`. */
  async upload(model: U2Net, state: AdamWState): Promise<void> {
    await uploadStart(this.rt, this.plan, this.buffers, model, state);
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
    const step = commonStep(this.plan.params.keys(), state, "reload");
    await this.upload(model, state);
    return step ?? 0;
  }

  /**
   * Copies the trained state into the trainer's model and optimizer
   * (`syncTrainer`: `counts.unsynced` steps since the last sync, then 0).
   */
  async sync(trainer: Trainer, counts: { step: number; unsynced: number }): Promise<void> {
    const read = (name: string) => this.rt.read(this.buffers.get(name)!);
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
