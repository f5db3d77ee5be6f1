/**
 * A minimal Chrome DevTools Protocol client for the browser test: starts
 * headless Debian chromium, connects to its page target over a WebSocket and
 * sends commands.
 *
 * @module
 */
import { runProcess, startProcess, type TestProcess } from "../process.ts";

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** The install line CI needs for the browser test. */
export const CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium";

/** Deadline of the browser process a test starts, in milliseconds. */
export const BROWSER_DEADLINE_MS = 180_000;

/** Why the browser test cannot run here, or undefined when it can. */
export async function chromiumUnavailable(): Promise<string | undefined> {
  if (Deno.permissions.querySync({ name: "run", command: CHROMIUM }).state !== "granted") {
    return `the test run lacks --allow-run=${CHROMIUM}`;
  }
  try {
    const out = await runProcess(CHROMIUM, { args: ["--version"], deadlineMs: 30_000 });
    return out.code === 0 ? undefined : `${CHROMIUM} --version failed`;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? `${CHROMIUM} not found` : String(e);
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
  const proc = startProcess(CHROMIUM, {
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
    deadlineMs: BROWSER_DEADLINE_MS,
  });
  try {
    const [, wsBrowser] = await proc.waitFor(/DevTools listening on (ws:\/\/\S+)/);
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
    return pageClient(ws, proc);
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

/** The CDP client of one page; closing it stops the browser. */
function pageClient(ws: WebSocket, proc: TestProcess): Browser {
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
  // The browser gone (closed, or killed at its deadline): fail what still waits on it.
  const closed = new Promise<void>((resolve) => {
    ws.onclose = () => {
      for (const p of pending.values()) p.fail(new Error(`chromium went away:\n${proc.stderr}`));
      pending.clear();
      resolve();
    };
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      if (ws.readyState !== WebSocket.OPEN) {
        fail(new Error(`chromium went away:\n${proc.stderr}`));
        return;
      }
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
      if (ws.readyState !== WebSocket.CLOSED) ws.close();
      await closed;
      await proc.stop();
    },
  };
}
