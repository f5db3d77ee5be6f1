import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { DownloadError } from "../../lib/io/download.ts";
import {
  ensureModel,
  fileMd5,
  identifyZooFile,
  listCachedModels,
  modelCacheDir,
} from "../../lib/io/model_cache.ts";
import { mergeManifest } from "../../lib/io/model_zoo.ts";
import { loadInferenceModel } from "../../lib/model/load_weights.ts";
import {
  FIXTURE,
  freshDir,
  refusedBaseUrl,
  startModelServer,
  writeFixtureManifest,
} from "./model_server.ts";

async function names(dir: string): Promise<string[]> {
  const out = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("modelCacheDir() prefers U2NET_HOME, then the platform's user cache folder", () => {
  const home = { HOME: "/home/me" };
  assertEquals(modelCacheDir({ env: { ...home, U2NET_HOME: "/m" }, os: "linux" }), "/m");
  assertEquals(modelCacheDir({ env: home, os: "linux" }), "/home/me/.cache/u2net");
  assertEquals(
    modelCacheDir({ env: { ...home, XDG_CACHE_HOME: "/xdg/" }, os: "linux" }),
    "/xdg/u2net",
  );
  assertEquals(modelCacheDir({ env: home, os: "darwin" }), "/home/me/Library/Caches/u2net");
  assertEquals(
    modelCacheDir({ env: { LOCALAPPDATA: "C:\\Users\\me\\AppData\\Local" }, os: "windows" }),
    "C:\\Users\\me\\AppData\\Local\\u2net",
  );
  assertThrows(() => modelCacheDir({ env: {}, os: "linux" }), TypeError, "set U2NET_HOME");
});

Deno.test("ensureModel() downloads, verifies and caches a model, then loads it from the cache without the network", async () => {
  const cacheDir = `${await freshDir("ensure_ok")}/cache`;
  const manifest = await writeFixtureManifest(await freshDir("ensure_ok_manifest"));
  const server = startModelServer();
  const progress: number[] = [];
  const started: string[] = [];
  const options = { cacheDir, manifest, baseUrl: server.baseUrl };
  try {
    const got = await ensureModel("u2netp", {
      ...options,
      onProgress: (r) => progress.push(r),
      onDownload: (i) => started.push(i.url),
    });
    assertEquals(got.downloaded, true);
    assertEquals(got.path, `${cacheDir}/u2netp.onnx`);
    assertEquals(got.entry.preprocess, "rembg");
    assertEquals(started, [`${server.baseUrl}/u2netp.onnx`]);
    assertEquals(progress.at(-1), FIXTURE.length);
    assertEquals(await names(cacheDir), ["u2netp.onnx"]);
  } finally {
    await server.close();
  }
  assertEquals(server.hits, ["/u2netp.onnx"]);
  const again = await ensureModel("u2netp", { ...options, verifyCached: true });
  assertEquals([again.downloaded, again.path], [false, `${cacheDir}/u2netp.onnx`]);
  const model = await loadInferenceModel(again.path);
  try {
    assertEquals(model.config.name, "lite");
  } finally {
    model.dispose();
  }
  const listed = await listCachedModels({ cacheDir, manifest, verify: true });
  assertEquals(listed.map((m) => [m.name, m.bytes, m.complete, m.verified]), [
    ["u2netp", FIXTURE.length, true, true],
  ]);
});

Deno.test("ensureModel() leaves an incomplete cached file alone on an md5 mismatch and replaces it once verified", async () => {
  const cacheDir = await freshDir("ensure_md5");
  const bad = await writeFixtureManifest(await freshDir("ensure_md5_manifest"), "f".repeat(32));
  await Deno.writeFile(`${cacheDir}/u2netp.onnx`, FIXTURE.subarray(0, 100));
  const server = startModelServer();
  try {
    await assertRejects(
      () => ensureModel("u2netp", { cacheDir, manifest: bad, baseUrl: server.baseUrl }),
      DownloadError,
      "current md5 is",
    );
  } finally {
    await server.close();
  }
  // the old incomplete file is untouched (never replaced by an unverified one), no .part left
  assertEquals(await names(cacheDir), ["u2netp.onnx"]);
  assertEquals((await Deno.stat(`${cacheDir}/u2netp.onnx`)).size, 100);
  const good = await writeFixtureManifest(await freshDir("ensure_md5_good"));
  const server2 = startModelServer();
  try {
    const got = await ensureModel("u2netp", { cacheDir, manifest: good, baseUrl: server2.baseUrl });
    assertEquals(got.downloaded, true);
  } finally {
    await server2.close();
  }
  assertEquals(await Deno.readFile(`${cacheDir}/u2netp.onnx`), FIXTURE);
});

Deno.test("ensureModel() fails with one line naming the URL when nothing listens, and when the file is missing (404)", async () => {
  const cacheDir = await freshDir("ensure_net");
  const manifest = await writeFixtureManifest(await freshDir("ensure_net_manifest"));
  const refused = refusedBaseUrl();
  const e = await assertRejects(
    () => ensureModel("u2netp", { cacheDir, manifest, baseUrl: refused }),
    DownloadError,
    `from ${refused}/u2netp.onnx`,
  );
  assert(!e.message.includes("\n"));
  const server = startModelServer();
  try {
    await assertRejects(
      () => ensureModel("u2netp", { cacheDir, manifest, baseUrl: `${server.baseUrl}/gone` }),
      DownloadError,
      `Cannot download u2netp: current status is 404 from ${server.baseUrl}/gone/u2netp.onnx`,
    );
  } finally {
    await server.close();
  }
  assertEquals(await names(cacheDir), []);
});

Deno.test("ensureModel() refuses an unknown name and lists the known ones", async () => {
  await assertRejects(
    () => ensureModel("u2netx", { cacheDir: "tests/.tmp/model_zoo/none" }),
    TypeError,
    'Cannot find model "u2netx": current names are u2net, u2netp, u2net_human_seg, silueta',
  );
});

Deno.test("identifyZooFile() names the zoo entry a file is by size and md5, and nothing for another file", async () => {
  const path = "tests/testdata/lite_wz.safetensors";
  const bytes = (await Deno.stat(path)).size, md5 = await fileMd5(path);
  const zoo = mergeManifest({
    same: { bytes, md5, preprocess: "seed" },
    other: { bytes, md5: "0".repeat(32) }, // same size, other bytes
  });
  const found = await identifyZooFile(path, zoo);
  assertEquals([found?.name, found?.entry.preprocess], ["same", "seed"]);
  assertEquals(await identifyZooFile(path), undefined); // no built-in release is that file
  assertEquals(await identifyZooFile("tests/testdata/nowhere.onnx", zoo), undefined);
});
