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
import { parseArgs } from "node:util";
import { BACKEND_NAMES, type BackendName, selectBackend } from "../lib/backend.ts";
import { discoverDataset, fileSource, type SampleSource } from "../lib/data/dataset.ts";
import { evalSamples } from "../lib/data/loader.ts";
import { syntheticSource } from "../lib/data/synthetic.ts";
import { evaluate } from "../lib/eval/evaluate.ts";
import { loadWeightsFile } from "../lib/model/load_weights.ts";
import { formatProgressBar } from "../lib/train/progress_bar.ts";
import { DEFAULT_TRAIN_OPTIONS, DEMO_TRAIN_OPTIONS } from "../lib/train/train_options.ts";
import { subsetSource } from "../lib/train/_train_data.ts";

const DEMO = { ...DEFAULT_TRAIN_OPTIONS, ...DEMO_TRAIN_OPTIONS };

/** The help text of `eval`. */
export const EVAL_HELP = `usage: eval --weights FILE [options]

Evaluates weights like the seed's validation.py (eval preset, batch 1): MAE and
maxF1 (max F-beta, beta^2 = 0.3) over DUTS-TE, printed as "MAE: 0.xxx maxF1: 0.xxx".

  --weights FILE       .safetensors, .pth (zip or legacy, checkpoints too) or .onnx
  --data-path DIR      dataset root: DUTS (DUTS-TE/) or images/ + masks/; default: the
                       demo's held-out synthetic split (seed ${DEMO.seed}, samples
                       ${DEMO.syntheticTrain}..${
  DEMO.syntheticTrain + DEMO.syntheticEval - 1
}, ${DEMO.inputSize} px)
  --model full|lite    check the architecture of the weights
  --input-size N       network input side (default ${DEFAULT_TRAIN_OPTIONS.inputSize}; synthetic: ${DEMO.inputSize})
  --post-norm          min-max normalise each prediction first (the seed's commented-out step)
  --skip-bad           skip unreadable samples instead of stopping
  --backend NAME       ${BACKEND_NAMES.join("|")} (default auto)
  --json               print {"mae", "maxF", "count", ...} as JSON
  -h, --help           show this help`;

class UsageError extends Error {}

interface EvalArgs {
  weights: string;
  dataPath?: string;
  model?: "full" | "lite";
  inputSize?: number;
  postNorm: boolean;
  skipBad: boolean;
  backend: BackendName;
  json: boolean;
}

function parse(args: string[]): EvalArgs | "help" {
  const s = { type: "string" } as const;
  const b = { type: "boolean" } as const;
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "weights": s,
        "data-path": s,
        "model": s,
        "input-size": s,
        "post-norm": b,
        "skip-bad": b,
        "backend": s,
        "json": b,
        "help": { ...b, short: "h" },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
  if (v.help) return "help";
  if (!v.weights) throw new UsageError("--weights FILE is required (see --help)");
  if (v.model !== undefined && v.model !== "full" && v.model !== "lite") {
    throw new UsageError(`--model expects full or lite, got "${v.model}"`);
  }
  const backend = (v.backend ?? "auto") as BackendName;
  if (!BACKEND_NAMES.includes(backend)) {
    throw new UsageError(`--backend expects ${BACKEND_NAMES.join(", ")}, got "${backend}"`);
  }
  const inputSize = v["input-size"] === undefined ? undefined : Number(v["input-size"]);
  if (inputSize !== undefined && (!Number.isInteger(inputSize) || inputSize < 8)) {
    throw new UsageError(`--input-size expects an integer >= 8, got "${v["input-size"]}"`);
  }
  return {
    weights: v.weights,
    dataPath: v["data-path"],
    model: v.model as EvalArgs["model"],
    inputSize,
    postNorm: Boolean(v["post-norm"]),
    skipBad: Boolean(v["skip-bad"]),
    backend,
    json: Boolean(v.json),
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
export async function run(args: string[]): Promise<number> {
  const tty = Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  try {
    const a = parse(args);
    if (a === "help") {
      console.log(EVAL_HELP);
      return 0;
    }
    await selectBackend(a.backend);
    const [source, label, inputSize] = await dataset(a);
    const model = await loadWeightsFile(a.weights);
    try {
      const arch = model.config.name;
      if (a.model && a.model !== arch) {
        throw new UsageError(`--model ${a.model} but ${a.weights} holds u2net_${arch} weights`);
      }
      const r = await evaluate(model, evalSamples(source, { inputSize, skipBad: a.skipBad }), {
        postNorm: a.postNorm,
        total: source.size,
        onProgress: (p) => {
          if (!tty || a.json) return;
          const line = formatProgressBar({
            phase: "eval",
            epoch: 0,
            done: p.done,
            total: source.size,
          });
          Deno.stdout.writeSync(enc.encode(`\r\x1b[2K${line.replace(/^epoch 0 /, "")}`));
        },
      });
      if (tty && !a.json) Deno.stdout.writeSync(enc.encode("\r\x1b[2K"));
      if (a.json) {
        console.log(
          JSON.stringify({
            ...r,
            weights: a.weights,
            arch,
            data: label,
            inputSize,
            postNorm: a.postNorm,
          }),
        );
      } else console.log(`MAE: ${r.mae.toFixed(3)} maxF1: ${r.maxF.toFixed(3)}`);
      return 0;
    } finally {
      model.dispose();
    }
  } catch (e) {
    console.error(`eval: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await run(Deno.args));
