/**
 * Entry module for `deno serve`:
 *
 * ```sh
 * U2NET_WEIGHTS=runs/demo/model_best.safetensors deno serve --host 127.0.0.1 --port 8000 \
 *   --allow-read=. --allow-env=U2NET_WEIGHTS,U2NET_BACKEND lib/http/server.ts
 * ```
 *
 * Loads the weights once at start-up (`U2NET_WEIGHTS`, else the README
 * demo's `runs/demo/model_best.safetensors`) on `U2NET_BACKEND` (default
 * auto: WebGPU, else wasm, else cpu; see `/healthz`), with network input
 * side `U2NET_INPUT_SIZE` (default 320), `U2NET_WORKERS` prediction workers
 * (default 1; 0: in-thread) and CORS origin(s) `U2NET_CORS` (default none).
 * Without weights it
 * prints one line saying how to get them and exits with status 1: unlike
 * the rest of `lib/`, this module is a program entry point.
 *
 * On SIGINT or SIGTERM (where the runtime has signals), `deno serve` stops
 * accepting connections; this module then lets the requests in progress end
 * (at most {@linkcode SHUTDOWN_GRACE_MS}) and closes the app, whose
 * prediction workers would otherwise keep the process alive.
 *
 * @module
 */
import type { BackendName } from "../backend.ts";
import { readModelEnv } from "../io/model_cache.ts";
import { type App, createApp } from "./app.ts";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env for it: treat as unset
  }
}

let app: App;
try {
  app = await createApp({
    env: env("U2NET_WEIGHTS"),
    backend: (env("U2NET_BACKEND") ?? "auto") as BackendName,
    inputSize: env("U2NET_INPUT_SIZE") ? Number(env("U2NET_INPUT_SIZE")) : undefined,
    workers: env("U2NET_WORKERS") ? Number(env("U2NET_WORKERS")) : undefined,
    cors: env("U2NET_CORS"),
    model: { env: readModelEnv() }, // U2NET_WEIGHTS=u2netp: the model cache and its overrides
    onError: (e) => console.error("internal error:", e),
  });
} catch (e) {
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  console.error(`error: ${msg}`);
  Deno.exit(1);
}
console.error(
  `u2net: ${app.info.arch} from ${app.weights} on ${app.backend.backend}` +
    (app.backend.adapter ? ` (${app.backend.adapter})` : "") + `, ${app.mode}` +
    (app.fallbackReason ? ` (${app.fallbackReason})` : ""),
);

/** The longest a signalled shutdown waits for requests in progress, in milliseconds. */
export const SHUTDOWN_GRACE_MS = 30_000;

let inflight = 0;
const handler = async (request: Request): Promise<Response> => {
  inflight++;
  try {
    return await app.fetch(request);
  } finally {
    inflight--;
  }
};

const listeners: [Deno.Signal, () => void][] = [];
let closing = false;
async function shutdown(signal: Deno.Signal): Promise<void> {
  if (closing) Deno.exit(signal === "SIGTERM" ? 143 : 130); // a second signal: now
  closing = true;
  const end = Date.now() + SHUTDOWN_GRACE_MS;
  while (inflight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  for (const [s, listener] of listeners) Deno.removeSignalListener(s, listener);
  await app.close();
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  const listener = () => void shutdown(signal);
  try {
    Deno.addSignalListener(signal, listener);
    listeners.push([signal, listener]);
  } catch { /* no such signal here (Windows: SIGTERM), or no signals at all (edge runtimes) */ }
}

/** The `deno serve` handler. */
export default { fetch: handler } satisfies Deno.ServeDefaultExport;
