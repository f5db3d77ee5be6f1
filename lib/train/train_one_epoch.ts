/**
 * The seed's `train_one_epoch`: every batch of one epoch through
 * {@linkcode trainStep} or the recorded {@linkcode GpuTrainer}, with
 * MetricLogger-style progress.
 *
 * @module
 */
import type { DataLoader } from "../data/loader.ts";
import { formatDuration, formatProgressLine, SmoothedValue } from "./metric_logger.ts";
import type { Trainer } from "./train_step.ts";
import { StepRunner, type SubmittedStep, type TrainEngine } from "./step_runner.ts";

/** Progress of a training run, for progress bars. */
export interface TrainProgress {
  /** `check`: verifying the data; `train`: an iteration finished; `eval`: a sample scored. */
  phase: "check" | "train" | "eval";
  /** Current epoch (0 while checking data). */
  epoch: number;
  /** Items done in this phase (iterations, samples). */
  done: number;
  /** Items in this phase. */
  total: number;
  /** Train: median loss of the last 20 iterations. */
  loss?: number;
  /** Train: current lr. */
  lr?: number;
  /** Estimated seconds left in this phase. */
  etaSeconds?: number;
}

/** Options of {@linkcode trainOneEpoch}. */
export interface TrainOneEpochOptions {
  /** Epoch number (for messages). @default {0} */
  epoch?: number;
  /** A progress line every this many iterations (and at the last). @default {50} */
  printFreq?: number;
  /** Receives the seed's progress lines. */
  onLog?: (line: string) => void;
  /** Receives a progress record after every iteration. */
  onProgress?: (progress: TrainProgress) => void;
  /** Stops after the current iteration (the one submitted last) when aborted. */
  signal?: AbortSignal;
  /**
   * Step engine: `gpu` the recorded {@linkcode GpuTrainer} (WebGPU), `tfjs`
   * {@linkcode trainStep}, `auto` gpu on the webgpu backend. Ignored when
   * `runner` is given. @default {"auto"}
   */
  engine?: TrainEngine;
  /** A step runner to reuse across epochs (keeps the GPU copy alive). */
  runner?: StepRunner;
}

/** What {@linkcode trainOneEpoch} returns. */
export interface EpochStats {
  /** Mean loss over the epoch's iterations (the seed's `global_avg`). */
  meanLoss: number;
  /** Group-0 lr after the last scheduler step. */
  lr: number;
  /** Iterations run. */
  steps: number;
  /** True when `signal` stopped the epoch early. */
  aborted: boolean;
}

/**
 * Trains one epoch: the loader's remaining batches of its current epoch,
 * one {@linkcode trainStep} each. Progress lines follow the seed's
 * MetricLogger (`Epoch: [e]  [ i/N]  eta: …  lr: …  loss: median (avg)  time: …  data: …`)
 * at `i % printFreq == 0` and at the last iteration, then
 * `Epoch: [e] Total time: H:MM:SS`. A non-finite loss throws (see `trainStep`).
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { DataLoader } from "../data/loader.ts";
 * import { syntheticSource } from "../data/synthetic.ts";
 * import { AdamW } from "../optim/adamw.ts";
 * import { getParamsGroups } from "../optim/params_groups.ts";
 * import { trainOneEpoch } from "./train_one_epoch.ts";
 * const model = U2Net.create("lite");
 * const optimizer = new AdamW(getParamsGroups(model.namedParameters()));
 * const loader = new DataLoader(syntheticSource({ count: 4, size: 32 }), {
 *   batchSize: 2, inputSize: 32, cropSize: 32,
 * });
 * const stats = await trainOneEpoch({ model, optimizer }, loader, { onLog: console.log });
 * ```
 */
export async function trainOneEpoch(
  trainer: Trainer,
  loader: DataLoader,
  options: TrainOneEpochOptions = {},
): Promise<EpochStats> {
  const epoch = options.epoch ?? 0;
  const printFreq = options.printFreq ?? 50;
  const steps = loader.batchesPerEpoch;
  const [loss, iterTime, dataTime] = [
    new SmoothedValue(20),
    new SmoothedValue(20),
    new SmoothedValue(20),
  ];
  const lrOf = () => trainer.optimizer.paramGroups[0].lr;
  const start = performance.now();
  let last = start;
  let i = loader.state().batch;
  let aborted = false;
  const runner = options.runner ?? new StepRunner(trainer, options.engine);
  // Step i is reported when its loss arrives, after step i + 1 was submitted
  // (one step in flight hides the loss read-back on the GPU); its lr is the
  // one set after its own scheduler step.
  type Submitted = { step: SubmittedStep; i: number; lr: number };
  const report = async ({ step, i, lr }: Submitted) => {
    loss.update(await step.loss());
    const now = performance.now();
    iterTime.update((now - last) / 1000);
    last = now;
    const etaSeconds = iterTime.globalAvg * (steps - i - 1);
    options.onProgress?.({
      phase: "train",
      epoch,
      done: i + 1,
      total: steps,
      loss: loss.median,
      lr,
      etaSeconds,
    });
    if (i % printFreq === 0 || i === steps - 1) {
      options.onLog?.(
        formatProgressLine({ epoch, step: i, steps, etaSeconds, lr, loss, iterTime, dataTime }),
      );
    }
  };
  let pending: Submitted | undefined;
  try {
    for await (const batch of loader.epoch()) {
      dataTime.update((performance.now() - last) / 1000);
      let step: SubmittedStep;
      try {
        step = await runner.submit(batch, { step: i, epoch });
      } catch (e) {
        if (pending) await report(pending); // the step before is reported (or fails) first
        throw e;
      }
      const submitted = { step, i, lr: lrOf() };
      if (pending) await report(pending);
      pending = submitted;
      i++;
      // A step on the CPU trainer and a batch from the cache resolve without
      // a macrotask: let the event loop run once, or a Ctrl-C (a signal
      // event) is not delivered until the epoch's checkpoint write.
      if (options.signal) await new Promise((r) => setTimeout(r, 0));
      if (options.signal?.aborted) {
        aborted = true;
        break;
      }
    }
    if (pending) await report(pending);
    // The model and optimizer hold the trained state when this returns.
    await runner.sync();
  } finally {
    if (!options.runner) runner.dispose();
  }
  options.onLog?.(
    `Epoch: [${epoch}] Total time: ${formatDuration((performance.now() - start) / 1000)}`,
  );
  return { meanLoss: loss.count ? loss.globalAvg : NaN, lr: lrOf(), steps: loss.count, aborted };
}
