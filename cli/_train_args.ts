/**
 * The `train` command's options, help text and argument parsing (private to
 * `cli/train.ts`).
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../lib/backend.ts";
import { TRAIN_ENGINES } from "../lib/train/step_runner.ts";
import {
  DEFAULT_TRAIN_OPTIONS,
  DEMO_TRAIN_OPTIONS,
  type TrainOptions,
} from "../lib/train/train_options.ts";
import {
  choiceOption,
  type CommandSpec,
  formatHelp,
  intOption,
  numberOption,
  parseCommand,
  type ParsedCommand,
  requirePermission,
  requireReadable,
  UserError,
} from "./_common.ts";
import { userPath } from "./_safe_files.ts";

const D = DEFAULT_TRAIN_OPTIONS;
/** The most threads `--threads` defaults to (the machine's cores, up to this). */
const MAX_DEFAULT_THREADS = 4;
const M = DEMO_TRAIN_OPTIONS;
const str = { type: "string" } as const;

/** `items` joined by ", " in lines of at most `width` columns, indented by two. */
function wrap(items: string[], width: number): string {
  const lines = [""];
  for (const item of items) {
    const cur = lines[lines.length - 1];
    if (cur && cur.length + item.length + 2 > width) lines.push(item);
    else lines[lines.length - 1] = cur ? `${cur}, ${item}` : item;
  }
  return lines.map((l) => `  ${l}`).join(",\n");
}
const flag = { type: "boolean" } as const;

/** The `train` command's options; defaults from `DEFAULT_TRAIN_OPTIONS`. */
export const TRAIN_SPEC: CommandSpec = {
  name: "train",
  usage: "[--data-path DIR]",
  summary: `Trains U2-Net like the seed's train.py: AdamW, warmup + cosine lr per iteration,
evaluation (MAE, maxF1) every --eval-interval epochs and at the last, a results file,
an SVG chart, a checkpoint per epoch (last 10 kept), model_best (MAE and maxF1 not
worse than the best so far) and a predicted mask. Ctrl-C stops after the current
iteration; --resume continues exactly from the last checkpoint.

Without --data-path it trains the DEMO on the embedded synthetic dataset (held-out
synthetic eval split) with these defaults instead of the ones below:
${wrap(Object.entries(M).map(([k, v]) => `${k}=${v}`), 78)}`,
  options: {
    "data-path": { ...str, arg: "DIR", help: "DUTS root (DUTS-TR/, DUTS-TE/) or images/ + masks/" },
    "model": { ...str, arg: "full|lite", help: "architecture", default: D.arch },
    "batch-size": { ...str, short: "b", arg: "N", help: "batch size", default: D.batchSize },
    "epochs": { ...str, arg: "N", help: "total epochs", default: D.epochs },
    "lr": { ...str, arg: "X", help: "base learning rate", default: D.lr },
    "wd": { ...str, arg: "X", help: "alias of --weight-decay" },
    "weight-decay": {
      ...str,
      arg: "X",
      help: "AdamW decay of conv weights",
      default: D.weightDecay,
    },
    "warmup-epochs": { ...str, arg: "N", help: "linear lr warmup epochs", default: D.warmupEpochs },
    "eval-interval": {
      ...str,
      arg: "N",
      help: "evaluate when epoch % N == 0",
      default: D.evalInterval,
    },
    "print-freq": {
      ...str,
      arg: "N",
      help: "progress line every N iterations",
      default: D.printFreq,
    },
    "resume": {
      ...str,
      arg: "PATH",
      help: "checkpoint model_N.json, or an output folder (its newest)",
    },
    "start-epoch": {
      ...str,
      arg: "N",
      help: "first epoch (set by --resume)",
      default: D.startEpoch,
    },
    "init-weights": { ...str, arg: "FILE", help: "start from weights (.safetensors, .pth)" },
    "input-size": { ...str, arg: "N", help: "squash size, train and eval", default: D.inputSize },
    "crop-size": { ...str, arg: "N", help: "random crop size", default: D.cropSize },
    "no-augment": { ...flag, help: "centre crop, no flip" },
    "no-shuffle": { ...flag, help: "sorted order every epoch" },
    "seed": {
      ...str,
      arg: "N",
      help: "seed of init, order, augmentation, synthetic data",
      default: D.seed,
    },
    "output-dir": {
      ...str,
      arg: "DIR",
      help: `output folder (demo: ${M.outputDir})`,
      default: D.outputDir,
    },
    "backend": {
      ...str,
      arg: BACKEND_NAMES.join("|"),
      help:
        "tfjs backend (auto: hardware WebGPU, else wasm, else cpu; webgpu forces a software adapter; " +
        "with --resume, the checkpoint's)",
      default: "auto",
    },
    "engine": {
      ...str,
      arg: TRAIN_ENGINES.join("|"),
      help: "training step: gpu = the recorded WebGPU step, tfjs = tfjs ops, auto = gpu on webgpu",
      default: D.engine,
    },
    "threads": {
      ...str,
      arg: "N",
      help:
        `CPU step and eval threads, same results (default: cores, up to ${MAX_DEFAULT_THREADS})`,
    },
    "precision": {
      ...str,
      arg: "f32|f16",
      help:
        "the WebGPU step's arithmetic: f16 = mixed precision (f16 activations and GEMM tiles, dynamic loss scaling; needs shader-f16)",
      default: D.precision,
    },
    "skip-bad": { ...flag, help: "skip unreadable samples (default: stop before training)" },
    "cache": {
      ...flag,
      help: `keep decoded, resized samples in memory${M.cache ? " (demo: on)" : ""}`,
    },
    "workers": {
      ...str,
      arg: "N",
      help: "decode workers (default: min(cores, batch size, 8), like the seed; 0: main thread)",
    },
    "synthetic-train": {
      ...str,
      arg: "N",
      help: "synthetic dataset: training samples",
      default: D.syntheticTrain,
    },
    "synthetic-eval": {
      ...str,
      arg: "N",
      help: "synthetic dataset: held-out eval samples",
      default: D.syntheticEval,
    },
  },
  examples: [
    "deno task train                                  # the demo, a few minutes on a CPU",
    "deno task train --data-path ./data --model lite -b 8",
    "deno task train --resume runs/train              # continue the newest checkpoint",
    "deno task train --resume runs/train --epochs 720 # and train longer (as the seed)",
  ],
};

/** The help text of `train`. */
export const TRAIN_HELP: string = formatHelp(TRAIN_SPEC);

const given = (p: ParsedCommand, name: string) => p.values[name] !== undefined;
const int = (p: ParsedCommand, name: string, min = 0) =>
  given(p, name) ? intOption(p, name, 0, min) : undefined;
const num = (p: ParsedCommand, name: string) =>
  given(p, name) ? numberOption(p, name, 0, 0, 1e6) : undefined;
const text = (p: ParsedCommand, name: string) => p.values[name] as string | undefined;

export function parseTrainArgs(
  args: string[],
): { options: TrainOptions; backend: BackendName | undefined } | "help" {
  const p = parseCommand(args, TRAIN_SPEC);
  if (p === "help") return "help";
  if (p.positionals.length) {
    throw new UserError(`unexpected argument "${p.positionals[0]}" (see "train --help")`);
  }
  const options: TrainOptions = {
    dataPath: pathOf(p, "data-path"),
    arch: given(p, "model")
      ? choiceOption(p, "model", ["full", "lite"] as const, "full")
      : undefined,
    batchSize: int(p, "batch-size", 1),
    epochs: int(p, "epochs", 1),
    lr: num(p, "lr"),
    weightDecay: given(p, "weight-decay") ? num(p, "weight-decay") : num(p, "wd"),
    warmupEpochs: int(p, "warmup-epochs"),
    evalInterval: int(p, "eval-interval", 1),
    printFreq: int(p, "print-freq", 1),
    resume: pathOf(p, "resume"),
    startEpoch: int(p, "start-epoch"),
    initWeights: pathOf(p, "init-weights"),
    inputSize: int(p, "input-size", 8),
    cropSize: int(p, "crop-size", 8),
    augment: p.values["no-augment"] ? false : undefined,
    shuffle: p.values["no-shuffle"] ? false : undefined,
    seed: int(p, "seed"),
    outputDir: pathOf(p, "output-dir"),
    skipBad: p.values["skip-bad"] ? true : undefined,
    cache: p.values["cache"] ? true : undefined,
    workers: int(p, "workers"),
    syntheticTrain: int(p, "synthetic-train", 1),
    syntheticEval: int(p, "synthetic-eval", 1),
    engine: given(p, "engine") ? choiceOption(p, "engine", TRAIN_ENGINES, "auto") : undefined,
    precision: given(p, "precision")
      ? choiceOption(p, "precision", ["f32", "f16"] as const, "f32")
      : undefined,
    threads: given(p, "threads")
      ? intOption(p, "threads", 1, 1, 16)
      : Math.min(navigator.hardwareConcurrency || 1, MAX_DEFAULT_THREADS),
  };
  // undefined: auto, or on --resume the backend the checkpoint trained on
  const backend = given(p, "backend")
    ? choiceOption(p, "backend", BACKEND_NAMES, "auto")
    : undefined;
  return { options, backend };
}

/** A path option as the user meant it (relative to `$INIT_CWD`), or undefined. */
function pathOf(p: ParsedCommand, name: string): string | undefined {
  const v = text(p, name);
  return v === undefined ? undefined : userPath(v);
}

/** Fails early, in one line, when the run could not write its outputs or read its inputs. */
export function checkTrainPermissions(o: TrainOptions): void {
  if (o.dataPath) requireReadable("train", o.dataPath); // the loader opens resolved paths
  for (const path of [o.initWeights, o.resume]) {
    if (path) requirePermission("train", { name: "read", path }, `--allow-read=${path}`);
  }
  // a resumed run writes next to its checkpoint unless --output-dir says otherwise
  const resumeDir = o.resume && /\.(json|safetensors)$/.test(o.resume)
    ? (/[\\/]/.test(o.resume) ? o.resume.replace(/[\\/][^\\/]*$/, "") : ".")
    : o.resume;
  const out = o.outputDir || resumeDir || (o.dataPath ? D.outputDir : M.outputDir!);
  requirePermission("train", { name: "write", path: out }, `--allow-write=${out}`);
}
