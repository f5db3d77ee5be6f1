/**
 * A recorded WebGPU training step for U2-Net: the whole step (train-mode
 * forward, criterion, backward, BN running-stat updates, AdamW) is planned,
 * compiled and bound once for a fixed batch shape, then each step uploads
 * the batch, encodes ~2,000 prepared dispatches into one compute pass, reads
 * the loss back and, when it is finite, runs the optimizer pass. No tfjs on
 * the hot path: the host work per dispatch is three encoder calls instead
 * of a tfjs op (kernel lookup, tensor bookkeeping, uniform buffer, bind
 * group). The kernels are the tfjs path's own WGSL (made standalone by
 * `wgsl_standalone.ts`) plus a few for what tfjs does with tf ops
 * (`trainer_wgsl.ts`, `_trainer_folds.ts`).
 *
 * Parameters, moments and running statistics live on the GPU while
 * training; {@linkcode GpuTrainer.sync} copies them back into the model and
 * the optimizer (for checkpoints, evaluation or the tfjs path).
 *
 * @module
 */
import type { tf } from "../../deps.ts";
import type { Trainer } from "../../optim/trainer.ts";
import { NonFiniteLossError, type TrainStepOptions } from "../../optim/trainer.ts";
import { planTrainer, type TrainDispatch, type TrainPlan } from "./trainer_plan.ts";
import {
  bindAll,
  type BoundDispatch,
  checkFits,
  createBuffers,
  trainerRuntime,
  uploadStart,
} from "./gpu_trainer_setup.ts";
import { adamWStateOf, syncModel } from "./_gpu_trainer_sync.ts";
import { byLabel } from "./gpu_profile.ts";
import { type GpuRuntime, mapRead } from "./gpu_runtime.ts";
import { checkTrainer } from "./_gpu_trainer_check.ts";
import { hostData, writeAdamUniforms } from "./_gpu_trainer_step.ts";

/** Options of {@linkcode GpuTrainer.create}. */
export interface GpuTrainerOptions {
  /** Images per step. @default 8 */
  batch?: number;
  /** Input height. @default 288 */
  height?: number;
  /** Input width. @default 288 */
  width?: number;
  /** A device to use; by default the trainer requests its own from `navigator.gpu`. */
  device?: GPUDevice;
}

/** Defaults of {@linkcode GpuTrainerOptions}. */
export const DEFAULT_GPU_TRAINER_OPTIONS: Readonly<Required<Omit<GpuTrainerOptions, "device">>> =
  Object.freeze({ batch: 8, height: 288, width: 288 });

/**
 * U2-Net training steps on WebGPU with every dispatch recorded at creation.
 * Same semantics as {@linkcode trainStep} (PyTorch's: train-mode BN, the
 * seven-term criterion, AdamW with the optimizer's groups, lr from the
 * scheduler, a non-finite loss throws before the optimizer step).
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
  /** Dispatches per step (both passes). */
  readonly dispatches: number;
  /** Bytes of GPU buffers the trainer holds (activations, parameters, gradients, moments). */
  readonly bytes: number;
  readonly #trainer: Trainer;
  readonly #rt: GpuRuntime;
  readonly #plan: TrainPlan;
  readonly #buffers: Map<string, GPUBuffer>;
  /** Pass A's and the optimizer pass's dispatches, bound. */
  readonly #bound: [BoundDispatch[], BoundDispatch[]];
  readonly #readback: GPUBuffer;
  #step: number;
  #unsynced = 0;
  #hostMs = 0;
  /** The next step's pass A, encoded while the GPU runs the current one. */
  #prepared?: GPUCommandBuffer;
  #pending: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(
    trainer: Trainer,
    rt: GpuRuntime,
    plan: TrainPlan,
    shape: [number, number, number, number],
    step: number,
  ) {
    this.#trainer = trainer;
    this.#rt = rt;
    this.#plan = plan;
    this.inputShape = shape;
    this.#step = step;
    this.dispatches = plan.steps.length + plan.optimizer.length;
    this.#buffers = createBuffers(rt, plan);
    this.bytes = [...this.#buffers.values()].reduce((a, b) => a + b.size, 0);
    this.#bound = [
      bindAll(rt, plan.steps, this.#buffers),
      bindAll(rt, plan.optimizer, this.#buffers),
    ];
    this.#readback = rt.readback(16);
  }

  /**
   * Plans, compiles and binds the step for one batch shape and uploads the
   * model's parameters and running statistics and the optimizer's moments.
   * Every trainable parameter must be in one of the optimizer's groups, and
   * all must have taken the same number of steps.
   */
  static async create(trainer: Trainer, options: GpuTrainerOptions = {}): Promise<GpuTrainer> {
    const { batch, height, width } = { ...DEFAULT_GPU_TRAINER_OPTIONS, ...options };
    for (const [what, v] of [["batch", batch], ["height", height], ["width", width]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(`Cannot create GpuTrainer: current ${what} is ${v}`);
      }
    }
    const { model, optimizer } = trainer;
    const { info, state, step } = await checkTrainer(trainer);
    const plan = planTrainer(
      model.config,
      [batch, height, width],
      info,
      optimizer.paramGroups.length,
    );
    const rt = await trainerRuntime(options.device);
    try {
      checkFits(rt.device, plan);
      const out = new GpuTrainer(trainer, rt, plan, [batch, height, width, 3], step);
      await uploadStart(rt, plan, out.#buffers, model, state);
      return out;
    } catch (e) {
      rt.destroy();
      throw e;
    }
  }

  /**
   * One optimisation step on a batch: `images` NHWC `[B, H, W, 3]`
   * normalised, `masks` `[B, H, W]` in [0, 1] (host arrays, or tensors of
   * those shapes). Steps are queued: one runs at a time.
   *
   * @returns The loss of this step (before the update).
   * @throws {NonFiniteLossError} When the loss is NaN or infinite (no update was applied).
   */
  async step(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions = {},
  ): Promise<number> {
    if (this.#disposed) throw new TypeError("Cannot step GpuTrainer: current value is disposed");
    const job = this.#pending.then(() => this.#run(images, masks, options));
    this.#pending = job.catch(() => {});
    return await job;
  }

  #copy(encoder: GPUCommandEncoder, from: string, to: string): void {
    const a = this.#buffers.get(from)!, b = this.#buffers.get(to)!;
    encoder.copyBufferToBuffer(a, 0, b, 0, a.size);
  }

  /** Pass A (forward, loss, backward) with the running-stat copy and the loss read-back. */
  #encodeForward(): GPUCommandBuffer {
    return this.#rt.encode(this.#bound[0], (encoder) => {
      // The running statistics see the batch whatever the loss (as in PyTorch).
      this.#copy(encoder, "stateNext", "state");
      encoder.copyBufferToBuffer(this.#buffers.get("loss")!, 0, this.#readback, 0, 4);
    });
  }

  async #run(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions,
  ): Promise<number> {
    const [n, h, w] = this.inputShape;
    const x = await hostData(images, n * h * w * 3, "images");
    const y = await hostData(masks, n * h * w, "masks");
    const rt = this.#rt;
    let t0 = performance.now();
    rt.write(this.#buffers.get("x")!, x as Float32Array<ArrayBuffer>);
    rt.write(this.#buffers.get("y")!, y as Float32Array<ArrayBuffer>);
    const commands = this.#prepared ?? this.#encodeForward();
    let host = performance.now() - t0;
    rt.submit(commands);
    // Pass A does not depend on the data (it arrives by writeBuffer, which
    // the queue orders before a submission): the next step's is encoded now,
    // while the GPU runs this one.
    t0 = performance.now();
    this.#prepared = this.#encodeForward();
    host += performance.now() - t0;
    this.#unsynced++;

    const loss = (await mapRead(this.#readback, 4))[0];
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, options);

    t0 = performance.now();
    const t = this.#step + 1;
    writeAdamUniforms(rt, this.#plan, this.#bound[1], this.#trainer.optimizer, t);
    const update = rt.encode(this.#bound[1], (encoder) => {
      this.#copy(encoder, "paramsNext", "params");
      this.#plan.chunks.forEach((_, i) => this.#copy(encoder, `mvNext${i}`, `mv${i}`));
    });
    this.#hostMs = host + performance.now() - t0;
    rt.submit(update);
    this.#step = t;
    this.#trainer.scheduler?.step();
    return loss;
  }

  /**
   * Uploads the model's parameters and running statistics and the
   * optimizer's moments and step count again (after the model or the
   * optimizer changed outside this trainer, e.g. a tfjs step).
   */
  async reload(): Promise<void> {
    await this.#pending;
    const { model, optimizer } = this.#trainer;
    const state = await optimizer.state();
    const steps = new Set(this.#plan.params.keys().map((k) => state.params[k]?.step ?? 0));
    if (steps.size > 1) {
      throw new RangeError(
        `Cannot reload GpuTrainer: current parameters have taken different step counts (${[
          ...steps,
        ]})`,
      );
    }
    await uploadStart(this.#rt, this.#plan, this.#buffers, model, state);
    this.#step = [...steps][0] ?? 0;
    this.#unsynced = 0;
  }

  /**
   * Host milliseconds of the last step before submission: queueing the
   * batch upload and the AdamW uniforms, encoding both passes (the next
   * step's pass A is encoded while the GPU runs this one's, and counted
   * here); not `queue.submit` (a software adapter runs the work in it) nor
   * the waits for the GPU.
   */
  get lastHostMs(): number {
    return this.#hostMs;
  }

  /** Waits until every submitted step has finished on the GPU. */
  async flush(): Promise<void> {
    await this.#pending;
    await this.#rt.device.queue.onSubmittedWorkDone();
  }

  /**
   * Copies the parameters and running statistics into the model (and
   * advances its BN batch counters), and the moments and step counts into
   * the optimizer, so that `stateDict()`, checkpoints and the tfjs path see
   * the trained state.
   */
  async sync(): Promise<void> {
    await this.#pending;
    const { model, optimizer } = this.#trainer;
    const read = (name: string) => this.#rt.read(this.#buffers.get(name)!);
    await syncModel(model, this.#plan, read, () => this.#unsynced);
    this.#unsynced = 0;
    const moments = await Promise.all(this.#plan.chunks.map((_, i) => read(`mv${i}`)));
    const current = await optimizer.state();
    optimizer.loadState(adamWStateOf(this.#plan, current.groups, moments, this.#step));
  }

  /**
   * Diagnostics: the values of a named map of the last step (`logit0` the
   * fused logits, `logit1` … `logit6` the side logits, `dlogit0` … their
   * gradients) or of a flat buffer (`params`, `grads`, `state`, `loss`).
   */
  async read(name: string): Promise<Float32Array> {
    await this.#pending;
    const id = this.#plan.named.get(name) ?? name;
    if (!this.#buffers.has(id)) {
      throw new RangeError(
        `Cannot read GpuTrainer buffer: current value is unknown name "${name}"`,
      );
    }
    return await this.#rt.read(this.#buffers.get(id)!);
  }

  /** Diagnostics: the last step's gradient of every parameter, by seed key (tfjs layout). */
  async gradients(): Promise<Map<string, Float32Array>> {
    const flat = await this.read("grads");
    const out = new Map<string, Float32Array>();
    for (const [key, s] of this.#plan.params) out.set(key, flat.slice(s.off, s.off + s.len));
    return out;
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
    const dispatches = [...this.#plan.steps, ...this.#plan.optimizer];
    // The replay's results stay in the Next buffers: the trainer's state is unchanged.
    const ms = await this.#rt.time([...this.#bound[0], ...this.#bound[1]]);
    return dispatches.map((d, i) => ({
      label: d.label,
      workgroups: [...d.workgroups],
      sizes: d.bindings.map((b) => b.len),
      ms: ms[i],
    }));
  }

  /** Dispatch labels with their counts (what one step runs). */
  summary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const d of [...this.#plan.steps, ...this.#plan.optimizer]) {
      out[d.label] = (out[d.label] ?? 0) + 1;
    }
    return out;
  }

  /** Frees the GPU buffers (and the device when the trainer requested it); call `sync()` first to keep the trained state. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#rt.destroy();
  }
}

export type { TrainDispatch };
