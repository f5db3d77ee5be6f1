/**
 * U2-Net training steps on the CPU without tfjs on the hot path: the traced
 * train-mode graph lowered once for a fixed batch shape (`_cpu_train_plan.ts`)
 * onto a set of kernels (`TrainKernels`: plain JS, or our WebAssembly SIMD
 * module), then each step runs the forward, the criterion, the BN
 * running-stat updates, the backward and AdamW over arrays that live in the
 * kernel set's memory. {@linkcode CpuTrainer.sync} copies the trained state
 * back into the model and the optimizer. With `threads` > 1, Web Workers on
 * the wasm kernels' shared memory split each kernel call, every value
 * computed as on one thread: the same bits on any count.
 *
 * @module
 */
import type { tf } from "../../deps.ts";
import { BN_MOMENTUM } from "../../net/config.ts";
import { traceGraph } from "../../net/graph.ts";
import { NonFiniteLossError, type Trainer, type TrainStepOptions } from "../../optim/trainer.ts";
import type { TrainKernels } from "./train_kernels.ts";
import { createJsTrainKernels } from "./train_kernels_js.ts";
import { type CpuTrainPlan, planCpuTrain } from "./_cpu_train_plan.ts";
import { adamwConstants, adamwUpdate, bceGrad, bceLoss, runningUpdate } from "./_cpu_train_math.ts";
import {
  allocState,
  type CpuTrainState,
  hostData,
  readState,
  writeState,
} from "./_cpu_train_state.ts";

/** Options of {@linkcode CpuTrainer.create}. */
export interface CpuTrainerOptions {
  /** Images per step. @default 8 */
  batch?: number;
  /** Input height. @default 288 */
  height?: number;
  /** Input width. @default 288 */
  width?: number;
  /**
   * The kernel set: WebAssembly SIMD, the plain-JS reference, or a set of your
   * own (e.g. the JS kernels allocating `Float64Array`s: a float64 reference).
   * @default "wasm"
   */
  kernels?: "js" | "wasm" | TrainKernels;
  /**
   * With the wasm kernels: fused multiply-add (relaxed SIMD) where the runtime
   * has it. Faster; the bits may then differ between CPUs (never between runs);
   * `false` gives mul + add, the same bits on every machine.
   * @default true
   */
  fma?: boolean;
  /**
   * With the wasm kernels: threads that split each kernel call (the caller's
   * and `threads - 1` Web Workers; {@linkcode CpuTrainer.dispose} ends them).
   * The same bits on any count.
   * @default 1
   */
  threads?: number;
}

/** Defaults of {@linkcode CpuTrainerOptions}. */
export const DEFAULT_CPU_TRAINER_OPTIONS: Readonly<Required<CpuTrainerOptions>> = Object.freeze({
  batch: 8,
  height: 288,
  width: 288,
  kernels: "wasm",
  fma: true,
  threads: 1,
});

/** The kernel set named `name`, holding at least `floats` values. */
async function kernelSet(
  name: string | TrainKernels,
  floats: number,
  { fma, threads }: { fma: boolean; threads: number },
): Promise<TrainKernels> {
  if (typeof name === "object") return name;
  if (name === "js") return createJsTrainKernels();
  if (name === "wasm") {
    // A 32-bit wasm memory holds 4 GiB (less the module's own data).
    if (4 * floats > 2 ** 32 - 2 ** 26) {
      throw new RangeError(
        `Cannot create CpuTrainer: current batch needs ${
          (4 * floats / 2 ** 30).toFixed(1)
        } GiB, over wasm's 4 GiB (use a smaller batch or crop, or kernels "js")`,
      );
    }
    const { createWasmTrainKernels } = await import("./train_kernels_wasm.ts");
    return createWasmTrainKernels(floats, { fma, threads });
  }
  throw new RangeError(`Cannot create CpuTrainer: current kernels is "${name}"`);
}

/** The values the plan and the state allocate (and how many arrays), without allocating. */
function countFloats(trainer: Trainer, shape: [number, number, number]): number {
  let floats = 0, arrays = 0;
  const alloc = (n: number) => {
    floats += n;
    arrays++;
    return new Float32Array(0);
  };
  const counting = { alloc } as TrainKernels;
  const graph = traceGraph(trainer.model.config, { convBias: trainer.model.convBias });
  const keys = graph.nodes.filter((n) => n.op === "bn").map((n) => n.key!);
  const state = allocState(trainer, keys, alloc);
  planCpuTrain(graph, shape, counting, state.params, state.grads);
  // Room for each array's alignment (16 floats).
  return floats + 16 * arrays;
}

/**
 * U2-Net training steps on the CPU, same semantics as `trainStep` and
 * `GpuTrainer` (PyTorch's: train-mode BN, the seven-term criterion, AdamW
 * with the optimizer's groups, lr from the scheduler, a non-finite loss
 * throws before the optimizer step).
 *
 * @example
 * ```ts ignore
 * import { U2Net } from "../../model/u2net.ts";
 * import { AdamW } from "../../optim/adamw.ts";
 * import { getParamsGroups } from "../../optim/params_groups.ts";
 * import { CpuTrainer } from "./cpu_trainer.ts";
 * const model = U2Net.create("lite");
 * const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
 * const trainer = await CpuTrainer.create({ model, optimizer }, { batch: 2, height: 32, width: 32 });
 * const loss = await trainer.step(new Float32Array(2 * 32 * 32 * 3), new Float32Array(2 * 32 * 32));
 * await trainer.sync(); // parameters, running stats and moments back into model and optimizer
 * trainer.dispose();
 * ```
 */
export class CpuTrainer {
  /** The batch shape [batch, height, width, 3]. */
  readonly inputShape: readonly [number, number, number, number];
  /** The kernel set's name. */
  readonly kernels: string;
  readonly #trainer: Trainer;
  readonly #plan: CpuTrainPlan;
  readonly #state: CpuTrainState;
  readonly #mask: Float32Array;
  readonly #kernelSet: TrainKernels;
  #step = 0;
  #unsynced = 0;
  #disposed = false;
  #pending: Promise<unknown> = Promise.resolve();

  private constructor(
    trainer: Trainer,
    k: TrainKernels,
    shape: [number, number, number],
  ) {
    this.#trainer = trainer;
    this.kernels = k.name;
    this.#kernelSet = k;
    this.inputShape = [...shape, 3];
    const graph = traceGraph(trainer.model.config, { convBias: trainer.model.convBias });
    const keys = graph.nodes.filter((n) => n.op === "bn").map((n) => n.key!);
    this.#state = allocState(trainer, keys, (n) => k.alloc(n));
    this.#plan = planCpuTrain(graph, shape, k, this.#state.params, this.#state.grads);
    this.#mask = k.alloc(shape[0] * shape[1] * shape[2]);
  }

  /**
   * Plans the step for one batch shape and reads the model's parameters and
   * running statistics and the optimizer's moments. Every trainable
   * parameter must be in one of the optimizer's groups, and all must have
   * taken the same number of steps.
   */
  static async create(trainer: Trainer, options: CpuTrainerOptions = {}): Promise<CpuTrainer> {
    const { batch, height, width, kernels, fma, threads } = {
      ...DEFAULT_CPU_TRAINER_OPTIONS,
      ...options,
    };
    for (const [what, v] of [["batch", batch], ["height", height], ["width", width]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(`Cannot create CpuTrainer: current ${what} is ${v}`);
      }
    }
    const shape: [number, number, number] = [batch, height, width];
    const floats = countFloats(trainer, shape) + batch * height * width;
    const k = await kernelSet(kernels, floats, { fma, threads });
    try {
      const out = new CpuTrainer(trainer, k, shape);
      out.#step = await readState(trainer, out.#state);
      return out;
    } catch (e) {
      k.dispose?.();
      throw e;
    }
  }

  /**
   * One optimisation step on a batch: `images` NHWC `[B, H, W, 3]`
   * normalised, `masks` `[B, H, W]` in [0, 1] (host arrays, or tensors of
   * those shapes). Steps, syncs and reloads are queued: one runs at a time.
   *
   * @returns The loss of this step (before the update).
   * @throws {NonFiniteLossError} When the loss is NaN or infinite (no parameter or moment changed).
   */
  async step(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions = {},
  ): Promise<number> {
    if (this.#disposed) throw new TypeError("Cannot step CpuTrainer: current value is disposed");
    return await this.#queue(() => this.#run(images, masks, options));
  }

  /** Runs `job` after every queued one. */
  #queue<T>(job: () => Promise<T>): Promise<T> {
    const out = this.#pending.then(job);
    this.#pending = out.catch(() => {});
    return out;
  }

  async #run(
    images: Float32Array | tf.Tensor,
    masks: Float32Array | tf.Tensor,
    options: TrainStepOptions,
  ): Promise<number> {
    const [n, h, w] = this.inputShape;
    const plan = this.#plan, state = this.#state;
    plan.x.set(await hostData(images, n * h * w * 3, "images"));
    this.#mask.set(await hostData(masks, n * h * w, "masks"));
    plan.forward();
    // The running statistics see the batch whatever the loss (as in PyTorch).
    for (const [key, s] of plan.bn) {
      const r = state.running.get(key)!;
      runningUpdate(r.mean, s.mean, BN_MOMENTUM);
      runningUpdate(r.var, s.varUnbiased, BN_MOMENTUM);
    }
    this.#unsynced++;
    const loss = Math.fround(bceLoss(plan.logits, this.#mask));
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, options);
    plan.backward((k, g) => bceGrad(g, plan.logits[k], this.#mask));
    const t = this.#step + 1;
    const constants = this.#trainer.optimizer.paramGroups.map((g) => adamwConstants(g, t));
    const k = this.#kernelSet;
    for (const [key, slot] of state.slots) {
      const [p, g, c] = [state.params.get(key)!, state.grads.get(key)!, constants[slot.group]];
      if (k.adamw) k.adamw(p, g, slot.m, slot.v, c);
      else adamwUpdate(p, g, slot, c);
    }
    this.#step = t;
    this.#trainer.scheduler?.step();
    return loss;
  }

  /**
   * Reads the model's parameters and running statistics and the
   * optimizer's moments and step count again (after the model or the
   * optimizer changed outside this trainer, e.g. a tfjs step).
   */
  async reload(): Promise<void> {
    await this.#queue(async () => {
      this.#step = await readState(this.#trainer, this.#state);
      this.#unsynced = 0;
    });
  }

  /**
   * Copies the parameters and running statistics into the model (and
   * advances its BN batch counters), and the moments and step counts into
   * the optimizer.
   */
  async sync(): Promise<void> {
    await this.#queue(async () => {
      await writeState(this.#trainer, this.#state, this.#unsynced, this.#step);
      this.#unsynced = 0;
    });
  }

  /** Diagnostics: the last step's gradient of every parameter, by seed key (tfjs layout). */
  gradients(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [key, g] of this.#state.grads) out.set(key, g.slice());
    return out;
  }

  /** Diagnostics: a copy of every parameter's current value, by seed key (tfjs layout). */
  parameters(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [key, p] of this.#state.params) out.set(key, p.slice());
    return out;
  }

  /** Drops the trainer's arrays and ends its threads; call `sync()` first to keep the trained state. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#kernelSet.dispose?.();
  }
}
