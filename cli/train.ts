/**
 * `train [options]`: the seed's `train.py` on tfjs. With no `--data-path` it
 * trains the demo (u2net_lite on the embedded synthetic dataset, a few
 * minutes on a laptop CPU). Runs on its own (`deno run … cli/train.ts`) or
 * through `cli/main.ts`, which dispatches `train` to {@linkcode run}.
 *
 * Permissions: read the data, `--init-weights` and `--resume` paths; write
 * `--output-dir`; env (tfjs).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES, type BackendName, selectBackend } from "../lib/backend.ts";
import { train } from "../lib/train/train_loop.ts";
import {
  DEFAULT_TRAIN_OPTIONS,
  DEMO_TRAIN_OPTIONS,
  type TrainOptions,
} from "../lib/train/train_options.ts";
import { formatProgressBar } from "../lib/train/progress_bar.ts";
import type { TrainProgress } from "../lib/train/train_one_epoch.ts";

const D = DEFAULT_TRAIN_OPTIONS;
const M = DEMO_TRAIN_OPTIONS;
const demoList = Object.entries(M).map(([k, v]) => `${k}=${v}`).join(", ");

/** The help text of `train`; defaults come from `DEFAULT_TRAIN_OPTIONS` and `DEMO_TRAIN_OPTIONS`. */
export const TRAIN_HELP = `usage: train [options]

Trains U2-Net like the seed's train.py: AdamW, warmup + cosine lr per iteration,
evaluation (MAE, maxF1) every --eval-interval epochs and at the last, a results
file, an SVG chart, a checkpoint per epoch (last 10 kept) and model_best.

Without --data-path it trains the DEMO on the embedded synthetic dataset with a
held-out synthetic eval split, and these demo defaults replace the ones below:
  ${demoList}

  --data-path DIR          dataset root: DUTS (DUTS-TR/, DUTS-TE/) or images/ + masks/
  --model full|lite        architecture (default ${D.arch})
  -b, --batch-size N       batch size (default ${D.batchSize})
  --epochs N               total epochs (default ${D.epochs})
  --lr X                   base learning rate (default ${D.lr})
  --wd, --weight-decay X   AdamW weight decay of conv weights (default ${D.weightDecay})
  --warmup-epochs N        linear lr warmup epochs (default ${D.warmupEpochs})
  --eval-interval N        evaluate when epoch % N == 0 (default ${D.evalInterval})
  --print-freq N           progress line every N iterations (default ${D.printFreq})
  --resume PATH            checkpoint (model_N.json) or output folder (its newest)
  --start-epoch N          first epoch (default ${D.startEpoch}; set by --resume)
  --init-weights FILE      start from weights (.safetensors, .pth, .onnx not supported)
  --input-size N           squash size, train and eval (default ${D.inputSize})
  --crop-size N            random crop size (default ${D.cropSize})
  --no-augment             centre crop, no flip (deterministic batches)
  --no-shuffle             sorted order every epoch
  --seed N                 seed of init, order, augmentation, synthetic data (default ${D.seed})
  --output-dir DIR         where everything is written (default ${D.outputDir}; demo ${M.outputDir})
  --backend NAME           ${BACKEND_NAMES.join("|")} (default auto: WebGPU when present)
  --skip-bad               skip unreadable samples (default: stop before training)
  --cache                  keep decoded, resized samples in memory${M.cache ? " (demo: on)" : ""}
  -h, --help               show this help`;

/** A user mistake: one line on stderr, exit status 1. */
class UsageError extends Error {}

const INT = (name: string, v: string | undefined, min = 0): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || n < min) {
    throw new UsageError(`--${name} expects an integer >= ${min}, got "${v}"`);
  }
  return n;
};
const NUM = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} expects a number >= 0, got "${v}"`);
  }
  return n;
};

function parse(args: string[]): { options: TrainOptions; backend: BackendName } | "help" {
  const s = { type: "string" } as const;
  const b = { type: "boolean" } as const;
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "data-path": s,
        "model": s,
        "batch-size": { ...s, short: "b" },
        "epochs": s,
        "lr": s,
        "wd": s,
        "weight-decay": s,
        "warmup-epochs": s,
        "eval-interval": s,
        "print-freq": s,
        "resume": s,
        "start-epoch": s,
        "init-weights": s,
        "input-size": s,
        "crop-size": s,
        "no-augment": b,
        "no-shuffle": b,
        "seed": s,
        "output-dir": s,
        "backend": s,
        "skip-bad": b,
        "cache": b,
        "help": { ...b, short: "h" },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
  if (v.help) return "help";
  const arch = v.model;
  if (arch !== undefined && arch !== "full" && arch !== "lite") {
    throw new UsageError(`--model expects full or lite, got "${arch}"`);
  }
  const backend = (v.backend ?? "auto") as BackendName;
  if (!BACKEND_NAMES.includes(backend)) {
    throw new UsageError(`--backend expects ${BACKEND_NAMES.join(", ")}, got "${backend}"`);
  }
  const options: TrainOptions = {
    dataPath: v["data-path"],
    arch,
    batchSize: INT("batch-size", v["batch-size"], 1),
    epochs: INT("epochs", v.epochs, 1),
    lr: NUM("lr", v.lr),
    weightDecay: NUM("weight-decay", v["weight-decay"] ?? v.wd),
    warmupEpochs: INT("warmup-epochs", v["warmup-epochs"]),
    evalInterval: INT("eval-interval", v["eval-interval"], 1),
    printFreq: INT("print-freq", v["print-freq"], 1),
    resume: v.resume,
    startEpoch: INT("start-epoch", v["start-epoch"]),
    initWeights: v["init-weights"],
    inputSize: INT("input-size", v["input-size"], 8),
    cropSize: INT("crop-size", v["crop-size"], 8),
    augment: v["no-augment"] ? false : undefined,
    shuffle: v["no-shuffle"] ? false : undefined,
    seed: INT("seed", v.seed),
    outputDir: v["output-dir"],
    skipBad: v["skip-bad"] || undefined,
    cache: v.cache || undefined,
  };
  return { options, backend };
}

/** Writes log lines, plus a redrawn progress bar when stdout is a terminal. */
function makeOutput(epochs: number | undefined) {
  const tty = Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  let bar = "";
  const write = (s: string) => Deno.stdout.writeSync(enc.encode(s));
  const clear = () => bar && write("\r\x1b[2K");
  return {
    log(line: string) {
      clear();
      write(line + "\n");
      if (bar) write(bar);
    },
    progress(p: TrainProgress) {
      if (!tty) return;
      const cols = Deno.consoleSize?.().columns ?? 100;
      bar = formatProgressBar(p, { epochs }).slice(0, Math.max(20, cols - 1));
      write("\r\x1b[2K" + bar);
    },
    done() {
      clear();
      bar = "";
    },
  };
}

/**
 * Runs `train` with its arguments (without the `train` word) and returns the
 * exit status: 0 on success (or after Ctrl-C stopped the run), 1 on any error,
 * reported as one line on stderr without a stack trace.
 *
 * @example
 * ```ts ignore
 * import { run } from "./train.ts";
 * const status = await run(["--epochs", "2", "--output-dir", "runs/quick"]);
 * ```
 */
export async function run(args: string[]): Promise<number> {
  const out = makeOutput(undefined);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) Deno.exit(130);
    out.log("interrupt: stopping after this iteration (Ctrl-C again to quit now)");
    controller.abort();
  };
  let listening = false;
  try {
    const parsed = parse(args);
    if (parsed === "help") {
      console.log(TRAIN_HELP);
      return 0;
    }
    const info = await selectBackend(parsed.backend);
    out.log(
      `backend: ${info.backend}${info.adapter ? ` (${info.adapter})` : ""}${
        info.fellBack ? " (no WebGPU adapter)" : ""
      }`,
    );
    try {
      Deno.addSignalListener("SIGINT", onSigint);
      listening = true;
    } catch { /* no signals on this platform */ }
    const bar = makeOutput(parsed.options.epochs);
    const result = await train(parsed.options, {
      onLog: (l) => bar.log(l),
      onProgress: (p) => bar.progress(p),
      signal: controller.signal,
    });
    bar.done();
    const last = result.history.at(-1);
    out.log(`results: ${result.resultsFile}`);
    out.log(`chart: ${result.chartFile}`);
    if (result.lastCheckpoint) out.log(`checkpoint: ${result.lastCheckpoint}`);
    if (result.bestWeights) out.log(`best: ${result.bestWeights} (epoch ${result.best?.epoch})`);
    if (result.predictionFile) out.log(`prediction: ${result.predictionFile}`);
    if (last?.mae !== undefined) {
      out.log(`MAE: ${last.mae.toFixed(3)} maxF1: ${last.maxF!.toFixed(3)}`);
    }
    return 0;
  } catch (e) {
    out.done();
    console.error(`train: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
    return 1;
  } finally {
    if (listening) Deno.removeSignalListener("SIGINT", onSigint);
  }
}

if (import.meta.main) Deno.exit(await run(Deno.args));
