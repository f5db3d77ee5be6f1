/**
 * Training of U²-Net with the seed project's semantics
 * (`train_utils/train_and_eval.py`, `train.py`): the loss, AdamW over the
 * seed's parameter groups, the warmup + cosine lr schedule, one training
 * step, one epoch, and the full training loop (results file, chart, atomic
 * checkpoints, best model, exact resume). Evaluation is `./eval`, the data
 * pipeline `./data`, the network and `tf` are `./model`, the GPU trainer is
 * `./engines`.
 *
 * The demo run, as `deno task train` does it without `--data-path`:
 *
 * @example
 * ```ts
 * import { train } from "./mod.ts";
 * import { selectBackend } from "../model/mod.ts";
 * await selectBackend("auto");
 * const result = await train({ outputDir: "./runs/demo" }, { onLog: console.log });
 * console.log(result.history.at(-1), result.resultsFile);
 * ```
 *
 * One step by hand:
 *
 * @example
 * ```ts
 * import { AdamW, createLrScheduler, getParamsGroups, trainStep } from "./mod.ts";
 * import { tf, U2Net } from "../model/mod.ts";
 * const model = U2Net.create("lite");
 * const optimizer = new AdamW(getParamsGroups(model.namedParameters(), 1e-4), { lr: 1e-3 });
 * const scheduler = createLrScheduler(optimizer, 100, 10, { warmupEpochs: 2 });
 * const images = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
 * const masks = tf.zeros([2, 64, 64, 1]) as tf.Tensor4D;
 * const loss = await trainStep({ model, optimizer, scheduler }, { images, masks });
 * ```
 *
 * @module
 */
export { bceWithLogits, criterion } from "./loss.ts";
export {
  createLrScheduler,
  DEFAULT_LR_SCHEDULER_OPTIONS,
  lrFactor,
  type LrParamGroup,
  type LrSchedulable,
  LrScheduler,
  type LrSchedulerOptions,
  type LrSchedulerState,
} from "../optim/lr_scheduler.ts";
export {
  DEFAULT_WEIGHT_DECAY,
  getParamsGroups,
  isNoDecayParam,
  type ParamGroup,
} from "../optim/params_groups.ts";
export {
  AdamW,
  type AdamWGroupInit,
  type AdamWOptions,
  type AdamWParamGroup,
  type AdamWParamState,
  type AdamWState,
  DEFAULT_ADAMW_OPTIONS,
} from "../optim/adamw.ts";
export {
  NonFiniteLossError,
  type TensorBatch,
  type Trainer,
  trainStep,
  type TrainStepOptions,
} from "./train_step.ts";
export {
  type EpochStats,
  trainOneEpoch,
  type TrainOneEpochOptions,
  type TrainProgress,
} from "./train_one_epoch.ts";
export {
  type LossScaleState,
  StepRunner,
  type StepRunnerOptions,
  type SubmittedStep,
  TRAIN_ENGINES,
  type TrainEngine,
} from "./step_runner.ts";
export { train, type TrainCallbacks, type TrainResult } from "./train_loop.ts";
export { resumeBackend } from "./resume_backend.ts";
export {
  DEFAULT_TRAIN_OPTIONS,
  DEMO_TRAIN_OPTIONS,
  resolveTrainOptions,
  type TrainOptions,
} from "./train_options.ts";
export {
  CHECKPOINT_FORMAT,
  type CheckpointData,
  type CheckpointMeta,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
export { removeIfExists, writeFileAtomic } from "./atomic_write.ts";
export {
  type BestScores,
  type EpochRecord,
  formatResultsLine,
  isBetter,
  RESULTS_LINE_PATTERN,
  resultsFileName,
} from "./results.ts";
export { renderTrainingChart } from "./training_chart.ts";
export {
  formatDuration,
  formatProgressLine,
  type ProgressFields,
  SmoothedValue,
} from "./metric_logger.ts";
export { formatProgressBar, type ProgressBarOptions } from "./progress_bar.ts";
