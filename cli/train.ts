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
import type { BackendName } from "../lib/backend.ts";
import {
  type InferenceBackendInfo,
  selectInferenceBackend,
} from "../lib/predict/inference_backend.ts";
import { resumeBackend } from "../lib/train/resume_backend.ts";
import { train } from "../lib/train/train_loop.ts";
import { formatProgressBar } from "../lib/train/progress_bar.ts";
import type { TrainProgress } from "../lib/train/train_one_epoch.ts";
import { runCommand } from "./_common.ts";
import { checkTrainPermissions, parseTrainArgs, TRAIN_HELP } from "./_train_args.ts";

export { TRAIN_HELP, TRAIN_SPEC } from "./_train_args.ts";

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
export function run(args: string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  let out = makeOutput(undefined);
  const onSigint = () => {
    if (++interrupts > 1) Deno.exit(130);
    out.log("interrupt: stopping after this iteration (Ctrl-C again to quit now)");
    controller.abort();
  };
  let listening = false;
  return runCommand("train", async () => {
    try {
      const parsed = parseTrainArgs(args);
      if (parsed === "help") {
        console.log(TRAIN_HELP);
        return 0;
      }
      checkTrainPermissions(parsed.options);
      // auto: a hardware WebGPU adapter, else wasm, else cpu (a software
      // WebGPU adapter such as llvmpipe trains ~10x slower than wasm).
      const info = await pickBackend(parsed.backend, parsed.options.resume);
      out.log(
        `backend: ${info.backend}${info.adapter ? ` (${info.adapter})` : ""}${
          info.notes.length ? ` (${info.notes.join("; ")})` : ""
        }`,
      );
      try {
        Deno.addSignalListener("SIGINT", onSigint);
        listening = true;
      } catch { /* no signals here */ }
      out = makeOutput(parsed.options.epochs);
      const result = await train(parsed.options, {
        onLog: (l) => out.log(l),
        onProgress: (p) => out.progress(p),
        onEngine: (line) => console.error(`engine: ${line}`),
        signal: controller.signal,
      });
      out.done();
      const last = result.history.at(-1);
      // Written at the first evaluation / epoch: absent when stopped before.
      if (await isFile(result.resultsFile)) out.log(`results: ${result.resultsFile}`);
      if (await isFile(result.chartFile)) out.log(`chart: ${result.chartFile}`);
      if (result.lastCheckpoint) out.log(`checkpoint: ${result.lastCheckpoint}`);
      if (result.bestWeights) out.log(`best: ${result.bestWeights} (epoch ${result.best?.epoch})`);
      if (result.predictionFile) out.log(`prediction: ${result.predictionFile}`);
      if (last?.mae !== undefined) {
        out.log(`MAE: ${last.mae.toFixed(3)} maxF1: ${last.maxF!.toFixed(3)}`);
      }
      return 0;
    } finally {
      out.done();
      if (listening) Deno.removeSignalListener("SIGINT", onSigint);
    }
  });
}

if (import.meta.main) Deno.exit(await run(Deno.args));

/**
 * The backend: `--backend`, else on `--resume` the one the checkpoint trained
 * on (a resume is bit-exact only there), else auto.
 */
async function pickBackend(
  given: BackendName | undefined,
  resume: string | undefined,
): Promise<InferenceBackendInfo> {
  const saved = !given && resume ? await resumeBackend(resume) : undefined;
  if (!saved) return selectInferenceBackend(given ?? "auto");
  if (saved === "webgpu") { // a hardware adapter only: a software one trains ~10x slower than wasm
    const info = await selectInferenceBackend("auto");
    const note = info.backend === "webgpu"
      ? "the checkpoint's; --backend to change"
      : "the checkpoint trained on webgpu, which has no hardware adapter here (--backend webgpu forces a software one)";
    return { ...info, notes: [...info.notes, note] };
  }
  try {
    const info = await selectInferenceBackend(saved);
    return { ...info, notes: [...info.notes, "the checkpoint's; --backend to change"] };
  } catch (e) {
    const info = await selectInferenceBackend("auto");
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    return { ...info, notes: [...info.notes, `the checkpoint's ${saved} is unavailable: ${why}`] };
  }
}

/** Whether `path` is a file (a function declaration: `run` may start before this module ends). */
function isFile(path: string): Promise<boolean> {
  return Deno.stat(path).then((i) => i.isFile, () => false);
}
