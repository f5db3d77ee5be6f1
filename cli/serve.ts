/**
 * `serve [options]`: the prediction server (`POST /predict`, `GET /healthz`,
 * `GET /` upload page) on `Deno.serve`, weights loaded once at start-up.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../lib/backend.ts";
import { createApp } from "../lib/http/app.ts";
import { resolveWeightsPath } from "../lib/predict/weights_path.ts";
import { DEFAULT_MAX_PIXELS } from "../lib/http/handler.ts";
import { DEFAULT_CONCURRENCY, DEFAULT_MAX_WAITING } from "../lib/http/queue.ts";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_READ_TIMEOUT_MS } from "../lib/http/read_body.ts";
import {
  DEFAULT_PREDICT_INPUT_SIZE,
  DEFAULT_RESIZE,
  DEFAULT_WEIGHTS_PATH,
  RESIZE_MODES,
  WEIGHTS_ENV,
} from "../lib/predict/mod.ts";
import {
  choiceOption,
  type CommandSpec,
  envWeights,
  formatHelp,
  intOption,
  parseCommand,
  requirePermission,
  runCommand,
  stringOption,
  UserError,
} from "./_common.ts";
import { ENGINE_OPTION, engineOption, THREADS_OPTION, threadsOption } from "./_engine_options.ts";

/** Default listen address (loopback only; use 0.0.0.0 to expose it). */
export const DEFAULT_HOST = "127.0.0.1";

/** Default port. */
export const DEFAULT_PORT = 8000;

/** The `serve` command's options. */
export const SERVE_SPEC: CommandSpec = {
  name: "serve",
  usage: "",
  summary: "Serves POST /predict, GET /healthz and an upload page at GET /.",
  options: {
    host: { type: "string", arg: "HOST", help: "listen address", default: DEFAULT_HOST },
    port: {
      type: "string",
      short: "p",
      arg: "PORT",
      help: "listen port (0: any free port)",
      default: DEFAULT_PORT,
    },
    weights: {
      type: "string",
      short: "w",
      arg: "FILE",
      help: "weights",
      default: `$${WEIGHTS_ENV} or ${DEFAULT_WEIGHTS_PATH}`,
    },
    backend: {
      type: "string",
      arg: BACKEND_NAMES.join("|"),
      help: "tfjs backend (auto: WebGPU, else wasm, else cpu)",
      default: "auto",
    },
    "input-size": {
      type: "string",
      arg: "N",
      help: "network input side",
      default: DEFAULT_PREDICT_INPUT_SIZE,
    },
    engine: ENGINE_OPTION,
    threads: THREADS_OPTION,
    resize: {
      type: "string",
      arg: RESIZE_MODES.join("|"),
      help: "resize mode",
      default: DEFAULT_RESIZE,
    },
    "max-body-bytes": {
      type: "string",
      arg: "N",
      help: "largest upload",
      default: DEFAULT_MAX_BODY_BYTES,
    },
    "max-pixels": {
      type: "string",
      arg: "N",
      help: "largest image, from its header, before decoding",
      default: DEFAULT_MAX_PIXELS,
    },
    "read-timeout": {
      type: "string",
      arg: "MS",
      help: "deadline for an upload to arrive",
      default: DEFAULT_READ_TIMEOUT_MS,
    },
    concurrency: {
      type: "string",
      arg: "N",
      help: "predictions running at once",
      default: DEFAULT_CONCURRENCY,
    },
    queue: {
      type: "string",
      arg: "N",
      help: "predictions waiting at most (beyond: 503)",
      default: DEFAULT_MAX_WAITING,
    },
  },
  examples: [
    "deno task serve --weights runs/demo/model_best.safetensors",
    "curl -s --data-binary @photo.png -H 'content-type: image/png' 'http://127.0.0.1:8000/predict?format=cutout' -o cutout.png",
  ],
};

async function serve(args: string[]): Promise<number> {
  const p = parseCommand(args, SERVE_SPEC);
  if (p === "help") {
    console.log(formatHelp(SERVE_SPEC));
    return 0;
  }
  if (p.positionals.length) throw new UserError(`unexpected argument "${p.positionals[0]}"`);
  const hostname = stringOption(p, "host", DEFAULT_HOST);
  const port = intOption(p, "port", DEFAULT_PORT, 0, 65535);
  requirePermission(
    "serve",
    { name: "net", host: port ? `${hostname}:${port}` : hostname },
    `--allow-net=${hostname}`,
  );
  const weights = resolveWeightsPath(stringOption(p, "weights", ""), { env: envWeights() });
  requirePermission("serve", { name: "read", path: weights }, `--allow-read=${weights}`);
  const app = await createApp({
    weights,
    env: envWeights(),
    backend: choiceOption(p, "backend", BACKEND_NAMES, "auto" as BackendName),
    inputSize: intOption(p, "input-size", DEFAULT_PREDICT_INPUT_SIZE, 8, 4096),
    resize: choiceOption(p, "resize", RESIZE_MODES, DEFAULT_RESIZE),
    engine: engineOption(p),
    threads: threadsOption(p),
    maxBodyBytes: intOption(p, "max-body-bytes", DEFAULT_MAX_BODY_BYTES, 1),
    maxPixels: intOption(p, "max-pixels", DEFAULT_MAX_PIXELS, 1, 2 ** 40),
    readTimeoutMs: intOption(p, "read-timeout", DEFAULT_READ_TIMEOUT_MS, 1),
    concurrency: intOption(p, "concurrency", DEFAULT_CONCURRENCY, 1, 64),
    maxQueue: intOption(p, "queue", DEFAULT_MAX_WAITING, 0, 100_000),
    onError: (e) => console.error("internal error:", e),
  });
  const b = app.backend;
  console.error(
    `serve: ${app.model.config.name} from ${app.weights} on ${b.backend}` +
      (b.adapter ? ` (${b.adapter})` : "") + (b.notes.length ? `; ${b.notes.join("; ")}` : ""),
  );
  const ac = new AbortController();
  const stop = () => ac.abort();
  Deno.addSignalListener("SIGINT", stop);
  const server = Deno.serve({
    hostname,
    port,
    signal: ac.signal,
    onListen: ({ hostname: h, port: p }) => console.log(`serve: listening on http://${h}:${p}/`),
  }, app.fetch);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  app.model.dispose();
  return 0;
}

/**
 * Runs `serve` with `args`; returns the exit status when the server stops (Ctrl-C).
 *
 * @example
 * ```ts
 * import { run } from "./serve.ts";
 * await run(["--help"]); // 0
 * ```
 */
export function run(args: string[]): Promise<number> {
  return runCommand("serve", () => serve(args));
}
