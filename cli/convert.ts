/**
 * `convert <input> <output.safetensors> [--fold-bn]`: reads U2-Net weights
 * of any supported format (safetensors, `.pth` zip or legacy, ONNX), prints
 * what it detected (format, naming, architecture, conv bias, parameter count,
 * one line each) and writes seed-named PyTorch-layout safetensors, optionally
 * with BatchNorm folded into the convs.
 *
 * Runs on its own (`deno run --allow-read=IN --allow-write=OUT cli/convert.ts …`)
 * or through `cli/main.ts`, which dispatches `convert` to {@linkcode run}.
 * Relative paths start from `$INIT_CWD` (where `deno task` was run); the
 * input is resolved through symlinks and must stay in the allowed folders,
 * is read only when a regular file, at most {@linkcode MAX_WEIGHTS_BYTES};
 * the output folder is created, and a symlinked output is refused.
 *
 * @module
 */
import { dirname } from "node:path";
import { selectBackend } from "../lib/backend.ts";
import { exportFolded, saveSafetensors } from "../lib/model/export.ts";
import { exportOnnx, ONNX_EXPORT_OPSET } from "../lib/engines/onnx/onnx_export.ts";
import { readWeights } from "../lib/io/read_weights.ts";
import { modelFromWeights } from "../lib/model/load_weights.ts";
import { escapeControls } from "./_progress.ts";
import {
  allowedRoots,
  FileRefused,
  makeOutputDir,
  MAX_WEIGHTS_BYTES,
  mayRead,
  readBounded,
  refuseLinkedOutput,
  resolveInside,
  userPath,
} from "./_safe_files.ts";

export { MAX_WEIGHTS_BYTES };

/** The usage line of `convert`. */
export const CONVERT_USAGE =
  "usage: deno task convert <input> <output.safetensors|output.onnx> [--fold-bn] [--overwrite]";

const HELP = `${CONVERT_USAGE}

Converts U2-Net weights (.safetensors, .pth zip or legacy, .onnx) to safetensors
with the seed's key names and PyTorch layout, loadable in PyTorch with
safetensors.torch.load_file + load_state_dict; or, to an output ending in .onnx,
to an ONNX model (opset ${ONNX_EXPORT_OPSET}, BatchNorm folded, any batch and size, one
output: the fused map d0) that onnxruntime and rembg load (rembg applies its own
preprocessing: max-scaling and LANCZOS, not the seed's /255 and bilinear).
Relative paths start from the folder you ran "deno task" in ($INIT_CWD); the
output folder is created. Inputs up to ${MAX_WEIGHTS_BYTES} bytes; symlinks must stay
inside the project or that folder.

  --fold-bn   fold BatchNorm into the convs (inference-only network; always for .onnx)
  --overwrite replace an existing output (never the input itself)
  -h, --help  show this help

examples:
  deno task convert u2netp.pth weights/u2netp.safetensors
  deno task convert runs/demo/model_best.safetensors weights/demo.onnx`;

/** A user mistake: reported as one line (with the usage line when `showUsage`), exit status 1. */
class UsageError extends Error {
  constructor(message: string, readonly showUsage = false) {
    super(message);
  }
}

interface ConvertArgs {
  input: string;
  output: string;
  foldBn: boolean;
  overwrite: boolean;
}

function parseArgs(args: string[]): ConvertArgs | "help" {
  const positional: string[] = [];
  let foldBn = false, overwrite = false;
  for (const a of args) {
    if (a === "-h" || a === "--help") return "help";
    if (a === "--fold-bn") foldBn = true;
    else if (a === "--overwrite") overwrite = true;
    else if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option ${a}`, true);
    else positional.push(a);
  }
  if (positional.length !== 2) {
    throw new UsageError(
      `expected <input> <output.safetensors|output.onnx>, got ${positional.length} paths`,
      true,
    );
  }
  const [input, output] = positional;
  if (!/\.(safetensors|onnx)$/i.test(output)) {
    throw new UsageError(`output "${output}" must end in .safetensors or .onnx`, true);
  }
  return { input, output, foldBn, overwrite };
}

function fsMessage(verb: string, path: string, e: unknown): string {
  path = escapeControls(path);
  if (e instanceof FileRefused) {
    return `cannot ${verb} "${path}": it ${e.message.replace(/^it /, "")}`;
  }
  if (e instanceof Deno.errors.NotFound) {
    return `cannot ${verb} "${path}": no such file or directory`;
  }
  if (e instanceof Deno.errors.NotCapable) {
    const flag = verb === "write" ? "--allow-write" : "--allow-read";
    return `cannot ${verb} "${path}": convert needs ${flag}=${path} (run it through "deno task convert")`;
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return `cannot ${verb} "${path}": permission denied`;
  }
  if (e instanceof Deno.errors.IsADirectory) return `cannot ${verb} "${path}": it is a directory`;
  return `cannot ${verb} "${path}": ${firstLine(e)}`;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

async function convert(args: ConvertArgs): Promise<void> {
  const a = { ...args, input: userPath(args.input), output: userPath(args.output) };
  let bytes: Uint8Array, real: string;
  try {
    real = await resolveInside(a.input, await allowedRoots([a.input]));
    bytes = await readBounded(real, MAX_WEIGHTS_BYTES);
  } catch (e) {
    throw new UsageError(fsMessage("read", a.input, e));
  }
  // (queried first: a path this process may not read is left to the write to refuse, unprompted)
  const info = mayRead(a.output) ? await Deno.lstat(a.output).catch(() => undefined) : undefined;
  if (info && !info.isSymlink) { // a link is refused below, whatever it leads to
    if (await Deno.realPath(a.output) === real) {
      throw new UsageError(
        `cannot write "${escapeControls(a.output)}": it is the input; name another file`,
      );
    }
    if (!a.overwrite) {
      throw new UsageError(
        `cannot write "${escapeControls(a.output)}": it exists; add --overwrite to replace it`,
      );
    }
  }
  await selectBackend("cpu");
  const weights = await readWeights(bytes, a.input);
  const model = modelFromWeights(weights);
  try {
    console.log(`format: ${weights.format}`);
    console.log(`naming: ${weights.naming}`);
    console.log(`architecture: ${weights.arch}`);
    console.log(`conv bias: ${weights.convBias}`);
    console.log(`parameters: ${model.numParameters()}`);
    const onnx = /\.onnx$/i.test(a.output), fold = (a.foldBn || onnx) && model.batchNorm;
    const out = onnx
      ? await exportOnnx(model)
      : fold
      ? await exportFolded(model)
      : await saveSafetensors(model);
    try {
      const dir = dirname(a.output);
      await makeOutputDir(dir, await allowedRoots([dir]));
      await refuseLinkedOutput(a.output);
      await Deno.writeFile(a.output, out);
    } catch (e) {
      throw new UsageError(fsMessage("write", a.output, e));
    }
    const bn = fold || !model.batchNorm ? "folded" : "kept";
    console.log(`wrote ${escapeControls(a.output)} (${out.byteLength} bytes, BatchNorm ${bn})`);
  } finally {
    model.dispose();
  }
}

/**
 * Runs `convert` with its arguments (without the `convert` word) and returns
 * the exit status: 0 on success, 1 on any error, reported as one line on
 * stderr without a stack trace.
 *
 * @example
 * ```ts ignore
 * import { run } from "./convert.ts";
 * const status = await run(["tests/testdata/lite_orig_legacy.pth", "tests/.tmp/u2netp.safetensors"]);
 * ```
 */
export async function run(args: string[]): Promise<number> {
  try {
    const parsed = parseArgs(args);
    if (parsed === "help") {
      console.log(HELP);
      return 0;
    }
    await convert(parsed);
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError && e.showUsage ? ` (${CONVERT_USAGE})` : "";
    console.error(`convert: ${firstLine(e)}${usage}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await run(Deno.args));
