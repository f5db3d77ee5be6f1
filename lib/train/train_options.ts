/**
 * Options of the training loop: the seed's `train.py` defaults, and the small
 * demo configuration used when no dataset is given.
 *
 * @module
 */
import type { ArchName } from "../net/config.ts";
import { TRAIN_ENGINES, type TrainEngine } from "./step_runner.ts";
import { resolveTuning, type Tuning } from "../kernels/webgpu.ts";

/** Options of {@linkcode train} (`lib/train/train_loop.ts`). JSON-serialisable. */
export interface TrainOptions {
  /**
   * Dataset root (DUTS layout, or `images/` + `masks/`); empty: the embedded
   * synthetic dataset with a held-out synthetic eval split.
   * @default {""}
   */
  dataPath?: string;
  /** Network: `full` (the seed's hard-coded choice) or `lite`. @default {"full"} */
  arch?: ArchName;
  /** Weights to start from (safetensors, .pth, .onnx); empty: fresh init. @default {""} */
  initWeights?: string;
  /** Checkpoint to resume from (a `model_N.json`, its `.safetensors`, or an output folder). @default {""} */
  resume?: string;
  /** Samples per batch. @default {16} */
  batchSize?: number;
  /** Total epochs (the schedule's length). @default {360} */
  epochs?: number;
  /** First epoch (overwritten by `resume`). @default {0} */
  startEpoch?: number;
  /** Base learning rate. @default {0.001} */
  lr?: number;
  /** AdamW weight decay of conv weights. @default {1e-4} */
  weightDecay?: number;
  /** Linear-warmup epochs of the lr schedule (train.py passes 2). @default {2} */
  warmupEpochs?: number;
  /** Evaluate when `epoch % evalInterval == 0` and at the last epoch. @default {10} */
  evalInterval?: number;
  /** Progress line every this many iterations. @default {50} */
  printFreq?: number;
  /** Square side images and masks are squashed to (train and eval). @default {320} */
  inputSize?: number;
  /** Random-crop side for training. @default {288} */
  cropSize?: number;
  /** Random crop and flip; false: centre crop, no flip. @default {true} */
  augment?: boolean;
  /** Shuffle each epoch; false: sorted order. @default {true} */
  shuffle?: boolean;
  /** Seed of the initial weights, data order, augmentation and synthetic data. @default {0} */
  seed?: number;
  /** Folder for checkpoints, results, chart and predicted mask. @default {"./runs/train"} */
  outputDir?: string;
  /** Skip unreadable samples (reported by name) instead of stopping before training. @default {false} */
  skipBad?: boolean;
  /** Keep decoded, resized samples in memory across epochs. @default {false} */
  cache?: boolean;
  /**
   * Web Workers reading, decoding and resizing training samples from files
   * (the seed's DataLoader `num_workers`); 0: the main thread. In-memory
   * sources (the synthetic demo) never use them. Unset: the seed's rule,
   * {@linkcode defaultWorkers} of the batch size.
   * @default {min(navigator.hardwareConcurrency, batchSize, 8)}
   */
  workers?: number;
  /** Epoch checkpoints kept (the seed keeps 10). @default {10} */
  keepCheckpoints?: number;
  /** Synthetic dataset: training samples. @default {256} */
  syntheticTrain?: number;
  /** Synthetic dataset: held-out evaluation samples. @default {32} */
  syntheticEval?: number;
  /** Decode and check every sample before training (needed to stop early on bad files). @default {true} */
  checkData?: boolean;
  /**
   * Training-step engine: `gpu` the recorded WebGPU step (`GpuTrainer`),
   * `tfjs` tfjs ops, `auto` gpu on the webgpu backend (`resolveEngineChoice`
   * in `create_engine.ts`, training). Evaluation inside the loop uses the
   * same choice (tfjs steps: tfjs evaluation). @default {"auto"}
   */
  engine?: TrainEngine;
  /**
   * Threads of the CPU training step (engine `cpu`, CpuTrainer) and of the
   * CPU engine's evaluation: Web Workers that split each kernel call; the
   * same results on any count.
   * @default {1}
   */
  threads?: number;
  /**
   * The recorded WebGPU step's arithmetic: `f16` is mixed precision (f16
   * GEMM tiles, dynamic loss scaling as PyTorch's GradScaler; needs the
   * adapter's `shader-f16`; see `GpuTrainerOptions.precision`). Other steps
   * and evaluation run f32. @default {"f32"}
   */
  precision?: "f32" | "f16";
  /**
   * Our WebGPU kernels' switches and conv tiling for the run's steps and
   * evaluations (changes over `DEFAULT_TUNING`). @default {{}}
   */
  tuning?: Partial<Tuning>;
}

/**
 * The seed's number of DataLoader workers, `min(cpu_count, batch_size, 8)`,
 * with cores from `navigator.hardwareConcurrency`.
 *
 * @example
 * ```ts
 * import { defaultWorkers } from "./train_options.ts";
 * console.log(defaultWorkers(4)); // 2 on a 2-core machine
 * ```
 */
export function defaultWorkers(batchSize: number): number {
  return Math.min(navigator.hardwareConcurrency || 1, batchSize, 8);
}

/** The seed's `train.py` defaults (plus this port's additions). */
export const DEFAULT_TRAIN_OPTIONS: Readonly<Required<TrainOptions>> = Object.freeze({
  dataPath: "",
  arch: "full",
  initWeights: "",
  resume: "",
  batchSize: 16,
  epochs: 360,
  startEpoch: 0,
  lr: 0.001,
  weightDecay: 1e-4,
  warmupEpochs: 2,
  evalInterval: 10,
  printFreq: 50,
  inputSize: 320,
  cropSize: 288,
  augment: true,
  shuffle: true,
  seed: 0,
  outputDir: "./runs/train",
  skipBad: false,
  cache: false,
  workers: defaultWorkers(16),
  keepCheckpoints: 10,
  syntheticTrain: 256,
  syntheticEval: 32,
  checkData: true,
  engine: "auto",
  threads: 1,
  precision: "f32",
  tuning: {},
});

/**
 * The demo run (`deno task train` with no `--data-path`): u2net_lite on the
 * embedded synthetic dataset rendered at 56 px, small enough to finish in about
 * three minutes on a 2-core CPU without a GPU, evaluating at epochs 0, 3, 6
 * and 9. 56 px (crop 52) rather than 48 (crop 44): 36% more pixels a step for
 * 10-22% more time (the CPU step's fixed costs weigh at these sizes);
 * on 128 held-out samples the 48 px demo scored MAE 0.111 / maxF 0.769 and
 * this one 0.083 / 0.847 (2026-12-03). Overrides
 * {@linkcode DEFAULT_TRAIN_OPTIONS}.
 */
export const DEMO_TRAIN_OPTIONS: Readonly<TrainOptions> = Object.freeze({
  arch: "lite",
  batchSize: 8,
  epochs: 10,
  lr: 0.003,
  warmupEpochs: 1,
  evalInterval: 3,
  printFreq: 6,
  inputSize: 56,
  cropSize: 52,
  syntheticTrain: 256,
  syntheticEval: 16,
  cache: true,
  outputDir: "./runs/demo",
});

/**
 * Resolves options: `DEFAULT_TRAIN_OPTIONS`, then `DEMO_TRAIN_OPTIONS` when no
 * data path is given (unless `demo` is false), then the caller's values
 * (`undefined` fields are ignored); `workers`, unless given, is
 * {@linkcode defaultWorkers} of the resolved batch size.
 *
 * @example
 * ```ts
 * import { resolveTrainOptions } from "./train_options.ts";
 * console.log(resolveTrainOptions({ epochs: 2 }).arch); // "lite" (demo)
 * ```
 */
export function resolveTrainOptions(
  options: TrainOptions = {},
  config: { demo?: boolean } = {},
): Required<TrainOptions> {
  const given = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as TrainOptions;
  const demo = (config.demo ?? true) && !given.dataPath;
  const o = { ...DEFAULT_TRAIN_OPTIONS, ...(demo ? DEMO_TRAIN_OPTIONS : {}), ...given };
  if (given.workers === undefined) o.workers = defaultWorkers(o.batchSize);
  validate(o);
  return o;
}

function validate(o: Required<TrainOptions>): void {
  if (o.precision !== "f32" && o.precision !== "f16") {
    throw new RangeError(`Cannot train: current precision is ${o.precision}, expected f32|f16`);
  }
  const ints: (keyof TrainOptions)[] = [
    "batchSize",
    "epochs",
    "evalInterval",
    "printFreq",
    "inputSize",
    "cropSize",
    "keepCheckpoints",
    "syntheticTrain",
    "syntheticEval",
    "threads",
  ];
  for (const k of ints) {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot train: current ${k} is ${v}, expected a positive integer`);
    }
  }
  for (const k of ["startEpoch", "warmupEpochs", "seed", "workers"] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) {
      throw new RangeError(`Cannot train: current ${k} is ${o[k]}, expected an integer >= 0`);
    }
  }
  for (const k of ["lr", "weightDecay"] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) {
      throw new RangeError(`Cannot train: current ${k} is ${o[k]}, expected a number >= 0`);
    }
  }
  if (o.cropSize > o.inputSize) {
    throw new RangeError(`Cannot train: current cropSize ${o.cropSize} > inputSize ${o.inputSize}`);
  }
  // warmupEpochs >= epochs is allowed, as in the seed: every step takes the warmup branch.
  if (!TRAIN_ENGINES.includes(o.engine)) {
    throw new RangeError(
      `Cannot train: current engine is "${o.engine}", expected ${TRAIN_ENGINES.join(", ")}`,
    );
  }
  resolveTuning(o.tuning);
  if (o.arch !== "full" && o.arch !== "lite") {
    throw new RangeError(`Cannot train: current arch is "${o.arch}", expected full or lite`);
  }
}
