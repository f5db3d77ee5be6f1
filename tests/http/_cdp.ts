/**
 * A minimal Chrome DevTools Protocol client for the browser test: starts
 * headless Debian chromium, connects to its page target over a WebSocket and
 * sends commands.
 *
 * @module
 */

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** The install line CI needs for the browser test. */
export const CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium";

/** Why the browser test cannot run here, or undefined when it can. */
export function chromiumUnavailable(): string | undefined {
  if (Deno.permissions.querySync({ name: "run", command: CHROMIUM }).state !== "granted") {
    return `the test run lacks --allow-run=${CHROMIUM}`;
  }
  try {
    const out = new Deno.Command(CHROMIUM, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return out.success ? undefined : `${CHROMIUM} --version failed`;
  } catch {
    return `${CHROMIUM} not found`;
  }
}

/** A browser with one page, driven over CDP. */
export interface Browser {
  /** Sends a command to the page and resolves with its result. */
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Evaluates an expression in the page and returns its value. */
  evaluate(expression: string): Promise<unknown>;
  /** Closes the connection and the browser. */
  close(): Promise<void>;
}

/** Starts headless chromium with a throwaway profile under `profileDir`. */
export async function launchBrowser(profileDir: string): Promise<Browser> {
  const proc = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profileDir}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "", wsBrowser = "";
  const deadline = Date.now() + 30_000;
  while (!wsBrowser) {
    if (Date.now() > deadline) throw new Error("chromium did not print its DevTools address");
    const { value, done } = await lines.read();
    if (done) throw new Error(`chromium exited: ${buffered.slice(-500)}`);
    buffered += value;
    wsBrowser = /DevTools listening on (ws:\/\/\S+)/.exec(buffered)?.[1] ?? "";
  }
  // Keep draining stderr so chromium never blocks on a full pipe.
  const drain = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })().catch(() => {});
  const http = wsBrowser.replace(/^ws:\/\/([^/]+)\/.*$/, "http://$1");
  const targets = await (await fetch(`${http}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const page = targets.find((t) => t.type === "page");
  if (!page) throw new Error("chromium has no page target");
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  let nextId = 1;
  const pending = new Map<
    number,
    { ok: (v: Record<string, unknown>) => void; fail: (e: Error) => void }
  >();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    const p = msg.id ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.fail(new Error(`${msg.error.message}`));
    else p.ok(msg.result);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const id = nextId++;
      pending.set(id, { ok, fail });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    send,
    async evaluate(expression: string) {
      const r = await send("Runtime.evaluate", {
        expression,
        returnByValue: true,
        awaitPromise: true,
      });
      return (r.result as { value?: unknown }).value;
    },
    async close() {
      const closed = new Promise((r) => ws.onclose = r);
      ws.close();
      await closed;
      try {
        proc.kill("SIGTERM");
      } catch { /* already gone */ }
      await proc.status;
      await drain;
    },
  };
}
