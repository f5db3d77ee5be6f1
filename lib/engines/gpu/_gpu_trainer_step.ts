/**
 * The host side of the recorded training steps (`gpu_trainer.ts`,
 * `GpuTrainer.step` and `GpuTrainer.submit`), {@linkcode StepSubmitter}:
 * the queue of submissions, the batch as host arrays, its upload with the
 * step's AdamW uniforms (`_gpu_trainer_update.ts`), the prepared commands
 * and the loss read-back, the host state a step advances (step count,
 * scheduler) and its roll-back when the loss is not finite
 * (`_gpu_trainer_inflight.ts`).
 *
 * @module
 */
import { tf } from "../../deps.ts";
import type { Trainer, TrainStepOptions } from "../../optim/trainer.ts";
import type { TrainerGpu } from "./_gpu_trainer_state.ts";
import { GUARD_BUFFER, writeUpdateUniforms } from "./_gpu_trainer_update.ts";
import { type GpuStepHandle, type StepRecord, StepsInFlight } from "./_gpu_trainer_inflight.ts";

/**
 * The values of `t` as a `Float32Array` of `want` values (`what` names it
 * in the error).
 */
export async function hostData(
  t: Float32Array | tf.Tensor,
  want: number,
  what: string,
): Promise<Float32Array> {
  // A tfjs float32 tensor cast from bool can hold integers (webgpu): convert.
  const raw = t instanceof tf.Tensor ? await t.data() : t;
  const data = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
  if (data.length !== want) {
    throw new RangeError(
      `Cannot step GpuTrainer: current ${what} has ${data.length} values, expected ${want}`,
    );
  }
  return data;
}

/** What a {@linkcode StepSubmitter} submits with: the trainer's GPU side and host objects. */
export interface StepTarget {
  /** The batch shape `[batch, height, width, 3]`. */
  shape: readonly [number, number, number, number];
  /** The buffers and bound dispatches. */
  gpu: TrainerGpu;
  /** The model, optimizer and scheduler trained. */
  trainer: Trainer;
}

/**
 * Submits steps, one at a time, and keeps the host state they advance: the
 * AdamW step count, the steps since the last sync, the last step's host
 * time, the next step's commands (encoded while the GPU runs the current
 * one), and the steps in flight.
 */
export class StepSubmitter {
  /** The step count after the last step submitted (rolled back with it). */
  step: number;
  /** Steps since the last sync (the BN batch counters' advance). */
  unsynced = 0;
  /** Host milliseconds of the last step before submission (`GpuTrainer.lastHostMs`). */
  hostMs = 0;
  /** The steps whose loss has not been settled yet. */
  readonly inFlight: StepsInFlight;
  /** Set when the trainer is disposed: nothing more is queued or submitted. */
  disposed = false;
  readonly #target: StepTarget;
  /** The next step's commands, encoded while the GPU runs the current one. */
  #prepared?: GPUCommandBuffer;
  /** Submissions (and whole `step()` calls), one at a time. */
  #pending: Promise<unknown> = Promise.resolve();

  /** A submitter for `target`, whose parameters have taken `step` steps. */
  constructor(target: StepTarget, step: number) {
    this.#target = target;
    this.step = step;
    this.inFlight = new StepsInFlight(
      target.gpu.rt,
      (record, later) => this.#rollBack(record, later),
    );
  }

  /** After the state was uploaded again: `step` steps taken, none unsynced. */
  reset(step: number): void {
    this.step = step;
    this.unsynced = 0;
  }

  /**
   * Runs `fn` after every job queued before it has finished (`what` names
   * the action in the error when disposed).
   */
  enqueue<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.disposed) {
      return Promise.reject(
        new TypeError(`Cannot ${what} GpuTrainer: current value is disposed`),
      );
    }
    const job = this.#pending.then(fn);
    this.#pending = job.catch(() => {});
    return job;
  }

  /** Every submission made and every submitted step's loss settled. */
  async drain(): Promise<void> {
    await this.#pending;
    await this.inFlight.drain();
  }

  /**
   * Submits one step on `images` and `masks` (host arrays or tensors of
   * the batch shape), or returns the handle of a refused step
   * (`StepsInFlight.refused`).
   */
  async submit(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    where: TrainStepOptions,
  ): Promise<GpuStepHandle> {
    const [n, h, w] = this.#target.shape;
    const x = await hostData(images, n * h * w * 3, "images");
    const y = await hostData(masks, n * h * w, "masks");
    if (this.disposed) throw new TypeError("Cannot step GpuTrainer: current value is disposed");
    return this.#submitNow(x, y, where);
  }

  /** One command buffer of a step: every dispatch in one compute pass. */
  #encode(): GPUCommandBuffer {
    const { rt, bound } = this.#target.gpu;
    return rt.encode(bound);
  }

  #submitNow(x: Float32Array, y: Float32Array, where: TrainStepOptions): GpuStepHandle {
    // From here to track(): no await, so a settling step cannot roll back in between.
    const refused = this.inFlight.refused();
    if (refused) return refused;
    const { gpu } = this.#target, { rt, plan, buffers, bound } = gpu;
    let t0 = performance.now();
    rt.write(buffers.get("x")!, x as Float32Array<ArrayBuffer>);
    rt.write(buffers.get("y")!, y as Float32Array<ArrayBuffer>);
    const t = this.step + 1;
    const { optimizer, scheduler } = this.#target.trainer;
    writeUpdateUniforms(rt, plan, bound.slice(plan.steps.length), optimizer, t, gpu.half);
    const commands = this.#prepared ?? this.#encode();
    const readback = this.inFlight.readback();
    const encoder = rt.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffers.get("loss")!, 0, readback, 0, 4);
    let host = performance.now() - t0;
    rt.device.queue.submit([commands, encoder.finish()]);
    // The commands do not depend on the data or the scalars (they arrive by
    // writeBuffer, which the queue orders before a submission): the next
    // step's are encoded now, while the GPU runs this one.
    t0 = performance.now();
    this.#prepared = this.#encode();
    host += performance.now() - t0;
    this.hostMs = host;
    const record: StepRecord = { t, scheduler: scheduler?.state(), where };
    this.step = t;
    this.unsynced++;
    scheduler?.step();
    return this.inFlight.track(record, readback);
  }

  /**
   * A step's loss was not finite: its update and those of the `later` steps
   * submitted after it were skipped (and the later ones' running-stat
   * copies); back to the state after the step before it, latch cleared.
   */
  #rollBack(record: StepRecord, later: number): void {
    this.step = record.t - 1;
    this.unsynced -= later;
    if (record.scheduler) this.#target.trainer.scheduler?.loadState(record.scheduler);
    const { rt, buffers } = this.#target.gpu;
    rt.write(buffers.get(GUARD_BUFFER)!, new Uint32Array(4));
  }
}
