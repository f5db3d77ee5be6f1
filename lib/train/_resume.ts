/**
 * Resuming: which checkpoint, which options, and the loop state it carries.
 *
 * @module
 */
import type { LoaderState } from "../data/loader.ts";
import { latestCheckpoint, loadCheckpoint, type LoadedCheckpoint } from "./checkpoint.ts";
import type { LrSchedulerState } from "../optim/lr_scheduler.ts";
import type { BestScores, EpochRecord } from "./results.ts";
import { resolveTrainOptions, type TrainOptions } from "./train_options.ts";

/** The loop state stored in a checkpoint's JSON (`extra`). */
export interface LoopState {
  /** Resolved options of the run. */
  options: Required<TrainOptions>;
  /** Conv bias in ConvBNReLU layers (from the initial weights). */
  convBias: boolean;
  /** Lr scheduler state after the epoch. */
  scheduler: LrSchedulerState;
  /** Loader position after the epoch. */
  loader: LoaderState;
  /** Every finished epoch. */
  history: EpochRecord[];
  /** Best scores so far (null before the first evaluation). */
  best: BestScores | null;
  /** Results file name (in the output folder), appended to after resuming. */
  resultsFile: string;
  /**
   * Mixed precision: the loss scaling after the epoch (scale and good steps,
   * carried into a resumed run) and the steps skipped for an overflow since
   * the run began. Absent in f32 and in checkpoints written before it.
   */
  amp?: { scale: number; goodSteps: number; skipped: number };
  /** The tfjs backend the run trained on. Absent in checkpoints written before it. */
  backend?: string;
}

/** Options a resumed run may change; the rest come from the checkpoint. */
const RESUME_OVERRIDABLE: readonly (keyof TrainOptions)[] = [
  "outputDir",
  "dataPath",
  "printFreq",
  "evalInterval",
  "cache",
  "skipBad",
  "checkData",
  "keepCheckpoints",
  "workers",
  "engine",
  "threads",
  "precision",
  // As the seed's --epochs on resume: the lr schedule takes the new length
  // from the checkpoint's step (its state is the step count, as LambdaLR's).
  "epochs",
];

/** A checkpoint JSON path from `--resume` (a file of a checkpoint, or a folder: its newest). */
export async function resolveResumePath(path: string): Promise<string> {
  let isDir = false;
  try {
    isDir = (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TypeError(`Cannot resume: current path ${path} does not exist`);
    }
    throw e;
  }
  if (!isDir) return path;
  const found = await latestCheckpoint(path.replace(/[\\/]+$/, ""));
  if (!found) {
    throw new TypeError(`Cannot resume: current folder ${path} has no complete checkpoint`);
  }
  return found;
}

/** Resolved options and, when resuming, the checkpoint. */
export interface StartState {
  /** Options of this run. */
  options: Required<TrainOptions>;
  /** The checkpoint resumed from. */
  checkpoint?: LoadedCheckpoint<LoopState>;
  /** Messages about ignored options. */
  notes: string[];
}

/**
 * Resolves the run's options. Resuming takes the checkpoint's options (the
 * output folder: the checkpoint's), then the caller's values of
 * {@linkcode RESUME_OVERRIDABLE} options; other
 * given options that differ are ignored with a note (they would change the
 * batches or the schedule, and the run would not continue exactly).
 */
export async function startState(given: TrainOptions): Promise<StartState> {
  if (!given.resume) return { options: resolveTrainOptions(given), notes: [] };
  const path = await resolveResumePath(given.resume);
  const checkpoint = await loadCheckpoint<LoopState>(path);
  const saved = checkpoint.meta.extra.options;
  const notes: string[] = [`resuming from ${path} (epoch ${checkpoint.meta.epoch})`];
  // outputs go next to the checkpoint unless told otherwise (the folder may have moved)
  const dir = path.includes("/") ? path.replace(/\/[^/]*$/, "") : ".";
  const merged: TrainOptions = { ...saved, resume: path, outputDir: dir };
  for (const [k, v] of Object.entries(given) as [keyof TrainOptions, unknown][]) {
    if (v === undefined || k === "resume" || v === saved[k]) continue;
    if (RESUME_OVERRIDABLE.includes(k)) Object.assign(merged, { [k]: v });
    else {notes.push(
        `ignoring ${k}=${JSON.stringify(v)} on resume (checkpoint has ${JSON.stringify(saved[k])})`,
      );}
  }
  const options = resolveTrainOptions(merged, { demo: false });
  options.startEpoch = checkpoint.meta.epoch + 1;
  if (
    options.epochs <= options.startEpoch && given.epochs !== undefined &&
    given.epochs !== saved.epochs
  ) {
    throw new RangeError(
      `Cannot resume: current epochs is ${options.epochs}, but ${path} is epoch ${checkpoint.meta.epoch}; ` +
        `give more than ${options.startEpoch}`,
    );
  }
  if (options.epochs !== saved.epochs) {
    notes.push(`epochs ${saved.epochs} -> ${options.epochs}: the lr schedule takes the new length`);
  } else if (options.epochs <= options.startEpoch) {
    notes.push(
      `${path} is the run's last epoch (epochs ${options.epochs}): nothing to train; ` +
        `give --epochs N (N > ${options.startEpoch}) to go on`,
    );
  }
  return { options, checkpoint, notes };
}
