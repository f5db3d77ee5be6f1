/**
 * A recorded WebGPU training step for U2-Net: the whole step (train-mode
 * forward, criterion, backward, BN running-stat updates, AdamW) is planned,
 * compiled and bound once for a fixed batch shape, then each step uploads
 * the batch and submits ~1,300 prepared dispatches in one compute pass,
 * the optimizer's included: the update is guarded on the GPU against a
 * non-finite loss (`_gpu_trainer_update.ts`), so a step is one submission
 * with no host wait in the middle, and the loss is read back after it
 * ({@linkcode GpuTrainer.submit} lets the next step be submitted before
 * that read-back, hiding its latency). No tfjs on the hot path: the host
 * work per dispatch is three encoder calls instead of a tfjs op (kernel
 * lookup, tensor bookkeeping, uniform buffer, bind group). The kernels are
 * the tfjs path's own WGSL (made standalone by `wgsl_standalone.ts`) plus a
 * few for what tfjs does with tf ops (`trainer_wgsl.ts`, `_trainer_folds.ts`).
 *
 * Parameters, moments and running statistics live on the GPU while
 * training; {@linkcode GpuTrainer.sync} copies them back into the model and
 * the optimizer (for checkpoints, evaluation or the tfjs path).
 *
 * @module
 */
import type { tf } from "../../deps.ts";
import type { Trainer, TrainStepOptions } from "../../optim/trainer.ts";
import { planTrainer, type TrainDispatch } from "./trainer_plan.ts";
import { checkFits, trainerRuntime } from "./gpu_trainer_setup.ts";
import { byLabel } from "./gpu_profile.ts";
import {
  checkPrecision,
  checkShape,
  checkTrainer,
  type GpuTrainerOptions,
} from "./_gpu_trainer_check.ts";
import type { AmpState } from "../../kernels/adamw/adamw_amp_wgsl.ts";
import { TrainerGpu } from "./_gpu_trainer_state.ts";
import { StepSubmitter } from "./_gpu_trainer_step.ts";
import { countLabels, timeDispatches } from "./_gpu_trainer_profile.ts";
import type { GpuStepHandle } from "./_gpu_trainer_inflight.ts";

export type { AmpState, GpuStepHandle };
export { DEFAULT_GPU_TRAINER_OPTIONS, type GpuTrainerOptions } from "./_gpu_trainer_check.ts";

/**
 * U2-Net training steps on WebGPU with every dispatch recorded at creation.
 * Same semantics as {@linkcode trainStep} (PyTorch's: train-mode BN, the
 * seven-term criterion, AdamW with the optimizer's groups, lr from the
 * scheduler, a non-finite loss throws and no update is applied).
 * {@linkcode GpuTrainer.step} runs one step at a time;
 * {@linkcode GpuTrainer.submit} returns once the step is queued, with a
 * handle whose loss is read later, so that the next step can be submitted
 * first (one in flight hides the read-back's latency).
 *
 * @example
 * ```ts ignore
 * import { U2Net } from "../../model/u2net.ts";
 * import { AdamW } from "../../optim/adamw.ts";
 * import { getParamsGroups } from "../../optim/params_groups.ts";
 * import { GpuTrainer } from "./gpu_trainer.ts";
 * const model = U2Net.create("lite");
 * const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
 * const trainer = await GpuTrainer.create({ model, optimizer }, { batch: 2, height: 64, width: 64 });
 * const loss = await trainer.step(new Float32Array(2 * 64 * 64 * 3), new Float32Array(2 * 64 * 64));
 * await trainer.sync(); // parameters, running stats and moments back into model and optimizer
 * trainer.dispose();
 * ```
 */
export class GpuTrainer {
  /** The batch shape [batch, height, width, 3]. */
  readonly inputShape: readonly [number, number, number, number];
  /** Dispatches per step (forward, criterion, backward and the guarded update, one pass). */
  readonly dispatches: number;
  /** Bytes of GPU buffers the trainer holds (activations, parameters, gradients, moments). */
  readonly bytes: number;
  /** `f16`: mixed precision with loss scaling (`GpuTrainerOptions.precision`). */
  readonly precision: "f32" | "f16";
  readonly #trainer: Trainer;
  /** Buffers, bound dispatches and their reads and writes (`_gpu_trainer_state.ts`). */
  readonly #gpu: TrainerGpu;
  /** Submissions, host step state and the steps in flight (`_gpu_trainer_step.ts`). */
  readonly #steps: StepSubmitter;

  private constructor(
    trainer: Trainer,
    gpu: TrainerGpu,
    shape: [number, number, number, number],
    step: number,
  ) {
    this.#trainer = trainer;
    this.#gpu = gpu;
    this.inputShape = shape;
    this.dispatches = gpu.bound.length;
    this.bytes = gpu.bytes;
    this.precision = gpu.half ? "f16" : "f32";
    this.#steps = new StepSubmitter({ shape, gpu, trainer }, step);
  }

  /**
   * Plans, compiles and binds the step for one batch shape and uploads the
   * model's parameters and running statistics and the optimizer's moments.
   * Every trainable parameter must be in one of the optimizer's groups, and
   * all must have taken the same number of steps.
   */
  static async create(trainer: Trainer, options: GpuTrainerOptions = {}): Promise<GpuTrainer> {
    const [batch, height, width] = checkShape(options);
    const { half, lossScale } = checkPrecision(options);
    const { model, optimizer } = trainer;
    const { info, state, step } = await checkTrainer(trainer);
    const groups = optimizer.paramGroups.length;
    const plan = planTrainer(model.config, [batch, height, width], info, groups, half);
    const rt = await trainerRuntime(options.device);
    try {
      if (half && !rt.device.features.has("shader-f16")) {
        throw new TypeError(
          "Cannot create GpuTrainer in f16: current device lacks shader-f16 (use precision f32)",
        );
      }
      checkFits(rt.device, plan);
      const gpu = new TrainerGpu(rt, plan, lossScale);
      await gpu.upload(model, state, step);
      return new GpuTrainer(trainer, gpu, [batch, height, width, 3], step);
    } catch (e) {
      rt.destroy();
      throw e;
    }
  }

  /**
   * One optimisation step on a batch: `images` NHWC `[B, H, W, 3]`
   * normalised, `masks` `[B, H, W]` in [0, 1] (host arrays, or tensors of
   * those shapes). Steps are queued: one runs at a time (it starts when
   * every step submitted before it has been settled).
   *
   * @returns The loss of this step (before the update).
   * @throws {NonFiniteLossError} When the loss is NaN or infinite (no update was applied), or
   *   when a step submitted before had such a loss that no handle has rejected with yet.
   */
  step(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions = {},
  ): Promise<number> {
    return this.#steps.enqueue("step", async () => {
      await this.#steps.inFlight.drain();
      return await (await this.#steps.submit(images, masks, options)).loss();
    });
  }

  /**
   * Submits one optimisation step (as {@linkcode GpuTrainer.step}) and
   * resolves once it is queued on the GPU, without waiting for its loss:
   * the next step can be submitted before this one's loss is read. The
   * update is applied on the GPU only when the loss is finite and no step
   * submitted before it had a non-finite loss; the host side (step count,
   * scheduler step) advances at submission and is rolled back when the
   * handle finds the loss not finite, so that the trainer then holds
   * exactly the state after the last finite step (the running statistics
   * too: steps after a non-finite one skip their update). The scheduler's
   * lr for the next step is therefore set at submission. A step submitted
   * after a non-finite loss was read but before any handle rejected with
   * it is not run: its handle rejects with that error too.
   *
   * @example
   * ```ts ignore
   * let last = await trainer.submit(batches[0].images, batches[0].masks);
   * for (const b of batches.slice(1)) {
   *   const next = await trainer.submit(b.images, b.masks); // queued before the read-back
   *   console.log(await last.loss());
   *   last = next;
   * }
   * console.log(await last.loss());
   * ```
   */
  submit(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions = {},
  ): Promise<GpuStepHandle> {
    return this.#steps.enqueue("submit", () => this.#steps.submit(images, masks, options));
  }

  /** Steps submitted whose loss has not been settled yet. */
  get inFlight(): number {
    return this.#steps.inFlight.size;
  }

  /**
   * Uploads the model's parameters and running statistics and the
   * optimizer's moments and step count again (after the model or the
   * optimizer changed outside this trainer, e.g. a tfjs step).
   */
  async reload(): Promise<void> {
    await this.#steps.drain();
    this.#steps.reset(await this.#gpu.reload(this.#trainer));
  }

  /**
   * Host milliseconds of the last step before submission: queueing the
   * batch upload and the AdamW uniforms, encoding the step's one pass (the
   * next step's is encoded while the GPU runs this one, and counted here);
   * not `queue.submit` (a software adapter runs the work in it) nor the
   * waits for the GPU.
   */
  get lastHostMs(): number {
    return this.#steps.hostMs;
  }

  /** Waits until every submitted step has finished on the GPU (and its loss is settled). */
  async flush(): Promise<void> {
    await this.#steps.drain();
    await this.#gpu.rt.device.queue.onSubmittedWorkDone();
  }

  /**
   * Copies the parameters and running statistics into the model (and
   * advances its BN batch counters), and the moments and step counts into
   * the optimizer, so that `stateDict()`, checkpoints and the tfjs path see
   * the trained state. Waits for the steps in flight first.
   */
  async sync(): Promise<void> {
    await this.#steps.drain();
    await this.#gpu.sync(this.#trainer, this.#steps);
  }

  /**
   * Diagnostics: the values of a named map of the last step (`logit0` the
   * fused logits, `logit1` … `logit6` the side logits, `dlogit0` … their
   * gradients) or of a flat buffer (`params`, `grads`, `state`, `loss`,
   * `mv0` … the chunks' moments, `guard`: the non-finite latch, 0 or 1 as
   * a u32). Waits for the steps in flight first.
   */
  async read(name: string): Promise<Float32Array> {
    await this.#steps.drain();
    return await this.#gpu.read(name);
  }

  /**
   * Mixed precision: the loss scaling's state after the steps submitted
   * (the scale, good steps since it changed, optimizer steps taken, steps
   * skipped for an overflow); `undefined` in f32. Waits for the steps in
   * flight first.
   */
  async lossScale(): Promise<AmpState | undefined> {
    await this.#steps.drain();
    return await this.#gpu.ampState();
  }

  /**
   * Mixed precision: sets the loss scale (rounded down to a power of two)
   * and its good-step count (0: restarted, as `GradScaler.update(new_scale)`;
   * a resumed run passes its own); steps submitted after this call use them.
   *
   * @throws {TypeError} In f32 (there is no loss scale).
   * @throws {RangeError} For a scale that is not positive and finite, or
   * good steps that are not a whole number.
   */
  setLossScale(scale: number, goodSteps = 0): Promise<void> {
    return this.#steps.enqueue("set the loss scale of", async () => {
      await this.#steps.inFlight.drain();
      this.#gpu.setLossScale(scale, goodSteps);
    });
  }

  /**
   * Diagnostics: the last step's gradient of every parameter, by seed key
   * (tfjs layout); in mixed precision, times the loss scale it was taken at.
   */
  async gradients(): Promise<Map<string, Float32Array>> {
    await this.#steps.drain();
    return await this.#gpu.gradients();
  }

  /**
   * Times one step's dispatches by label: with timestamp queries, each
   * dispatch in its own pass stamped on the GPU; without, each submitted and
   * awaited on its own (coarse: includes a submission's overhead); after one
   * normal step on the batch; the replay's results are discarded, so the
   * trainer ends one step further.
   */
  async profile(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
  ): Promise<{ label: string; count: number; ms: number }[]> {
    const each = await this.profileDispatches(images, masks);
    return byLabel(each.map((d) => d.label), each.map((d) => d.ms));
  }

  /**
   * {@linkcode GpuTrainer.profile}, one row per dispatch in step order: its
   * label, workgroups and storage bindings' sizes (floats; the output first).
   */
  async profileDispatches(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
  ): Promise<{ label: string; workgroups: number[]; sizes: number[]; ms: number }[]> {
    await this.step(images, masks);
    await this.flush();
    return await timeDispatches(this.#gpu);
  }

  /** Dispatch labels with their counts (what one step runs). */
  summary(): Record<string, number> {
    return countLabels(this.#gpu.dispatches);
  }

  /** Frees the GPU buffers (and the device when the trainer requested it); call `sync()` first to keep the trained state. */
  dispose(): void {
    if (this.#steps.disposed) return;
    this.#steps.disposed = true;
    this.#gpu.rt.destroy();
  }
}

export type { TrainDispatch };
