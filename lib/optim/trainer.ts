/**
 * What a training step works on, whichever engine runs it: the model, its
 * optimizer and scheduler ({@linkcode Trainer}), a batch, and the error of a
 * non-finite loss.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import type { U2Net } from "../model/u2net.ts";
import type { AdamW } from "./adamw.ts";
import type { LrScheduler } from "./lr_scheduler.ts";

/** What a step works on: the model, its optimizer and (optionally) the lr scheduler. */
export interface Trainer {
  /** The network; put in train mode by the step. */
  model: U2Net;
  /** Optimizer over `model.namedParameters()` (names as keys). */
  optimizer: AdamW;
  /** Stepped once after the optimizer step, like the seed. */
  scheduler?: LrScheduler;
}

/** A training batch as tensors (NHWC). */
export interface TensorBatch {
  /** `[B, H, W, 3]`, normalised images. */
  images: tf.Tensor4D;
  /** `[B, H, W, 1]`, soft masks in [0, 1]. */
  masks: tf.Tensor4D;
}

/** Options of {@linkcode trainStep}. */
export interface TrainStepOptions {
  /**
   * Iteration reported in the error message of a non-finite loss.
   * @default {undefined}
   */
  step?: number;
  /**
   * Epoch reported in the error message of a non-finite loss.
   * @default {undefined}
   */
  epoch?: number;
}

/** Thrown by {@linkcode trainStep} when the loss is NaN or infinite (no update was applied). */
export class NonFiniteLossError extends RangeError {
  /** The offending loss value. */
  readonly loss: number;
  /** Creates the error for `loss` (at `where.epoch`/`where.step` when known). */
  constructor(loss: number, where: { epoch?: number; step?: number } = {}) {
    const at = [
      where.epoch === undefined ? "" : `epoch ${where.epoch}`,
      where.step === undefined ? "" : `iteration ${where.step}`,
    ].filter((s) => s).join(" ");
    super(
      `Cannot train: current loss is ${loss}${at ? ` at ${at}` : ""} (not finite); training ` +
        `stopped before the optimizer step, no checkpoint was written. Lower --lr or check the data`,
    );
    this.name = "NonFiniteLossError";
    this.loss = loss;
  }
}
