/**
 * `predict <image|folder|->... [options]`: masks, soft masks or cut-outs for
 * files and folders (recursive), batched, written as PNGs under `--output`
 * (folder structure kept), to one named `.png`, or to stdout (`-o -`; `-` as
 * the input reads stdin and, without `-o`, writes stdout). Images are turned
 * to their EXIF orientation first. Relative paths are taken from the folder
 * the user ran `deno task` in (`$INIT_CWD`). Existing outputs are skipped
 * unless `--overwrite` (the summary says so); a file that fails is reported
 * with the reason and the run goes on (exit 1 at the end when any failed).
 * Inputs are resolved through symlinks and must stay inside the allowed
 * folders (`_safe_files.ts`).
 *
 * @module
 */
import { dirname } from "node:path";
import { BACKEND_NAMES, type BackendName, checkHalfPrecision } from "../lib/backend.ts";
import { loadInferenceModel } from "../lib/model/load_weights.ts";
import {
  ALPHA_MODES,
  createPredictor,
  DEFAULT_ALPHA,
  DEFAULT_FORMAT,
  DEFAULT_MATTING,
  DEFAULT_MAX_BATCH,
  DEFAULT_POST_PROCESS,
  DEFAULT_PREDICT_INPUT_SIZE,
  DEFAULT_RESIZE,
  DEFAULT_THRESHOLD,
  DEFAULT_WEIGHTS_PATH,
  OUTPUT_FORMATS,
  parseColor,
  POST_PROCESS_THRESHOLD,
  type Predictor,
  RESIZE_MODES,
  type RgbColor,
  selectInferenceBackend,
  WEIGHTS_ENV,
} from "../lib/predict/mod.ts";
import {
  choiceOption,
  type CommandSpec,
  formatHelp,
  intOption,
  numberOption,
  parseCommand,
  requirePermission,
  runCommand,
  stringOption,
  UserError,
} from "./_common.ts";
import {
  ENGINE_OPTION,
  engineOption,
  halfNote,
  MAX_ENGINE_BYTES_OPTION,
  maxEngineBytesOption,
  PRECISION_OPTION,
  precisionOption,
  PREPROCESS_OPTION,
  preprocessOption,
  THREADS_OPTION,
  threadsOption,
} from "./_engine_options.ts";
import { collectJobs, IMAGE_EXTENSIONS, outputTarget } from "./_predict_files.ts";
import { runJobs } from "./_predict_loop.ts";
import { count, escapeControls, printable } from "./_progress.ts";
import {
  allowedRoots,
  checkOutputDir,
  FileRefused,
  MAX_IMAGE_BYTES,
  userPath,
} from "./_safe_files.ts";
import { MODEL_NAMES_HELP, resolveCliWeights } from "./_weights.ts";

export { IMAGE_EXTENSIONS, MAX_IMAGE_BYTES };

/** Default output folder of `predict`. */
export const DEFAULT_OUTPUT_DIR = "predictions";

/** The `predict` command's options (defaults from the library's constants). */
export const PREDICT_SPEC: CommandSpec = {
  name: "predict",
  usage: "<image|folder|->...",
  summary: `Writes a PNG per image. Folders are searched recursively for ${
    IMAGE_EXTENSIONS.join("/")
  };
"-" reads stdin. Images are turned to their EXIF orientation first. Relative paths start from the
folder you ran "deno task" in ($INIT_CWD). Inputs must resolve (symlinks followed) inside the
project, that folder or the folders you name; links in scanned folders are listed, not followed.
Files that cannot be read are listed with the reason (exit status 1).`,
  options: {
    output: {
      type: "string",
      short: "o",
      arg: "DIR|FILE.png|-",
      help: "output folder; one input may go to FILE.png, or to stdout with -",
      default: `${DEFAULT_OUTPUT_DIR} (stdout for input -)`,
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
      help: "foreground where probability > T (mask, cutout with --alpha hard)",
      default: DEFAULT_THRESHOLD,
    },
    alpha: {
      type: "string",
      arg: ALPHA_MODES.join("|"),
      help:
        "cut-out alpha: the soft mask (as rembg), 0/255 at the threshold, or rembg -a's alpha matting (slower: seconds a photo)",
      default: DEFAULT_ALPHA,
    },
    "matting-fg": {
      type: "string",
      arg: "T",
      help: "alpha matting: sure foreground where the 8-bit mask > T, eroded (rembg -af)",
      default: DEFAULT_MATTING.foregroundThreshold,
    },
    "matting-bg": {
      type: "string",
      arg: "T",
      help: "alpha matting: sure background where the 8-bit mask < T, eroded (rembg -ab)",
      default: DEFAULT_MATTING.backgroundThreshold,
    },
    "matting-erode": {
      type: "string",
      arg: "N",
      help: "alpha matting: erode both by an N x N square, 0 a 3x3 cross (rembg -ae)",
      default: DEFAULT_MATTING.erodeSize,
    },
    "post-process": {
      type: "boolean",
      help:
        `clean the mask as rembg -ppm (3x3 opening, 5x5 blur, cut at ${POST_PROCESS_THRESHOLD}/255)`,
      default: DEFAULT_POST_PROCESS,
    },
    engine: ENGINE_OPTION,
    threads: THREADS_OPTION,
    precision: PRECISION_OPTION,
    preprocess: PREPROCESS_OPTION,
    "max-engine-bytes": MAX_ENGINE_BYTES_OPTION,
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
      arg: "FILE|NAME",
      help: `weights (.safetensors, .pth, .onnx) or a trained model: ${MODEL_NAMES_HELP}`,
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
    "deno task predict photo.jpg --weights u2netp --format cutout",
    "deno task predict tests/testdata/images -o predictions --format cutout",
    "deno task predict photo.jpg -o cutout.png -f cutout --post-process",
    "deno task predict photo.jpg -o cutout.png --alpha matting --matting-erode 15",
    "deno task -q predict - -f cutout < photo.jpg > cutout.png",
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
  const inputs = p.positionals.map((x) => userPath(x));
  if (inputs.includes("-") && inputs.length > 1) {
    throw new UserError(`"-" (stdin) must be the only input, got ${inputs.length} inputs`);
  }
  const outArg = typeof p.values.output === "string" ? userPath(p.values.output) : undefined;
  const target = await outputTarget(inputs, outArg, DEFAULT_OUTPUT_DIR);
  const outPath = "dir" in target ? target.dir : target.file;
  const format = choiceOption(p, "format", OUTPUT_FORMATS, DEFAULT_FORMAT);
  const threshold = numberOption(p, "threshold", DEFAULT_THRESHOLD, 0, 1);
  const alpha = choiceOption(p, "alpha", ALPHA_MODES, DEFAULT_ALPHA);
  const matting = {
    foregroundThreshold: intOption(p, "matting-fg", DEFAULT_MATTING.foregroundThreshold, 0, 255),
    backgroundThreshold: intOption(p, "matting-bg", DEFAULT_MATTING.backgroundThreshold, 0, 255),
    erodeSize: intOption(p, "matting-erode", DEFAULT_MATTING.erodeSize, 0, 255),
  };
  const postProcess = p.values["post-process"] === true;
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
  // options that only shape a cut-out: say so rather than ignore them silently
  const cutoutOnly = [
    ["--bg-color", bgColor !== undefined],
    ["--alpha", p.values.alpha !== undefined],
  ].filter(([, given]) => given).map(([flag]) => flag);
  if (format !== "cutout" && cutoutOnly.length) {
    const [verb, them] = cutoutOnly.length > 1 ? ["apply", "them"] : ["applies", "it"];
    const flags = cutoutOnly.join(" and ");
    console.error(`predict: ${flags} ${verb} to cut-outs only: -f ${format} ignores ${them}`);
  }
  if (outPath !== "-") {
    const flag = `--allow-write=${escapeControls(outPath)}`;
    requirePermission("predict", { name: "write", path: outPath }, flag);
  }
  const found = await collectJobs(inputs, target, await allowedRoots(inputs));
  const jobs = found.jobs;
  if ("file" in target && jobs.length !== 1) {
    throw new UserError(
      `-o ${printable(outPath)} names one output, but the inputs hold ${
        count(jobs.length, "image")
      }; give a folder`,
    );
  }
  const outFolder = "dir" in target ? outPath : dirname(outPath);
  const outRoots = await allowedRoots(outPath === "-" ? [] : [outFolder]);
  if (outPath !== "-") {
    await checkOutputDir(outFolder, outRoots).catch((e) => {
      throw e instanceof FileRefused ? new UserError(e.message) : e;
    });
  }
  // Checked before the weights load, so that a bad value fails first.
  const precision = precisionOption(p), threads = threadsOption(p);
  const resolved = await resolveCliWeights("predict", stringOption(p, "weights", ""), {
    identify: true,
  });
  const weights = resolved.path;
  const backend = await selectInferenceBackend(backendName);
  const model = await loadInferenceModel(weights);
  let predictor: Predictor | undefined;
  try {
    if (arch !== "auto" && model.config.name !== arch) {
      throw new UserError(`--model ${arch}, but ${weights} holds a ${model.config.name} network`);
    }
    console.error(
      `predict: ${model.config.name} from ${weights} on ${backend.backend}, ${
        count(jobs.length, "file")
      }`,
    );
    predictor = createPredictor(model, {
      inputSize,
      resize,
      maxBatch: batch,
      engine,
      threads,
      precision,
      maxEngineBytes: maxEngineBytesOption(p),
      // a named model (or its release file) is used with the preprocessing it was trained with
      preprocess: preprocessOption(p) ?? resolved.model?.preprocess,
    });
    const engineName = predictor.engine?.name ?? "tfjs";
    await checkHalfPrecision(engineName, precision, "predict");
    if (predictor.engine) console.error(`engine: ${predictor.engine.describe()}`);
    const note = halfNote(engineName, precision);
    if (note) console.error(note);
    return await runJobs(found, {
      predictor,
      render: { format, threshold, alpha, matting, postProcess, bgColor },
      batch,
      overwrite,
      outRoots,
      say: outPath === "-" ? console.error : console.log,
      outLabel: outPath === "-" ? "stdout" : outPath,
    });
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
