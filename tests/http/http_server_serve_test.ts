/**
 * The transport under `deno task serve` (cli/main.ts serve), in a real
 * process: out of file descriptors under a low `ulimit -n`, 2,000 idle
 * connections, a busy port.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { subprocessUnavailable } from "../cli/capture.ts";
import { closeAll, readReply } from "./_raw_socket.ts";

const noRun = subprocessUnavailable();
const noSh = Deno.permissions.querySync({ name: "run", command: "sh" }).state !== "granted";
if (noRun) console.warn(`http_server_serve_test: SKIPPED: ${noRun}`);
const ROOT = new URL("../../", import.meta.url).pathname;
const SERVE = [
  "run",
  "--allow-read=.",
  "--allow-net=127.0.0.1",
  "--allow-env=U2NET_WEIGHTS",
  "cli/main.ts",
  "serve",
  "--weights",
  "tests/testdata/lite_wz.safetensors",
  "--input-size",
  "32",
  "--backend",
  "cpu",
  "--host",
  "127.0.0.1",
];
const enc = new TextEncoder();

interface Served {
  base: string;
  alive: () => boolean;
  health: () => Promise<{ ms: number; body: Record<string, Record<string, number>> }>;
  stop: () => Promise<void>;
}

/** Starts `deno task serve` (optionally under `ulimit -n`), killed after `deadlineMs`. */
async function startServe(flags: string[], ulimit?: number, deadlineMs = 30_000): Promise<Served> {
  const args = [...SERVE, "--port", "0", ...flags];
  const child = new Deno.Command(ulimit ? "sh" : "deno", {
    args: ulimit ? ["-c", `ulimit -n ${ulimit} && exec "$@"`, "sh", "deno", ...args] : args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const deadline = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let base = "";
  while (!base) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
    base = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? "";
  }
  const stop = async () => {
    if (!exited) child.kill("SIGKILL");
    await status;
    clearTimeout(deadline);
    reader.cancel().catch(() => {});
    await stderr;
  };
  if (!base) {
    await stop();
    throw new Error(`serve did not start: ${out} ${await stderr}`);
  }
  return {
    base,
    alive: () => !exited,
    async health() {
      const t0 = performance.now();
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) });
      const body = await res.json();
      assertEquals(res.status, 200);
      return { ms: performance.now() - t0, body };
    },
    stop,
  };
}

/** Opens up to `n` connections that each send half a request line (3 s per connect). */
async function slowloris(port: number, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  let late = false;
  await Promise.all(Array.from({ length: n }, async () => {
    const c = await Promise.race([
      Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null),
      new Promise<null>((done) => setTimeout(() => done(null), 3000)),
    ]);
    if (!c) return;
    if (late) return c.close();
    conns.push(c);
    await c.write(enc.encode("GET /heal")).catch(() => {});
  }));
  late = true;
  return conns;
}

Deno.test({
  name: "serve under ulimit -n 256 survives 600 idle connections and keeps answering /healthz",
  ignore: noRun !== undefined || noSh,
  async fn() {
    const s = await startServe([], 256);
    let attackers: Deno.Conn[] = [];
    try {
      attackers = await slowloris(Number(new URL(s.base).port), 600);
      const during = [];
      for (let i = 0; i < 5; i++) during.push(await s.health());
      const c = during[4].body.connections;
      console.log(
        `fd exhaustion: ${attackers.length} attackers; /healthz ${
          during.map((d) => d.ms.toFixed(0)).join(", ")
        } ms; ${JSON.stringify(c)}`,
      );
      assert(s.alive(), "the server exited");
      assert(c.fdExhausted > 0, "descriptors never ran out: the test proves nothing");
      assert(c.evicted > 0);
      closeAll(attackers);
      await new Promise((r) => setTimeout(r, 300));
      const after = await s.health();
      assert(after.body.connections.open <= 2, JSON.stringify(after.body.connections));
      assert(s.alive(), "the server exited");
    } finally {
      closeAll(attackers);
      await s.stop();
    }
  },
});

Deno.test({
  name:
    "serve survives 2,000 idle connections, answers /healthz meanwhile and closes them by --header-timeout",
  ignore: noRun !== undefined,
  async fn() {
    const s = await startServe(["--header-timeout", "1500"]);
    let attackers: Deno.Conn[] = [];
    try {
      const t0 = performance.now();
      attackers = await slowloris(Number(new URL(s.base).port), 2000);
      const openMs = performance.now() - t0;
      assertEquals(attackers.length, 2000);
      const ms = [];
      for (let i = 0; i < 20; i++) ms.push((await s.health()).ms);
      ms.sort((a, b) => a - b);
      const replies = await Promise.all(attackers.map((c) => readReply(c, 5000)));
      const ended = replies.filter((r) => r.closed || r.reset).length;
      const c = (await s.health()).body.connections;
      console.log(
        `2,000 idle: opened in ${openMs.toFixed(0)} ms; /healthz median ${ms[10].toFixed(0)} ms, ` +
          `max ${ms[19].toFixed(0)} ms; ${ended} closed by the server; ${JSON.stringify(c)}`,
      );
      assert(s.alive(), "the server exited");
      assert(
        ms[10] < 250 && ms[19] < 2000,
        `/healthz took ${ms[10].toFixed(0)}/${ms[19].toFixed(0)} ms`,
      );
      assertEquals(ended, 2000);
      assert(c.evicted + c.headerTimeouts >= 2000, JSON.stringify(c));
      assert(c.peakOpen <= 512 + 1, `peak ${c.peakOpen} connections over the cap`);
    } finally {
      closeAll(attackers);
      await s.stop();
    }
  },
});

Deno.test({
  name: "serve on a busy port prints one line and exits 1",
  ignore: noRun !== undefined,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (taken.addr as Deno.NetAddr).port;
      const r = await new Deno.Command("deno", {
        args: [...SERVE, "--port", String(port)],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdin: "null",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const err = new TextDecoder().decode(r.stderr).trim();
      assertEquals(r.code, 1);
      assertEquals(
        err,
        `serve: Cannot listen on 127.0.0.1:${port}: the port is in use (try --port N or --port 0)`,
      );
      assertMatch(new TextDecoder().decode(r.stdout), /^$/);
    } finally {
      taken.close();
    }
  },
});
