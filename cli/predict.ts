/**
 * `predict <image|folder>... [options]`: masks, soft masks or cut-outs for
 * files and folders (recursive), batched, written as PNGs under `--output`
 * (folder structure kept). Existing outputs are skipped unless
 * `--overwrite`; a file that fails is reported and the run goes on (exit 1
 * at the end when any failed).
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../lib/backend.ts";
import { decodeImage } from "../lib/data/image_io.ts";
import { loadInferenceModel } from "../lib/model/load_weights.ts";
import {
  createPredictor,
  DEFAULT_FORMAT,
  DEFAULT_MAX_BATCH,
  DEFAULT_PREDICT_INPUT_SIZE,
  DEFAULT_RESIZE,
  DEFAULT_THRESHOLD,
  DEFAULT_WEIGHTS_PATH,
  OUTPUT_FORMATS,
  parseColor,
  type Predictor,
  renderPng,
  RESIZE_MODES,
  resolveWeightsPath,
  type RgbColor,
  selectInferenceBackend,
  WEIGHTS_ENV,
} from "../lib/predict/mod.ts";
import {
  choiceOption,
  type CommandSpec,
  createProgress,
  envWeights,
  formatHelp,
  intOption,
  numberOption,
  parseCommand,
  requirePermission,
  runCommand,
  stringOption,
  UserError,
} from "./_common.ts";
import { ENGINE_OPTION, engineOption, THREADS_OPTION, threadsOption } from "./_engine_options.ts";
import { collectJobs, exists, IMAGE_EXTENSIONS, type Job } from "./_predict_files.ts";

export { IMAGE_EXTENSIONS };

/** Default output folder of `predict`. */
export const DEFAULT_OUTPUT_DIR = "predictions";

/** The `predict` command's options (defaults from the library's constants). */
export const PREDICT_SPEC: CommandSpec = {
  name: "predict",
  usage: "<image|folder>...",
  summary: "Writes a PNG per image (folders are searched recursively for .png/.jpg/.jpeg).",
  options: {
    output: {
      type: "string",
      short: "o",
      arg: "DIR",
      help: "output folder",
      default: DEFAULT_OUTPUT_DIR,
    },
    format: {
      type: "string",
      short: "f",
      arg: OUTPUT_FORMATS.join("|"),
      help: "binary mask, 8-bit soft mask or RGBA cut-out",
      default: DEFAULT_FORMAT,
    },
    threshold: {
      type: "string",
      short: "t",
      arg: "T",
      help: "foreground where probability > T (mask, cutout)",
      default: DEFAULT_THRESHOLD,
    },
    engine: ENGINE_OPTION,
    threads: THREADS_OPTION,
    resize: {
      type: "string",
      arg: RESIZE_MODES.join("|"),
      help: "squash to a square (eval preset) or the seed predict.py's shorter side",
      default: DEFAULT_RESIZE,
    },
    "input-size": {
      type: "string",
      arg: "N",
      help: "network input side (squash) or shorter side",
      default: DEFAULT_PREDICT_INPUT_SIZE,
    },
    "bg-color": {
      type: "string",
      arg: "COLOR",
      help: "cut-out background (#rrggbb, r,g,b or a name) instead of transparency",
    },
    "batch-size": {
      type: "string",
      short: "b",
      arg: "N",
      help: "images per network call",
      default: DEFAULT_MAX_BATCH,
    },
    weights: {
      type: "string",
      short: "w",
      arg: "FILE",
      help: `weights (.safetensors, .pth, .onnx)`,
      default: `$${WEIGHTS_ENV} or ${DEFAULT_WEIGHTS_PATH}`,
    },
    model: {
      type: "string",
      arg: "auto|full|lite",
      help: "expected architecture (auto: from the weights)",
      default: "auto",
    },
    backend: {
      type: "string",
      arg: BACKEND_NAMES.join("|"),
      help: "tfjs backend (auto: WebGPU, else wasm, else cpu)",
      default: "auto",
    },
    overwrite: { type: "boolean", help: "replace existing outputs (default: skip them)" },
  },
  examples: [
    "deno task predict tests/testdata/images -o predictions --format cutout",
    "deno task predict photo.jpg --weights runs/demo/model_best.safetensors --resize shorter-side",
  ],
};

async function predict(args: string[]): Promise<number> {
  const p = parseCommand(args, PREDICT_SPEC);
  if (p === "help") {
    console.log(formatHelp(PREDICT_SPEC));
    return 0;
  }
  if (!p.positionals.length) throw new UserError(`no input given (see "predict --help")`);
  const outDir = stringOption(p, "output", DEFAULT_OUTPUT_DIR);
  const format = choiceOption(p, "format", OUTPUT_FORMATS, DEFAULT_FORMAT);
  const threshold = numberOption(p, "threshold", DEFAULT_THRESHOLD, 0, 1);
  const resize = choiceOption(p, "resize", RESIZE_MODES, DEFAULT_RESIZE);
  const engine = engineOption(p);
  const inputSize = intOption(p, "input-size", DEFAULT_PREDICT_INPUT_SIZE, 8, 4096);
  const batch = intOption(p, "batch-size", DEFAULT_MAX_BATCH, 1, 256);
  const arch = choiceOption(p, "model", ["auto", "full", "lite"] as const, "auto");
  const backendName = choiceOption(p, "backend", BACKEND_NAMES, "auto" as BackendName);
  const overwrite = p.values.overwrite === true;
  let bgColor: RgbColor | undefined;
  const bg = p.values["bg-color"];
  if (typeof bg === "string") {
    try {
      bgColor = parseColor(bg);
    } catch (e) {
      throw new UserError(`--bg-color: ${(e as Error).message}`);
    }
  }
  requirePermission("predict", { name: "write", path: outDir }, `--allow-write=${outDir}`);
  const jobs = await collectJobs(p.positionals, outDir);
  const weights = resolveWeightsPath(stringOption(p, "weights", ""), { env: envWeights() });
  requirePermission("predict", { name: "read", path: weights }, `--allow-read=${weights}`);
  const backend = await selectInferenceBackend(backendName);
  const model = await loadInferenceModel(weights);
  let predictor: Predictor | undefined;
  try {
    if (arch !== "auto" && model.config.name !== arch) {
      throw new UserError(`--model ${arch}, but ${weights} holds a ${model.config.name} network`);
    }
    console.error(
      `predict: ${model.config.name} from ${weights} on ${backend.backend}, ${jobs.length} files`,
    );
    predictor = createPredictor(model, {
      inputSize,
      resize,
      maxBatch: batch,
      engine,
      threads: threadsOption(p),
    });
    const seen = new Set<string>();
    let written = 0, skipped = 0, failed = 0;
    const progress = createProgress(jobs.length, { label: "predict" });
    const fail = (job: Job, e: unknown) => {
      failed++;
      progress.log(
        `error: ${job.input}: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`,
      );
      progress.tick(`${job.input} failed`);
    };
    const todo: Job[] = [];
    for (const job of jobs) {
      if (seen.has(job.output)) {
        fail(job, new Error(`output ${job.output} already produced by another input`));
      } else if (!overwrite && await exists(job.output)) {
        skipped++;
        progress.tick(`${job.input} skipped (exists)`);
      } else todo.push(job);
      seen.add(job.output);
    }
    for (let k = 0; k < todo.length; k += batch) {
      const ready = [];
      for (const job of todo.slice(k, k + batch)) {
        try {
          ready.push({ job, image: await decodeImage(await Deno.readFile(job.input)) });
        } catch (e) {
          fail(job, e);
        }
      }
      let probs;
      try {
        probs = await predictor.predict(ready.map((r) => r.image));
      } catch (e) {
        ready.forEach((r) => fail(r.job, e));
        continue;
      }
      for (const [i, { job, image }] of ready.entries()) {
        try {
          const png = renderPng(image, probs[i], { format, threshold, bgColor });
          const dir = job.output.slice(0, job.output.lastIndexOf("/"));
          if (dir) await Deno.mkdir(dir, { recursive: true });
          await Deno.writeFile(job.output, png, { createNew: !overwrite });
          written++;
          progress.tick(`${job.input} -> ${job.output}`);
        } catch (e) {
          if (e instanceof Deno.errors.AlreadyExists) {
            skipped++;
            progress.tick(`${job.input} skipped (exists)`);
          } else if (e instanceof Deno.errors.NotCapable) throw e;
          else fail(job, e);
        }
      }
    }
    progress.done();
    console.log(`predict: ${written} written, ${skipped} skipped, ${failed} failed -> ${outDir}`);
    return failed ? 1 : 0;
  } finally {
    predictor?.dispose?.();
    model.dispose();
  }
}

/**
 * Runs `predict` with `args`; returns the exit status.
 *
 * @example
 * ```ts
 * import { run } from "./predict.ts";
 * await run(["--help"]); // 0
 * ```
 */
export function run(args: string[]): Promise<number> {
  return runCommand("predict", () => predict(args));
}
