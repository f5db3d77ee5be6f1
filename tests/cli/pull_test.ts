import { assert, assertEquals, assertMatch } from "../assert.ts";
import { FIXTURE, freshDir, startModelServer, writeFixtureManifest } from "../io/model_server.ts";
import { subprocessUnavailable } from "./capture.ts";
import { runTask } from "./_task_run.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`pull_test: subprocess checks SKIPPED: ${noRun}`);

async function names(dir: string): Promise<string[]> {
  const out = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

const oneLine = (s: string) => s.trim().split("\n").length === 1;

Deno.test({
  name:
    "pull downloads a model into U2NET_HOME with progress on stderr, then finds it cached offline",
  ignore: noRun !== undefined,
  async fn() {
    const cache = `${await freshDir("pull_ok")}/cache`;
    const manifest = await writeFixtureManifest(await freshDir("pull_ok_manifest"));
    const server = startModelServer();
    const env = {
      U2NET_HOME: cache,
      U2NET_MODEL_BASE_URL: server.baseUrl,
      U2NET_MODEL_MANIFEST: manifest,
    };
    const extra = { net: "127.0.0.1", write: cache };
    try {
      const r = await runTask("pull", ["u2netp"], { env, extra });
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /pull: u2netp downloaded to .*cache\/u2netp\.onnx/);
      assertMatch(
        r.stderr,
        /downloading u2netp \(4\.6 MB\) from http:\/\/127\.0\.0\.1:\d+\/u2netp\.onnx/,
      );
      assertMatch(r.stderr, /4\.6 MB \/ 4\.6 MB 100% [\d.]+ [kM]?B\/s ETA 0:00/);
      assertMatch(r.stderr, /verified \(size, md5\)/);
    } finally {
      await server.close();
    }
    assertEquals(await Deno.readFile(`${cache}/u2netp.onnx`), FIXTURE);
    assertEquals(await names(cache), ["u2netp.onnx"]);
    const again = await runTask("pull", ["u2netp"], { env, extra });
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stdout, /already cached at/);
    assertEquals(server.hits.length, 1);
  },
});

Deno.test({
  name: "pull refuses in one line, naming the flags, when U2NET_HOME is outside the task's folders",
  ignore: noRun !== undefined,
  async fn() {
    const cache = `${await freshDir("pull_perm")}/cache`;
    const manifest = await writeFixtureManifest(await freshDir("pull_perm_manifest"));
    const server = startModelServer();
    try {
      const r = await runTask("pull", ["u2netp"], {
        env: {
          U2NET_HOME: cache,
          U2NET_MODEL_BASE_URL: server.baseUrl,
          U2NET_MODEL_MANIFEST: manifest,
        },
        extra: { net: "127.0.0.1" },
      });
      assertEquals(r.code, 1, r.stderr);
      assert(oneLine(r.stderr), r.stderr);
      assertMatch(r.stderr, new RegExp(`--allow-write=${cache}`));
      assertMatch(r.stderr, /set U2NET_HOME=/);
    } finally {
      await server.close();
    }
    assertEquals(server.hits, []);
    assertEquals(await names(cache), []);
  },
});

Deno.test({
  name: "pull leaves nothing in the cache on an md5 mismatch, and names the URL on a 404",
  ignore: noRun !== undefined,
  async fn() {
    const cache = `${await freshDir("pull_bad")}/cache`;
    const dir = await freshDir("pull_bad_manifest");
    const wrong = await writeFixtureManifest(dir, "0".repeat(32));
    const server = startModelServer();
    const extra = { net: "127.0.0.1", write: cache };
    try {
      const bad = await runTask("pull", ["u2netp"], {
        env: {
          U2NET_HOME: cache,
          U2NET_MODEL_BASE_URL: server.baseUrl,
          U2NET_MODEL_MANIFEST: wrong,
        },
        extra,
      });
      assertEquals(bad.code, 1, bad.stderr);
      assertMatch(
        bad.stderr.trim().split("\n").at(-1)!,
        /^error: Cannot download u2netp: current md5 is [0-9a-f]{32}, expected 0{32} from /,
      );
      assertEquals(await names(cache), []);
      const missing = await runTask("pull", ["u2netp"], {
        env: {
          U2NET_HOME: cache,
          U2NET_MODEL_BASE_URL: `${server.baseUrl}/gone`,
          U2NET_MODEL_MANIFEST: wrong,
        },
        extra,
      });
      assertEquals(missing.code, 1);
      assertMatch(
        missing.stderr,
        /error: Cannot download u2netp: current status is 404 from http:\/\/127\.0\.0\.1:\d+\/gone\/u2netp\.onnx; without network/,
      );
    } finally {
      await server.close();
    }
    assertEquals(await names(cache), []);
  },
});
