import { assert, assertEquals, assertMatch } from "../assert.ts";
import { readImageHeader } from "../../lib/data/image_io.ts";
import { subprocessUnavailable } from "../cli/capture.ts";
import { runProcess, startProcess } from "../process.ts";
import { testPng } from "./fixtures.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`server_entry_test: SKIPPED: ${noRun}`);
const ROOT = new URL("../../", import.meta.url).pathname;
const SERVER = `${ROOT}lib/http/server.ts`;
const PERMS = ["--allow-read=.", "--allow-env=U2NET_WEIGHTS,U2NET_BACKEND,U2NET_INPUT_SIZE"];
/**
 * An empty working directory: the server's default weights are relative to its
 * cwd (`runs/demo/…`), so the README's `deno task train` must not change this test.
 */
const EMPTY_CWD = `${ROOT}tests/.tmp/server_entry_cwd`;

Deno.test({
  name: "lib/http/server.ts refuses to start without weights, in one line saying how to get them",
  ignore: noRun !== undefined,
  async fn() {
    await Deno.remove(EMPTY_CWD, { recursive: true }).catch(() => {});
    await Deno.mkdir(EMPTY_CWD, { recursive: true });
    const r = await runProcess("deno", {
      args: ["serve", "--host", "127.0.0.1", "--port", "0", ...PERMS, SERVER],
      cwd: EMPTY_CWD,
      env: { U2NET_WEIGHTS: "", U2NET_BACKEND: "cpu" },
      deadlineMs: 60_000,
    });
    const err = r.stderr.trim();
    assertEquals(r.code, 1);
    assertEquals(err.split("\n").length, 1, err);
    assertMatch(err, /^error: Cannot find weights: .*deno task train.*deno task convert/);
  },
});

Deno.test({
  name:
    "deno serve lib/http/server.ts answers a posted PNG on 127.0.0.1, and exits on SIGTERM with its prediction worker",
  ignore: noRun !== undefined,
  async fn() {
    const server = startProcess("deno", {
      args: ["serve", "--host", "127.0.0.1", "--port", "0", ...PERMS, SERVER],
      cwd: ROOT,
      env: {
        U2NET_WEIGHTS: "tests/testdata/lite_wz.safetensors",
        U2NET_BACKEND: "cpu",
        U2NET_INPUT_SIZE: "32",
      },
      deadlineMs: 90_000,
    });
    try {
      const [, base] = await server.waitFor(/Listening on (http:\/\/127\.0\.0\.1:\d+)/);
      assert(base, `no listening line: ${server.stderr}`);
      const health = await (await fetch(`${base}/healthz`)).json();
      assertEquals([health.backend, health.model.arch, health.input.size], ["cpu", "lite", 32]);
      const res = await fetch(`${base}/predict?format=mask`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: testPng(30, 20) as Uint8Array<ArrayBuffer>,
      });
      assertEquals(res.status, 200);
      const h = readImageHeader(new Uint8Array(await res.arrayBuffer()));
      assertEquals([h.format, h.width, h.height, h.channels], ["png", 30, 20, 1]);
      // the worker (U2NET_WORKERS defaults to 1) must not keep it alive: SIGKILL comes after KILL_GRACE_MS
      const status = await server.stop();
      assert(status.signal !== "SIGKILL", `still running after SIGTERM: ${server.stderr}`);
    } finally {
      await server.stop();
    }
  },
});
