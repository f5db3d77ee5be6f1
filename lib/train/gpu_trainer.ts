/**
 * A recorded WebGPU training step for U2-Net: the whole step (train-mode
 * forward, criterion, backward, BN running-stat updates, AdamW) is planned,
 * compiled and bound once for a fixed batch shape, then each step uploads
 * the batch, encodes ~2,000 prepared dispatches into one compute pass, reads
 * the loss back and, when it is finite, runs the optimizer pass. No tfjs on
 * the hot path: the host work per dispatch is three encoder calls instead
 * of a tfjs op (kernel lookup, tensor bookkeeping, uniform buffer, bind
 * group). The kernels are the tfjs path's own WGSL (made standalone by
 * `_wgsl_standalone.ts`) plus a few for what tfjs does with tf ops
 * (`_trainer_wgsl.ts`).
 *
 * Parameters, moments and running statistics live on the GPU while
 * training; {@linkcode GpuTrainer.sync} copies them back into the model and
 * the optimizer (for checkpoints, evaluation or the tfjs path).
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { Trainer } from "./train_step.ts";
import { NonFiniteLossError, type TrainStepOptions } from "./train_step.ts";
import { adamUniform, planTrainer, type TrainDispatch, type TrainPlan } from "./_trainer_plan.ts";
import type { AdamWState } from "./_adamw_types.ts";
import type { StateDict } from "../io/raw_tensor.ts";
import { bindAll, createBuffers, requestTrainerDevice, uploadStart } from "./_gpu_trainer_setup.ts";

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
 * import { U2Net } from "../model/u2net.ts";
 * import { AdamW } from "./adamw.ts";
 * import { getParamsGroups } from "./params_groups.ts";
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
  readonly #device: GPUDevice;
  readonly #ownDevice: boolean;
  readonly #plan: TrainPlan;
  readonly #buffers: Map<string, GPUBuffer>;
  readonly #bound: { pipeline: GPUComputePipeline; group: GPUBindGroup; uniform: GPUBuffer }[][];
  readonly #readback: GPUBuffer;
  #step: number;
  #unsynced = 0;
  #hostMs = 0;
  #pending: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(
    trainer: Trainer,
    device: GPUDevice,
    ownDevice: boolean,
    plan: TrainPlan,
    shape: [number, number, number, number],
    step: number,
  ) {
    this.#trainer = trainer;
    this.#device = device;
    this.#ownDevice = ownDevice;
    this.#plan = plan;
    this.inputShape = shape;
    this.#step = step;
    this.dispatches = plan.steps.length + plan.optimizer.length;
    this.#buffers = createBuffers(device, plan);
    this.bytes = [...this.#buffers.values()].reduce((a, b) => a + b.size, 0);
    this.#bound = [plan.steps, plan.optimizer].map((list) => bindAll(device, list, this.#buffers));
    this.#readback = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
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
    if (!model.batchNorm) {
      throw new TypeError("Cannot create GpuTrainer: current value is a network without BatchNorm");
    }
    const info = optimizer.paramGroups.flatMap((g, group) =>
      g.params.map((v, i) => ({ key: g.names[i], shape: v.shape, group }))
    );
    const trainable = model.namedParameters().filter(([, v]) => v.trainable).map(([k]) => k);
    const missing = trainable.filter((k) => !info.some((p) => p.key === k));
    if (missing.length) {
      throw new RangeError(
        `Cannot create GpuTrainer: current optimizer lacks parameter "${missing[0]}"`,
      );
    }
    const state = await optimizer.state();
    const steps = new Set(info.map((p) => state.params[p.key]?.step ?? 0));
    if (steps.size > 1) {
      throw new RangeError(
        `Cannot create GpuTrainer: current parameters have taken different step counts (${[
          ...steps,
        ]})`,
      );
    }
    const plan = planTrainer(
      model.config,
      [batch, height, width],
      info,
      optimizer.paramGroups.length,
    );
    const device = options.device ?? await requestTrainerDevice();
    const out = new GpuTrainer(
      trainer,
      device,
      !options.device,
      plan,
      [batch, height, width, 3],
      [
        ...steps,
      ][0],
    );
    await uploadStart(device, plan, out.#buffers, model, state);
    return out;
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

  async #host(t: Float32Array | tf.Tensor, want: number, what: string): Promise<Float32Array> {
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

  #encode(encoder: GPUCommandEncoder, pass: number): void {
    const list = pass === 0 ? this.#plan.steps : this.#plan.optimizer;
    const cp = encoder.beginComputePass();
    list.forEach((d, i) => {
      const { pipeline, group } = this.#bound[pass][i];
      cp.setPipeline(pipeline);
      cp.setBindGroup(0, group);
      cp.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    });
    cp.end();
  }

  #copy(encoder: GPUCommandEncoder, from: string, to: string): void {
    const a = this.#buffers.get(from)!, b = this.#buffers.get(to)!;
    encoder.copyBufferToBuffer(a, 0, b, 0, a.size);
  }

  async #run(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions,
  ): Promise<number> {
    const [n, h, w] = this.inputShape;
    const x = await this.#host(images, n * h * w * 3, "images");
    const y = await this.#host(masks, n * h * w, "masks");
    const device = this.#device;
    let t0 = performance.now();
    device.queue.writeBuffer(this.#buffers.get("x")!, 0, x as Float32Array<ArrayBuffer>);
    device.queue.writeBuffer(this.#buffers.get("y")!, 0, y as Float32Array<ArrayBuffer>);
    let encoder = device.createCommandEncoder();
    this.#encode(encoder, 0);
    // The running statistics see the batch whatever the loss (as in PyTorch).
    this.#copy(encoder, "stateNext", "state");
    encoder.copyBufferToBuffer(this.#buffers.get("loss")!, 0, this.#readback, 0, 4);
    const commands = encoder.finish();
    const host = performance.now() - t0;
    device.queue.submit([commands]);
    this.#unsynced++;

    await this.#readback.mapAsync(GPUMapMode.READ);
    const loss = new Float32Array(this.#readback.getMappedRange(0, 4))[0];
    this.#readback.unmap();
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, options);

    t0 = performance.now();
    const t = this.#step + 1;
    this.#plan.optimizer.forEach((d, i) => {
      const chunk = this.#plan.chunks[d.adam!.chunk];
      const g = this.#trainer.optimizer.paramGroups[chunk.group];
      const { lr, weightDecay, betas: [b1, b2], eps } = g;
      const s = {
        beta1: b1,
        beta2: b2,
        decay: 1 - lr * weightDecay,
        stepSize: lr / (1 - b1 ** t),
        bc2Sqrt: Math.sqrt(1 - b2 ** t),
        eps,
      };
      device.queue.writeBuffer(
        this.#bound[1][i].uniform,
        0,
        adamUniform(d.adam!.kind, d.adam!.n, s),
      );
    });
    encoder = device.createCommandEncoder();
    this.#encode(encoder, 1);
    this.#copy(encoder, "paramsNext", "params");
    this.#plan.chunks.forEach((_, i) => this.#copy(encoder, `mvNext${i}`, `mv${i}`));
    const update = encoder.finish();
    this.#hostMs = host + performance.now() - t0;
    device.queue.submit([update]);
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
    await uploadStart(this.#device, this.#plan, this.#buffers, model, state);
    this.#step = [...steps][0] ?? 0;
    this.#unsynced = 0;
  }

  /**
   * Host milliseconds of the last step before submission: queueing the
   * batch upload and the AdamW uniforms, encoding both passes (not
   * `queue.submit`, which a software adapter runs synchronously, nor the
   * waits for the GPU).
   */
  get lastHostMs(): number {
    return this.#hostMs;
  }

  /** Waits until every submitted step has finished on the GPU. */
  async flush(): Promise<void> {
    await this.#pending;
    await this.#device.queue.onSubmittedWorkDone();
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
    const read = (name: string) => this.#read(name);
    const params = await read("params");
    const assign = (v: tf.Variable, data: Float32Array) => {
      const value = tf.tensor(data, v.shape, "float32");
      v.assign(value);
      value.dispose();
    };
    for (const [key, v] of model.namedParameters()) {
      const slot = this.#plan.params.get(key);
      if (slot) assign(v, params.subarray(slot.off, slot.off + slot.len));
    }
    const state = await read("state");
    const buffers = new Map(model.namedBuffers());
    const counters: StateDict = new Map();
    const old = this.#unsynced ? await model.stateDict() : new Map();
    for (const [name, { off, channels }] of this.#plan.state) {
      assign(buffers.get(`${name}.bn.running_mean`)!, state.subarray(off, off + channels));
      assign(
        buffers.get(`${name}.bn.running_var`)!,
        state.subarray(off + channels, off + 2 * channels),
      );
      const key = `${name}.bn.num_batches_tracked`;
      const before = old.get(key);
      if (before) {
        const data = new BigInt64Array([(before.data[0] as bigint) + BigInt(this.#unsynced)]);
        counters.set(key, { dtype: "I64", shape: [], data });
      }
    }
    if (counters.size) model.loadStateDict(counters, { strict: false });
    this.#unsynced = 0;
    const moments = await Promise.all(
      this.#plan.chunks.map((_, i) => read(`mv${i}`)),
    );
    const current = await optimizer.state();
    const out: AdamWState = { groups: current.groups, params: {} };
    if (this.#step > 0) {
      for (const [key, slot] of this.#plan.params) {
        const mv = moments[slot.chunk], { off, len } = this.#plan.chunks[slot.chunk];
        const at = slot.off - off;
        out.params[key] = {
          step: this.#step,
          expAvg: mv.slice(at, at + slot.len),
          expAvgSq: mv.slice(len + at, len + at + slot.len),
        };
      }
    }
    optimizer.loadState(out);
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
    return await this.#read(id);
  }

  async #read(name: string): Promise<Float32Array> {
    const src = this.#buffers.get(name)!;
    const staging = this.#device.createBuffer({
      size: src.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const encoder = this.#device.createCommandEncoder();
      encoder.copyBufferToBuffer(src, 0, staging, 0, src.size);
      this.#device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return new Float32Array(staging.getMappedRange().slice(0));
    } finally {
      staging.destroy();
    }
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
    await this.step(images, masks);
    await this.flush();
    const device = this.#device;
    const out = new Map<string, { label: string; count: number; ms: number }>();
    const add = (label: string, ms: number) => {
      const row = out.get(label) ?? { label, count: 0, ms: 0 };
      row.count++;
      row.ms += ms;
      out.set(label, row);
    };
    const all = [
      ...this.#plan.steps.map((d, i) => ({ d, b: this.#bound[0][i] })),
      ...this.#plan.optimizer.map((d, i) => ({ d, b: this.#bound[1][i] })),
    ];
    const run = (cp: GPUComputePassEncoder, { d, b }: (typeof all)[number]) => {
      cp.setPipeline(b.pipeline);
      cp.setBindGroup(0, b.group);
      cp.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      cp.end();
    };
    if (device.features.has("timestamp-query")) {
      // One pass per dispatch, its start and end stamped on the GPU.
      const querySet = device.createQuerySet({ type: "timestamp", count: 2 * all.length });
      const bytes = 16 * all.length;
      const resolve = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const staging = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      try {
        const encoder = device.createCommandEncoder();
        all.forEach((x, i) => {
          run(
            encoder.beginComputePass({
              timestampWrites: {
                querySet,
                beginningOfPassWriteIndex: 2 * i,
                endOfPassWriteIndex: 2 * i + 1,
              },
            }),
            x,
          );
        });
        encoder.resolveQuerySet(querySet, 0, 2 * all.length, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
        device.queue.submit([encoder.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        const ns = new BigInt64Array(staging.getMappedRange().slice(0));
        all.forEach(({ d }, i) => add(d.label, Number(ns[2 * i + 1] - ns[2 * i]) / 1e6));
      } finally {
        querySet.destroy();
        resolve.destroy();
        staging.destroy();
      }
    } else {
      for (const x of all) {
        const t0 = performance.now();
        const encoder = device.createCommandEncoder();
        run(encoder.beginComputePass(), x);
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
        add(x.d.label, performance.now() - t0);
      }
    }
    // The replay's results stay in the Next buffers: the trainer's state is unchanged.
    return [...out.values()].sort((a, b) => b.ms - a.ms);
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
    for (const b of this.#buffers.values()) b.destroy();
    for (const list of this.#bound) for (const b of list) b.uniform.destroy();
    this.#readback.destroy();
    if (this.#ownDevice) this.#device.destroy();
  }
}

export type { TrainDispatch };
