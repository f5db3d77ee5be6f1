import { assert, assertEquals, assertMatch } from "../assert.ts";
import { readImageHeader } from "../../lib/data/image_io.ts";
import { run as predict } from "../../cli/predict.ts";
import { run as info } from "../../cli/info.ts";
import {
  freshDir,
  refusedBaseUrl,
  startModelServer,
  writeFixtureManifest,
} from "../io/model_server.ts";
import { capture, subprocessUnavailable } from "./capture.ts";
import { fileMd5 } from "../../lib/io/model_cache.ts";
import { runTask } from "./_task_run.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`weights_test: subprocess checks SKIPPED: ${noRun}`);

const IMAGE = "tests/testdata/images/chelsea.png";
const FAST = ["--input-size", "64", "--backend", "cpu", "--format", "cutout"];

Deno.test({
  name:
    "predict --weights u2netp downloads, verifies and caches the model and writes a cut-out; info lists it",
  ignore: noRun !== undefined,
  async fn() {
    const cache = `${await freshDir("predict_name")}/cache`;
    const out = await freshDir("predict_name_out");
    const manifest = await writeFixtureManifest(await freshDir("predict_name_manifest"));
    const server = startModelServer();
    const env = {
      U2NET_HOME: cache,
      U2NET_MODEL_BASE_URL: server.baseUrl,
      U2NET_MODEL_MANIFEST: manifest,
    };
    try {
      const r = await runTask("predict", ["--weights", "u2netp", IMAGE, "-o", out, ...FAST], {
        env,
        extra: { net: "127.0.0.1" },
      });
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stderr, /predict: downloading u2netp/);
      assertMatch(r.stderr, /100%/);
      assertMatch(r.stdout, /1 written, 0 skipped, 0 failed/);
    } finally {
      await server.close();
    }
    const png = readImageHeader(await Deno.readFile(`${out}/chelsea.png`));
    assertEquals([png.format, png.width, png.height, png.channels], ["png", 451, 300, 4]);
    assertEquals((await Deno.stat(`${cache}/u2netp.onnx`)).isFile, true);
    // offline now: the cached model is used, the (dead) host is not asked
    const offline = { ...env, U2NET_MODEL_BASE_URL: refusedBaseUrl() };
    const again = await runTask(
      "predict",
      ["--weights", "u2netp", IMAGE, "-o", out, "--overwrite", ...FAST],
      { env: offline, extra: { net: "127.0.0.1" } },
    );
    assertEquals(again.code, 0, again.stderr);
    assert(!again.stderr.includes("downloading"), again.stderr);
    assertEquals(server.hits, ["/u2netp.onnx"]);
    const info = await runTask("info", ["--backend", "cpu"], {
      env: offline,
      extra: { write: cache },
    });
    assertEquals(info.code, 0, info.stderr);
    assertMatch(info.stdout, /u2netp\s+4\.6 MB\s+md5 ok/);
    assertMatch(info.stdout, /engine\s+cpu/);
  },
});

Deno.test({
  name:
    "predict --weights u2netp without network fails with one line naming the URL and the manual way",
  ignore: noRun !== undefined,
  async fn() {
    const cache = `${await freshDir("predict_offline")}/cache`;
    const manifest = await writeFixtureManifest(await freshDir("predict_offline_manifest"));
    const base = refusedBaseUrl();
    const r = await runTask("predict", ["--weights", "u2netp", IMAGE, "-o", cache, ...FAST], {
      env: { U2NET_HOME: cache, U2NET_MODEL_BASE_URL: base, U2NET_MODEL_MANIFEST: manifest },
      extra: { net: "127.0.0.1" },
    });
    assertEquals(r.code, 1, r.stderr);
    const last = r.stderr.trim().split("\n").at(-1)!;
    assert(!/\bat .+:\d+:\d+/.test(r.stderr), r.stderr);
    assertMatch(last, new RegExp(`^error: Cannot download u2netp: .* from ${base}/u2netp\\.onnx;`));
    assertMatch(last, /download it yourself and save it as .*u2netp\.onnx, or pass --weights FILE/);
    assertMatch(last, /deno task convert/);
    // without the task's permission for the host: one line naming the flag
    const denied = await runTask("predict", ["--weights", "u2netp", IMAGE, "-o", cache, ...FAST], {
      env: { U2NET_HOME: cache, U2NET_MODEL_BASE_URL: base, U2NET_MODEL_MANIFEST: manifest },
    });
    assertEquals(denied.code, 1);
    assertEquals(denied.stderr.trim().split("\n").length, 1, denied.stderr);
    assertMatch(denied.stderr, /predict needs --allow-net=127\.0\.0\.1 to download u2netp/);
    // and the task's own command line with the host added to its --allow-net
    assertMatch(
      denied.stderr,
      /run from \S+: deno run .*--allow-net=github\.com,\S*,127\.0\.0\.1 /,
    );
  },
});

Deno.test("predict --weights with a bare unknown word fails in one line listing the model names", async () => {
  const r = await capture(() =>
    predict(["--weights", "u2netx", IMAGE, "-o", "tests/.tmp/model_zoo/unknown", ...FAST])
  );
  assertEquals(r.code, 1);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assertMatch(r.stderr, /Cannot find weights "u2netx": .*u2net, u2netp, u2net_human_seg, silueta/);
});

Deno.test("predict takes a release file's preprocessing from its zoo entry (size and md5), and --preprocess over it", async () => {
  const file = "tests/testdata/lite_wz.safetensors", dir = await freshDir("preprocess_by_md5");
  const bytes = (await Deno.stat(file)).size, md5 = await fileMd5(file);
  const manifest = `${dir}/manifest.json`;
  await Deno.writeTextFile(manifest, JSON.stringify({ rel: { bytes, md5, preprocess: "rembg" } }));
  const mask = async (name: string, args: string[], env: string) => {
    Deno.env.set("U2NET_MODEL_MANIFEST", env);
    try {
      const r = await capture(() =>
        predict([IMAGE, "-w", file, "-o", `${dir}/${name}.png`, "-f", "soft", ...FAST, ...args])
      );
      assertEquals(r.code, 0, r.stderr);
      return { bytes: await Deno.readFile(`${dir}/${name}.png`), stderr: r.stderr };
    } finally {
      Deno.env.delete("U2NET_MODEL_MANIFEST");
    }
  };
  const known = await mask("known", [], manifest);
  assertMatch(known.stderr, /lite_wz\.safetensors is rel \(size and md5\): rembg preprocessing/);
  const plain = await mask("plain", [], ""); // no entry is that file: the seed's
  assert(!/size and md5/.test(plain.stderr), plain.stderr);
  const same = (a: Uint8Array, b: Uint8Array) =>
    a.length === b.length && a.every((v, i) => v === b[i]);
  assert(same((await mask("forced", ["--preprocess", "rembg"], "")).bytes, known.bytes), "forced");
  assert(same((await mask("over", ["--preprocess", "seed"], manifest)).bytes, plain.bytes), "over");
  assert(!same(known.bytes, plain.bytes), "rembg and seed gave the same file");
  // info has no preprocessing to follow: no hashing, no note
  Deno.env.set("U2NET_MODEL_MANIFEST", manifest);
  try {
    const i = await capture(() => info(["--weights", file, "--backend", "cpu"]));
    assertEquals(i.code, 0, i.stderr);
    assert(!/size and md5/.test(i.stderr + i.stdout), i.stderr);
  } finally {
    Deno.env.delete("U2NET_MODEL_MANIFEST");
  }
});
