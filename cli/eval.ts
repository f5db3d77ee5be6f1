/**
 * `eval [options]`: the seed's `validation.py`: MAE and maxF1 of a weight file
 * on DUTS-TE (or an `images/` + `masks/` folder), printed as
 * `MAE: 0.044 maxF1: 0.868`. Without `--data-path` it scores the demo's
 * held-out synthetic split. Runs on its own or through `cli/main.ts`.
 *
 * Permissions: read the weights and the data; env (tfjs).
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName, checkHalfPrecision } from "../lib/backend.ts";
import { selectInferenceBackend } from "../lib/predict/inference_backend.ts";
import { discoverDataset, fileSource, type SampleSource, someNames } from "../lib/data/dataset.ts";
import { evalSamples } from "../lib/data/loader.ts";
import { syntheticSource } from "../lib/data/synthetic.ts";
import { evaluate } from "../lib/eval/evaluate.ts";
import { WEIGHTS_ENV } from "../lib/predict/weights_path.ts";
import { loadWeightsFile } from "../lib/model/load_weights.ts";
import { formatProgressBar } from "../lib/train/progress_bar.ts";
import { DEFAULT_TRAIN_OPTIONS, DEMO_TRAIN_OPTIONS } from "../lib/train/train_options.ts";
import { userPath } from "./_safe_files.ts";
import { subsetSource } from "../lib/train/train_data.ts";
import {
  choiceOption,
  type CommandSpec,
  envWeights,
  formatHelp,
  intOption,
  parseCommand,
  requireReadable,
  runCommand,
  UserError,
} from "./_common.ts";
import {
  ENGINE_OPTION,
  engineOption,
  halfNote,
  PRECISION_OPTION,
  precisionOption,
  THREADS_OPTION,
  threadsOption,
} from "./_engine_options.ts";
import { createEngine, type PredictEngine } from "../lib/engines/create_engine.ts";
import { MODEL_NAMES_HELP, resolveCliWeights } from "./_weights.ts";

const DEMO = { ...DEFAULT_TRAIN_OPTIONS, ...DEMO_TRAIN_OPTIONS };
const str = { type: "string" } as const;
const flag = { type: "boolean" } as const;

/** The `eval` command's options. */
export const EVAL_SPEC: CommandSpec = {
  name: "eval",
  usage: "--weights FILE|NAME",
  summary: `Evaluates weights like the seed's validation.py (eval preset, batch 1) and prints
"MAE: 0.xxx maxF1: 0.xxx" (maxF1 is max F-beta, beta^2 = 0.3, of the mean PR curve).
Without --data-path it scores the demo's held-out synthetic split (seed ${DEMO.seed},
samples ${DEMO.syntheticTrain}..${
    DEMO.syntheticTrain + DEMO.syntheticEval - 1
  }, ${DEMO.inputSize} px).`,
  options: {
    "weights": {
      ...str,
      arg: "FILE|NAME",
      help:
        `.safetensors, .pth (zip, legacy, checkpoints), .onnx or a trained model: ${MODEL_NAMES_HELP}`,
    },
    "data-path": { ...str, arg: "DIR", help: "DUTS root (DUTS-TE/) or images/ + masks/" },
    "model": { ...str, arg: "full|lite", help: "check the architecture of the weights" },
    "input-size": {
      ...str,
      arg: "N",
      help: `network input side (synthetic: ${DEMO.inputSize})`,
      default: DEFAULT_TRAIN_OPTIONS.inputSize,
    },
    "post-norm": {
      ...flag,
      help: "min-max normalise each prediction (the seed's commented-out step)",
    },
    "skip-bad": { ...flag, help: "skip unreadable samples instead of stopping" },
    "backend": { ...str, arg: BACKEND_NAMES.join("|"), help: "tfjs backend", default: "auto" },
    "engine": ENGINE_OPTION,
    "threads": THREADS_OPTION,
    "precision": PRECISION_OPTION,
    "json": { ...flag, help: 'print {"mae", "maxF", "count", …} as JSON' },
  },
  examples: ["deno task eval --weights runs/demo/model_best.safetensors"],
};

/** The help text of `eval`. */
export const EVAL_HELP: string = formatHelp(EVAL_SPEC);

interface EvalArgs {
  weights: string;
  dataPath?: string;
  model?: "full" | "lite";
  inputSize?: number;
  postNorm: boolean;
  skipBad: boolean;
  backend: BackendName;
  engine: PredictEngine;
  threads: number;
  precision: "f32" | "f16";
  json: boolean;
}

function parse(args: string[]): EvalArgs | "help" {
  const p = parseCommand(args, EVAL_SPEC);
  if (p === "help") return "help";
  if (p.positionals.length) {
    throw new UserError(`unexpected argument "${p.positionals[0]}" (see "eval --help")`);
  }
  // --weights, else U2NET_WEIGHTS (a file or a model name), as predict and serve
  const weights = p.values.weights || envWeights();
  if (typeof weights !== "string" || !weights) {
    throw new UserError(`--weights FILE|NAME (or ${WEIGHTS_ENV}) is required (see "eval --help")`);
  }
  return {
    weights,
    dataPath: typeof p.values["data-path"] === "string"
      ? userPath(p.values["data-path"])
      : undefined,
    model: p.values.model === undefined
      ? undefined
      : choiceOption(p, "model", ["full", "lite"] as const, "full"),
    inputSize: p.values["input-size"] === undefined ? undefined : intOption(p, "input-size", 0, 8),
    postNorm: Boolean(p.values["post-norm"]),
    skipBad: Boolean(p.values["skip-bad"]),
    backend: choiceOption(p, "backend", BACKEND_NAMES, "auto"),
    engine: engineOption(p),
    threads: threadsOption(p),
    precision: precisionOption(p),
    json: Boolean(p.values.json),
  };
}

async function dataset(a: EvalArgs): Promise<[SampleSource, string, number]> {
  if (!a.dataPath) {
    const size = a.inputSize ?? DEMO.inputSize;
    const all = syntheticSource({
      seed: DEMO.seed,
      size,
      count: DEMO.syntheticTrain + DEMO.syntheticEval,
    });
    const idx = Array.from({ length: DEMO.syntheticEval }, (_, i) => DEMO.syntheticTrain + i);
    return [subsetSource(all, idx), "synthetic held-out", size];
  }
  const ds = await discoverDataset(a.dataPath, { split: "test" });
  // Scored without them: said, as train says it (eval's count is of pairs only).
  const skipping = (files: string[], what: string) => {
    if (files.length) console.error(`skipping ${files.length} ${what}: ${someNames(files)}`);
  };
  skipping(ds.unmatchedImages, "image(s) without a mask");
  skipping(ds.unmatchedMasks, "mask(s) without an image");
  return [fileSource(ds), ds.imageDir, a.inputSize ?? DEFAULT_TRAIN_OPTIONS.inputSize];
}

/**
 * Runs `eval` with its arguments (without the `eval` word) and returns the
 * exit status: 0 on success, 1 on any error (one line on stderr).
 *
 * @example
 * ```ts ignore
 * import { run } from "./eval.ts";
 * const status = await run(["--weights", "runs/demo/model_best.safetensors"]);
 * ```
 */
export function run(args: string[]): Promise<number> {
  const tty = Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  return runCommand("eval", async () => {
    const a = parse(args);
    if (a === "help") {
      console.log(EVAL_HELP);
      return 0;
    }
    if (a.dataPath) {
      requireReadable("eval", a.dataPath);
    }
    const weights = await resolveCliWeights("eval", a.weights);
    await selectInferenceBackend(a.backend);
    const [source, label, inputSize] = await dataset(a);
    const model = await loadWeightsFile(weights.path);
    let engine;
    try {
      const arch = model.config.name;
      if (a.model && a.model !== arch) {
        throw new UserError(`--model ${a.model} but ${a.weights} holds u2net_${arch} weights`);
      }
      engine = createEngine(model, {
        engine: a.engine,
        threads: a.threads,
        precision: a.precision,
      });
      await checkHalfPrecision(engine.name, a.precision, "eval");
      console.error(`engine: ${engine.describe()}`);
      const note = halfNote(engine.name, a.precision);
      if (note) console.error(note);
      const bar = tty && !a.json;
      const skipped: string[] = [];
      const onBadSample = ({ name, error }: { name: string; error: Error }) => {
        skipped.push(name);
        console.error(`skipping bad sample: ${name}: ${error.message.split("\n")[0]}`);
      };
      // The largest mask value (0-255), to warn about masks saved as 0 and 1.
      let maskMax = 0;
      const samples = (async function* () {
        for await (const s of evalSamples(source, { inputSize, skipBad: a.skipBad, onBadSample })) {
          if (maskMax <= 1) { for (const v of s.mask) if (v > maskMax) maskMax = v; }
          yield s;
        }
      })();
      const r = await evaluate(model, samples, {
        postNorm: a.postNorm,
        engine,
        total: source.size,
        onProgress: (p) => {
          if (!bar) return;
          const line = formatProgressBar({
            phase: "eval",
            epoch: 0,
            done: p.done,
            total: source.size,
          });
          Deno.stdout.writeSync(enc.encode(`\r\x1b[2K${line.replace(/^epoch 0 /, "")}`));
        },
      });
      if (bar) Deno.stdout.writeSync(enc.encode("\r\x1b[2K"));
      if (maskMax === 1) {
        console.error(
          "warning: every mask has values 0 and 1 only (none above 1 of 255); masks are divided " +
            "by 255, as in the seed, so the scores compare against near-empty masks: save them " +
            "as 0 and 255 (multiply by 255)",
        );
      }
      if (a.json) {
        const postNorm = a.postNorm;
        console.log(
          JSON.stringify({
            ...r,
            weights: a.weights,
            arch,
            data: label,
            inputSize,
            postNorm,
            skipped,
          }),
        );
      } else {
        console.log(`MAE: ${r.mae.toFixed(3)} maxF1: ${r.maxF.toFixed(3)}`);
        if (skipped.length) console.log(`(${skipped.length} bad sample(s) skipped)`);
      }
      return 0;
    } finally {
      engine?.dispose();
      model.dispose();
    }
  });
}

if (import.meta.main) Deno.exit(await run(Deno.args));
