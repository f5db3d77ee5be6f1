/**
 * `serve [options]`: the prediction server (`POST /predict`, `GET /healthz`,
 * `GET /` upload page) on our HTTP/1.1 transport (`lib/http/http_server.ts`:
 * header and idle timeouts, a connection cap, survives running out of file
 * descriptors), weights loaded once at start-up.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../lib/backend.ts";
import { createApp } from "../lib/http/app.ts";
import { DEFAULT_MAX_PIXELS } from "../lib/http/handler.ts";
import { DEFAULT_MAX_WAITING } from "../lib/http/queue.ts";
import { DEFAULT_MAX_INFLIGHT_BYTES } from "../lib/http/byte_budget.ts";
import { DEFAULT_WORKERS } from "../lib/http/worker_pool.ts";
import {
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  serveHttp,
} from "../lib/http/http_server.ts";
import { createHttpServerStats } from "../lib/http/http_server_stats.ts";
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
  runCommand,
  runHint,
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
import { MODEL_NAMES_HELP, resolveCliWeights } from "./_weights.ts";

/** Default listen address (loopback only; use 0.0.0.0 to expose it). */
export const DEFAULT_HOST = "127.0.0.1";

/** Default port. */
export const DEFAULT_PORT = 8000;

/** The `serve` command's options. */
export const SERVE_SPEC: CommandSpec = {
  name: "serve",
  usage: "",
  summary:
    "Serves POST /predict, rembg's POST /api/remove (multipart file, a, af, ab, ae, om, ppm, bgc), GET /healthz and an upload page at GET /.",
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
      arg: "FILE|NAME",
      help: `weights file or a trained model: ${MODEL_NAMES_HELP}`,
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
    precision: PRECISION_OPTION,
    preprocess: PREPROCESS_OPTION,
    "max-engine-bytes": MAX_ENGINE_BYTES_OPTION,
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
    workers: {
      type: "string",
      arg: "N",
      help: "prediction worker threads, each with its own copy of the model (0: in-thread)",
      default: DEFAULT_WORKERS,
    },
    concurrency: {
      type: "string",
      arg: "N",
      help: "predictions running at once",
      default: "the workers (1 in-thread)",
    },
    queue: {
      type: "string",
      arg: "N",
      help: "requests admitted beyond the running ones (beyond: 503 before reading)",
      default: DEFAULT_MAX_WAITING,
    },
    "max-inflight-bytes": {
      type: "string",
      arg: "N",
      help: "upload bytes held at once across requests (beyond: 503)",
      default: DEFAULT_MAX_INFLIGHT_BYTES,
    },
    cors: {
      type: "string",
      arg: "ORIGIN",
      help: "allow browser pages on ORIGIN (or *, or a comma list) to call the server",
      default: "none",
    },
    "header-timeout": {
      type: "string",
      arg: "MS",
      help: "deadline for a request's head (line and headers); slower clients are closed",
      default: DEFAULT_HEADER_TIMEOUT_MS,
    },
    "idle-timeout": {
      type: "string",
      arg: "MS",
      help: "how long a kept-alive connection may wait for its next request",
      default: DEFAULT_IDLE_TIMEOUT_MS,
    },
    "max-connections": {
      type: "string",
      arg: "N",
      help: "open connections at most (beyond: the longest idle one is closed, else 503)",
      default: DEFAULT_MAX_CONNECTIONS,
    },
  },
  examples: [
    "deno task serve --weights u2netp",
    "deno task serve --weights runs/demo/model_best.safetensors",
    "curl -s --data-binary @photo.png -H 'content-type: image/png' 'http://127.0.0.1:8000/predict?format=cutout' -o cutout.png",
    "curl -s -F file=@photo.jpg -F a=true -o cutout.png http://127.0.0.1:8000/api/remove   # as rembg s",
  ],
};

/** Prints the one-line busy-port error when `e` is one. */
function portInUse(e: unknown, hostname: string, port: number): boolean {
  if (!(e instanceof Deno.errors.AddrInUse)) return false;
  console.error(
    `serve: Cannot listen on ${hostname}:${port}: the port is in use (try --port N or --port 0)`,
  );
  return true;
}

async function serve(args: string[]): Promise<number> {
  const p = parseCommand(args, SERVE_SPEC);
  if (p === "help") {
    console.log(formatHelp(SERVE_SPEC));
    return 0;
  }
  if (p.positionals.length) throw new UserError(`unexpected argument "${p.positionals[0]}"`);
  const hostname = stringOption(p, "host", DEFAULT_HOST);
  const port = intOption(p, "port", DEFAULT_PORT, 0, 65535);
  const host = port ? `${hostname}:${port}` : hostname;
  if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") {
    const flag = `--allow-net=${hostname}`;
    throw new UserError(`serve needs ${flag} to listen on ${hostname}; ${runHint("serve", flag)}`);
  }
  const transport = {
    hostname,
    port,
    headerTimeoutMs: intOption(p, "header-timeout", DEFAULT_HEADER_TIMEOUT_MS, 1),
    idleTimeoutMs: intOption(p, "idle-timeout", DEFAULT_IDLE_TIMEOUT_MS, 1),
    maxConnections: intOption(p, "max-connections", DEFAULT_MAX_CONNECTIONS, 1, 1_000_000),
    stats: createHttpServerStats(),
  };
  try {
    if (port) Deno.listen({ hostname, port }).close(); // a busy port fails now, not after loading
  } catch (e) {
    if (portInUse(e, hostname, port)) return 1;
    throw e;
  }
  const resolved = await resolveCliWeights("serve", stringOption(p, "weights", ""), {
    identify: true,
  });
  const weights = resolved.path;
  const app = await createApp({
    weights,
    modelName: resolved.model?.name,
    preprocess: preprocessOption(p) ?? resolved.model?.preprocess,
    env: envWeights(),
    backend: choiceOption(p, "backend", BACKEND_NAMES, "auto" as BackendName),
    inputSize: intOption(p, "input-size", DEFAULT_PREDICT_INPUT_SIZE, 8, 4096),
    resize: choiceOption(p, "resize", RESIZE_MODES, DEFAULT_RESIZE),
    engine: engineOption(p),
    threads: threadsOption(p),
    precision: precisionOption(p),
    maxEngineBytes: maxEngineBytesOption(p),
    maxBodyBytes: intOption(p, "max-body-bytes", DEFAULT_MAX_BODY_BYTES, 1),
    maxPixels: intOption(p, "max-pixels", DEFAULT_MAX_PIXELS, 1, 2 ** 40),
    readTimeoutMs: intOption(p, "read-timeout", DEFAULT_READ_TIMEOUT_MS, 1),
    workers: intOption(p, "workers", DEFAULT_WORKERS, 0, 64),
    concurrency: p.values.concurrency === undefined
      ? undefined
      : intOption(p, "concurrency", 1, 1, 64),
    maxQueue: intOption(p, "queue", DEFAULT_MAX_WAITING, 0, 100_000),
    maxInflightBytes: intOption(p, "max-inflight-bytes", DEFAULT_MAX_INFLIGHT_BYTES, 1, 2 ** 40),
    cors: stringOption(p, "cors", "") || undefined,
    health: { connections: transport.stats },
    onError: (e) => console.error("internal error:", e),
  });
  const b = app.backend;
  console.error(
    `serve: ${app.info.arch} from ${app.weights} on ${b.backend}` +
      (b.adapter ? ` (${b.adapter})` : "") + (b.notes.length ? `; ${b.notes.join("; ")}` : "") +
      `; ${app.mode}` + (app.fallbackReason ? ` (${app.fallbackReason})` : ""),
  );
  console.error(`engine: ${app.engine}`);
  const note = halfNote(app.engineName, precisionOption(p));
  if (note) console.error(note);
  const ac = new AbortController();
  // the first signal ends it gracefully; a second one while requests finish, at once
  const stop = () => ac.signal.aborted ? Deno.exit(130) : ac.abort();
  // SIGTERM (container stops) as Ctrl-C: requests in progress end, then the workers
  const signals = (["SIGINT", "SIGTERM"] as const).filter((s) => {
    try {
      Deno.addSignalListener(s, stop);
      return true;
    } catch {
      return false; // Windows has no SIGTERM
    }
  });
  const unlisten = () => signals.forEach((s) => Deno.removeSignalListener(s, stop));
  let server;
  try {
    server = serveHttp(app.fetch, {
      ...transport,
      signal: ac.signal,
      onListen: ({ hostname: h, port: p }) => console.log(`serve: listening on http://${h}:${p}/`),
      onError: (e) => console.error("internal error:", e),
    });
  } catch (e) {
    unlisten();
    await app.close();
    if (portInUse(e, hostname, port)) return 1;
    throw e;
  }
  await server.finished;
  unlisten();
  await app.close();
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
