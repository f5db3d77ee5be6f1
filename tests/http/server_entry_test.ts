import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { readImageHeader } from "../../lib/data/image_io.ts";
import { subprocessUnavailable } from "../cli/_capture.ts";
import { testPng } from "./_fixtures.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`server_entry_test: SKIPPED: ${noRun}`);
const ROOT = new URL("../../", import.meta.url).pathname;
const PERMS = ["--allow-read=.", "--allow-env=U2NET_WEIGHTS,U2NET_BACKEND,U2NET_INPUT_SIZE"];

Deno.test({
  name: "lib/http/server.ts refuses to start without weights, in one line saying how to get them",
  ignore: noRun !== undefined,
  async fn() {
    const r = await new Deno.Command("deno", {
      args: ["serve", "--host", "127.0.0.1", "--port", "0", ...PERMS, "lib/http/server.ts"],
      cwd: ROOT,
      env: { NO_COLOR: "1", U2NET_WEIGHTS: "", U2NET_BACKEND: "cpu" },
      stdin: "null",
    }).output();
    const err = new TextDecoder().decode(r.stderr).trim();
    assertEquals(r.code, 1);
    assertEquals(err.split("\n").length, 1, err);
    assertMatch(err, /^error: Cannot find weights: .*deno task train.*deno task convert/);
  },
});

Deno.test({
  name: "deno serve lib/http/server.ts answers a posted PNG on 127.0.0.1",
  ignore: noRun !== undefined,
  async fn() {
    const child = new Deno.Command("deno", {
      args: ["serve", "--host", "127.0.0.1", "--port", "0", ...PERMS, "lib/http/server.ts"],
      cwd: ROOT,
      env: {
        NO_COLOR: "1",
        U2NET_WEIGHTS: "tests/testdata/lite_wz.safetensors",
        U2NET_BACKEND: "cpu",
        U2NET_INPUT_SIZE: "32",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const merged = new TextDecoder();
    let text = "", base = "";
    const reader = child.stderr.getReader();
    try {
      const end = Date.now() + 60_000;
      while (!base && Date.now() < end) {
        const { value, done } = await reader.read();
        if (done) break;
        text += merged.decode(value);
        base = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1] ?? "";
      }
      assert(base, `no listening line: ${text}`);
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
    } finally {
      child.kill("SIGTERM");
      await child.status;
      reader.releaseLock();
      await child.stderr.cancel();
      await child.stdout.cancel();
    }
  },
});
