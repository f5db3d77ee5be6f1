/**
 * The options of `GpuTrainer.create` (`gpu_trainer.ts`, which exports them)
 * and its checks: a batch shape of positive integers, a network with
 * BatchNorm, every trainable parameter in one of the optimizer's groups,
 * and one step count for all (also checked by `GpuTrainer.reload`).
 *
 * @module
 */
import type { Trainer } from "../../optim/trainer.ts";
import type { AdamWState } from "../../optim/adamw_types.ts";
import type { ParamInfo } from "./trainer_plan.ts";
import {
  DEFAULT_LOSS_SCALE_OPTIONS,
  type LossScaleOptions,
} from "../../kernels/adamw/adamw_amp_wgsl.ts";

/** Options of `GpuTrainer.create`. */
export interface GpuTrainerOptions {
  /** Images per step. @default 8 */
  batch?: number;
  /** Input height. @default 288 */
  height?: number;
  /** Input width. @default 288 */
  width?: number;
  /**
   * `f16`: mixed precision (needs the adapter's `shader-f16`): the
   * activations are stored in f16 (every forward map but the image and the
   * one-channel logits; each kernel computes in f32 and rounds once as it
   * stores), the convs, their input gradients and their filter gradients
   * multiply f16 tiles (each 16-k step summed in f16, the steps in f32),
   * with dynamic loss scaling as PyTorch's `GradScaler` (`lossScale`): a
   * step whose gradients overflow is skipped on the GPU and the scale
   * halved. Gradients, parameters and moments stay f32. @default "f32"
   */
  precision?: "f32" | "f16";
  /** With `precision: "f16"`: the loss scaling. @default DEFAULT_LOSS_SCALE_OPTIONS */
  lossScale?: LossScaleOptions;
  /** A device to use; by default the trainer requests its own from `navigator.gpu`. */
  device?: GPUDevice;
}

/** Defaults of {@linkcode GpuTrainerOptions}. */
export const DEFAULT_GPU_TRAINER_OPTIONS: Readonly<Required<Omit<GpuTrainerOptions, "device">>> =
  Object.freeze({
    batch: 8,
    height: 288,
    width: 288,
    precision: "f32" as "f32" | "f16",
    lossScale: DEFAULT_LOSS_SCALE_OPTIONS,
  });

/** The mixed-precision settings of `options`: whether f16, and the loss scaling. */
export function checkPrecision(
  options: GpuTrainerOptions,
): { half: boolean; lossScale: Required<LossScaleOptions> } {
  const precision = options.precision ?? "f32";
  if (precision !== "f32" && precision !== "f16") {
    throw new RangeError(`Cannot create GpuTrainer: current precision is ${precision}`);
  }
  const lossScale = { ...DEFAULT_LOSS_SCALE_OPTIONS, ...options.lossScale };
  const { initScale, growthInterval } = lossScale;
  if (!(initScale > 0) || !Number.isFinite(initScale)) {
    throw new RangeError(`Cannot create GpuTrainer: current initScale is ${initScale}`);
  }
  if (!Number.isInteger(growthInterval) || growthInterval < 1) {
    throw new RangeError(`Cannot create GpuTrainer: current growthInterval is ${growthInterval}`);
  }
  return { half: precision === "f16", lossScale };
}

/**
 * The batch shape `[batch, height, width]` of `options` (defaults
 * {@linkcode DEFAULT_GPU_TRAINER_OPTIONS}).
 *
 * @throws {RangeError} When one is not a positive integer.
 */
export function checkShape(options: GpuTrainerOptions): [number, number, number] {
  const { batch, height, width } = { ...DEFAULT_GPU_TRAINER_OPTIONS, ...options };
  for (const [what, v] of [["batch", batch], ["height", height], ["width", width]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot create GpuTrainer: current ${what} is ${v}`);
    }
  }
  return [batch, height, width];
}

/** What `GpuTrainer.create` plans and uploads from. */
export interface TrainerStart {
  /** The optimizer's parameters, in group order. */
  info: ParamInfo[];
  /** The optimizer's state. */
  state: AdamWState;
  /** The steps every parameter has taken. */
  step: number;
}

/**
 * Checks the trainer for `GpuTrainer.create` and returns its parameters,
 * the optimizer's state and the common step count.
 */
export async function checkTrainer(trainer: Trainer): Promise<TrainerStart> {
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
  return { info, state, step: commonStep(info.map((p) => p.key), state, "create") };
}

/**
 * The step count every parameter of `keys` has taken in `state` (0 without
 * state; `undefined` without keys); `what` (`create`, `reload`) names the
 * action in the error.
 *
 * @throws {RangeError} When they have taken different step counts.
 */
export function commonStep(keys: Iterable<string>, state: AdamWState, what: string): number {
  const steps = new Set(Array.from(keys, (k) => state.params[k]?.step ?? 0));
  if (steps.size > 1) {
    throw new RangeError(
      `Cannot ${what} GpuTrainer: current parameters have taken different step counts (${[
        ...steps,
      ]})`,
    );
  }
  return [...steps][0];
}
