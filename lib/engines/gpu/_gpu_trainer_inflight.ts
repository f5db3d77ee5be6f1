/**
 * The steps of a recorded trainer (`gpu_trainer.ts`) whose loss has not
 * been read yet: each step copies its loss into a staging buffer of a small
 * pool, whose read-back starts at submission; the losses are settled in
 * submission order. A non-finite loss fails its step and every step
 * submitted after it (their updates were skipped on the GPU by the latch),
 * and calls back so that the trainer rolls its host state back to the last
 * finite step and clears the latch.
 *
 * @module
 */
import { NonFiniteLossError, type TrainStepOptions } from "../../optim/trainer.ts";
import type { LrSchedulerState } from "../../optim/lr_scheduler.ts";
import { type GpuRuntime, mapRead } from "./gpu_runtime.ts";

/**
 * A step submitted with `GpuTrainer.submit`: its loss is read back later.
 *
 * @example
 * ```ts ignore
 * const handle: GpuStepHandle = await trainer.submit(images, masks);
 * const loss = await handle.loss();
 * ```
 */
export interface GpuStepHandle {
  /**
   * The step's loss (before its update) once read back. Rejects with
   * `NonFiniteLossError` when the loss is NaN or infinite, or when an
   * earlier step in flight had such a loss (the error is that step's): the
   * update was skipped and the trainer holds the state after the last
   * finite step.
   */
  loss(): Promise<number>;
}

/** What a step in flight remembers, to be undone when its loss is not finite. */
export interface StepRecord {
  /** The AdamW step count its update applies. */
  t: number;
  /** The scheduler's state before its scheduler step (none without a scheduler). */
  scheduler?: LrSchedulerState;
  /** Where it runs, for the error. */
  where: TrainStepOptions;
}

type Outcome = { loss: number } | { error: Error };
type Entry = { record: StepRecord; cancelled?: Error };

/** The steps in flight of one trainer, settled in order. */
export class StepsInFlight {
  readonly #rt: GpuRuntime;
  readonly #onNonFinite: (record: StepRecord, later: number) => void;
  readonly #free: GPUBuffer[] = [];
  readonly #open: Entry[] = [];
  #tail: Promise<unknown> = Promise.resolve();
  /** A non-finite loss's error that no `loss()` has rejected with yet. */
  #unseen?: Error;

  /**
   * Steps of `rt`; `onNonFinite(record, later)` runs when a step's loss is
   * not finite, with the count of steps submitted after it (all cancelled).
   */
  constructor(rt: GpuRuntime, onNonFinite: (record: StepRecord, later: number) => void) {
    this.#rt = rt;
    this.#onNonFinite = onNonFinite;
  }

  /** Steps submitted and not settled yet. */
  get size(): number {
    return this.#open.length;
  }

  /** A free staging buffer for a step's loss (16 bytes, `MAP_READ`). */
  readback(): GPUBuffer {
    return this.#free.pop() ?? this.#rt.readback(16);
  }

  /**
   * A handle that rejects with the error of a non-finite loss that no
   * caller has seen yet, if there is one: a step submitted after the host
   * read that loss but before its caller learnt of it is refused (not run),
   * as the steps already in flight were cancelled, so that the state after
   * the error is the one after the last finite step whoever awaits first.
   */
  refused(): GpuStepHandle | undefined {
    const error = this.#unseen;
    return error && this.#handle(Promise.resolve({ error }));
  }

  /** Tracks a step just submitted whose loss is copied into `readback`. */
  track(record: StepRecord, readback: GPUBuffer): GpuStepHandle {
    const entry: Entry = { record };
    this.#open.push(entry);
    const read = mapRead(readback, 4).then(
      (v) => v[0],
      (e: unknown) => e instanceof Error ? e : new Error(String(e)),
    );
    const settled = Promise.all([this.#tail, read])
      .then(([, value]) => this.#settle(entry, value, readback));
    this.#tail = settled;
    return this.#handle(settled);
  }

  #handle(settled: Promise<Outcome>): GpuStepHandle {
    return {
      loss: () =>
        settled.then((o) => {
          if ("loss" in o) return o.loss;
          if (o.error === this.#unseen) this.#unseen = undefined;
          throw o.error;
        }),
    };
  }

  /** Waits until every tracked step is settled (never rejects). */
  async drain(): Promise<void> {
    await this.#tail;
  }

  #settle(entry: Entry, value: number | Error, readback: GPUBuffer): Outcome {
    this.#open.shift();
    if (value instanceof Error) return { error: value };
    this.#free.push(readback);
    if (entry.cancelled) return { error: entry.cancelled };
    if (Number.isFinite(value)) return { loss: value };
    const error = new NonFiniteLossError(value, entry.record.where);
    this.#unseen = error;
    for (const later of this.#open) later.cancelled = error;
    try {
      this.#onNonFinite(entry.record, this.#open.length);
    } catch (e) {
      return { error: e as Error };
    }
    return { error };
  }
}
