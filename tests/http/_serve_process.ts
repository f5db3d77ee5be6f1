/**
 * `deno run … cli/main.ts serve` as a child process for the HTTP tests that
 * measure the shipped server (its transport, its worker pool, its memory):
 * started with the `deno task serve` command line's environment and V8 flags,
 * killed after a deadline whatever happens, its output drained.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** Deadline of a server process a test starts. */
export const SERVE_DEADLINE_MS = 120_000;

/** How long `stop()` waits for the server to exit after its signal before SIGKILL. */
export const STOP_DEADLINE_MS = 15_000;

/**
 * The environment and V8 flags of the `deno task serve` command line (glibc
 * malloc settings that return freed memory, `--expose-gc` for the idle
 * collection, `--no-memory-pool-share-memory-on-teardown` so a retired
 * worker's heap goes back at once), so the tests measure the server as
 * shipped.
 */
export function serveTaskSettings(): { env: Record<string, string>; v8: string[] } {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.serve;
  const words = task.split(/\s+/);
  const env: Record<string, string> = {};
  for (const w of words) {
    const m = /^([A-Z_]+)=(\S*)$/.exec(w);
    if (!m) break;
    env[m[1]] = m[2];
  }
  return { env, v8: words.filter((w) => w.startsWith("--v8-flags=")) };
}

/** A running server. */
export interface ServeProcess {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  /** Everything it printed so far. */
  output(): string;
  /** SIGINT (or `signal`), then waits for it to exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `serve` with the lite test weights on the cpu backend, any free port, plus `args`. */
export async function startServe(args: string[]): Promise<ServeProcess> {
  const settings = serveTaskSettings();
  const child = new Deno.Command("deno", {
    args: [
      "run",
      ...settings.v8,
      "--allow-read=.",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "cli/main.ts",
      "serve",
      "--weights",
      "tests/testdata/lite_wz.safetensors",
      "--backend",
      "cpu",
      "--port",
      "0",
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...settings.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), SERVE_DEADLINE_MS);
  let text = "";
  const drain = (s: ReadableStream<Uint8Array>) =>
    s.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (text += chunk) }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const stop = async (signal: Deno.Signal = "SIGINT") => {
    clearTimeout(killer);
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    // a server that ignores the signal is killed (its status then says SIGKILL), not waited on
    const force = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, STOP_DEADLINE_MS);
    const status = await child.status;
    clearTimeout(force);
    await drained;
    return status;
  };
  const end = Date.now() + 60_000;
  let base = "";
  while (!base && Date.now() < end) {
    base = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1] ?? "";
    if (!base) await new Promise((r) => setTimeout(r, 50));
  }
  if (!base) {
    await stop();
    throw new Error(`serve did not start: ${text}`);
  }
  return { base, output: () => text, stop };
}
