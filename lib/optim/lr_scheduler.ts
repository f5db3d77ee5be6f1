/**
 * The seed's `create_lr_scheduler`: linear warmup then cosine decay, as a
 * per-iteration `LambdaLR` (spec §2).
 *
 * @module
 */

/** Options for {@linkcode lrFactor} and {@linkcode createLrScheduler}. */
export interface LrSchedulerOptions {
  /**
   * Linear warmup before the cosine decay. When false, `warmupEpochs` is
   * treated as 0 (as the seed does).
   * @default {true}
   */
  warmup?: boolean;
  /**
   * Epochs of warmup (the seed's train scripts pass 2).
   * @default {1}
   */
  warmupEpochs?: number;
  /**
   * Factor at step 0 of the warmup.
   * @default {1e-3}
   */
  warmupFactor?: number;
  /**
   * Factor at the last step of the cosine decay.
   * @default {1e-6}
   */
  endFactor?: number;
}

/** Defaults of {@linkcode LrSchedulerOptions} (the seed's keyword defaults). */
export const DEFAULT_LR_SCHEDULER_OPTIONS: Readonly<Required<LrSchedulerOptions>> = Object.freeze({
  warmup: true,
  warmupEpochs: 1,
  warmupFactor: 1e-3,
  endFactor: 1e-6,
});

/** A parameter group the scheduler drives: anything with a mutable `lr`. */
export interface LrParamGroup {
  /** Current learning rate; written by the scheduler. */
  lr: number;
  /** Base learning rate; set from `lr` at construction when missing (PyTorch's `initial_lr`). */
  initialLr?: number;
}

/** What the scheduler needs of an optimizer (e.g. `AdamW`). */
export interface LrSchedulable {
  /** The groups whose `lr` is scheduled. */
  paramGroups: LrParamGroup[];
}

/** Serialisable scheduler state, for checkpoints. */
export interface LrSchedulerState {
  /** Scheduler steps taken (PyTorch's `last_epoch`). */
  stepCount: number;
  /** Base lr of every group (PyTorch's `base_lrs`). */
  baseLrs: number[];
}

function checkCounts(numStep: number, epochs: number): void {
  for (const [name, v] of [["numStep", numStep], ["epochs", epochs]] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new RangeError(
        `Cannot create lr schedule: current value is ${name}=${v}, expected a positive integer`,
      );
    }
  }
}

/**
 * The schedule's factor after `step` scheduler steps, in float64 exactly as
 * the seed's Python lambda computes it: linear warmup from `warmupFactor` to 1
 * over `warmupEpochs·numStep` steps, then cosine from 1 to `endFactor` over the
 * remaining `(epochs − warmupEpochs)·numStep` steps.
 *
 * @param step Per-iteration step counter (0 for the first iteration).
 * @param numStep Iterations per epoch (`len(train_loader)`).
 * @param epochs Total epochs.
 * @param options Warmup and end factors; see {@linkcode DEFAULT_LR_SCHEDULER_OPTIONS}.
 *
 * @example
 * ```ts
 * import { lrFactor } from "./lr_scheduler.ts";
 * console.log(lrFactor(660, 660, 360, { warmupEpochs: 2 })); // 0.5005
 * ```
 */
export function lrFactor(
  step: number,
  numStep: number,
  epochs: number,
  options: LrSchedulerOptions = {},
): number {
  checkCounts(numStep, epochs);
  const o = { ...DEFAULT_LR_SCHEDULER_OPTIONS, ...options };
  const warmupEpochs = o.warmup ? o.warmupEpochs : 0;
  const warmupSteps = warmupEpochs * numStep;
  if (o.warmup && step <= warmupSteps) {
    const alpha = step / warmupSteps;
    return o.warmupFactor * (1 - alpha) + alpha;
  }
  const currentStep = step - warmupSteps;
  const cosineSteps = (epochs - warmupEpochs) * numStep;
  return ((1 + Math.cos(currentStep * Math.PI / cosineSteps)) / 2) * (1 - o.endFactor) +
    o.endFactor;
}

/**
 * A `LambdaLR` over {@linkcode lrFactor}. Construction sets every group's
 * `lr = baseLr·f(0)`, so the first iteration trains with `lr·warmupFactor`;
 * call {@linkcode LrScheduler.step} after every optimizer step.
 */
export class LrScheduler {
  readonly #optimizer: LrSchedulable;
  readonly #numStep: number;
  readonly #epochs: number;
  readonly #options: Required<LrSchedulerOptions>;
  #stepCount = 0;
  #baseLrs: number[];
  #lastLr: number[] = [];

  /** Use {@linkcode createLrScheduler}. */
  constructor(
    optimizer: LrSchedulable,
    numStep: number,
    epochs: number,
    options: LrSchedulerOptions = {},
  ) {
    checkCounts(numStep, epochs);
    this.#optimizer = optimizer;
    this.#numStep = numStep;
    this.#epochs = epochs;
    this.#options = { ...DEFAULT_LR_SCHEDULER_OPTIONS, ...options };
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.#baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
    this.#apply();
  }

  /** The schedule factor after `step` steps with this scheduler's settings. */
  factor(step: number): number {
    return lrFactor(step, this.#numStep, this.#epochs, this.#options);
  }

  /** Advances one iteration and sets every group's `lr = baseLr·f(stepCount)`. */
  step(): void {
    this.#stepCount++;
    this.#apply();
  }

  /** Steps taken since construction (PyTorch's `last_epoch`). */
  get stepCount(): number {
    return this.#stepCount;
  }

  /** The lr of every group as last set (PyTorch's `get_last_lr()`). */
  get lastLr(): number[] {
    return [...this.#lastLr];
  }

  /** Serialisable state for a checkpoint. */
  state(): LrSchedulerState {
    return { stepCount: this.#stepCount, baseLrs: [...this.#baseLrs] };
  }

  /**
   * Restores {@linkcode LrScheduler.state} output and re-applies the lr for
   * that step to every group (PyTorch restores the lr through the optimizer's
   * own state; here the scheduler does it so either order works).
   */
  loadState(state: LrSchedulerState): void {
    if (!Number.isInteger(state.stepCount) || state.stepCount < 0) {
      throw new RangeError(
        `Cannot load scheduler state: current value is stepCount=${state.stepCount}`,
      );
    }
    if (state.baseLrs.length !== this.#optimizer.paramGroups.length) {
      throw new RangeError(
        `Cannot load scheduler state: current value is ${state.baseLrs.length} base lrs ` +
          `for ${this.#optimizer.paramGroups.length} groups`,
      );
    }
    this.#stepCount = state.stepCount;
    this.#baseLrs = [...state.baseLrs];
    this.#optimizer.paramGroups.forEach((g, i) => g.initialLr = this.#baseLrs[i]);
    this.#apply();
  }

  #apply(): void {
    const f = this.factor(this.#stepCount);
    this.#lastLr = this.#baseLrs.map((b) => b * f);
    this.#optimizer.paramGroups.forEach((g, i) => g.lr = this.#lastLr[i]);
  }
}

/**
 * The seed's `create_lr_scheduler(optimizer, num_step, epochs, …)`.
 *
 * @param optimizer Anything with `paramGroups: {lr}[]`, e.g. `AdamW`.
 * @param numStep Iterations per epoch.
 * @param epochs Total epochs.
 * @param options See {@linkcode LrSchedulerOptions}.
 *
 * @example
 * ```ts
 * import { createLrScheduler } from "./lr_scheduler.ts";
 * const opt = { paramGroups: [{ lr: 0.004 }] };
 * const sched = createLrScheduler(opt, 660, 360, { warmupEpochs: 2 });
 * console.log(opt.paramGroups[0].lr); // 0.000004 (= 0.004·1e-3)
 * sched.step();
 * ```
 */
export function createLrScheduler(
  optimizer: LrSchedulable,
  numStep: number,
  epochs: number,
  options: LrSchedulerOptions = {},
): LrScheduler {
  return new LrScheduler(optimizer, numStep, epochs, options);
}
