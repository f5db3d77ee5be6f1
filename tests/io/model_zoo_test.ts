import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { FIXTURE, freshDir, writeFixtureManifest } from "./model_server.ts";
import {
  DEFAULT_MODEL_BASE_URL,
  isModelName,
  loadModelZoo,
  mergeManifest,
  MODEL_ZOO,
  modelUrl,
} from "../../lib/io/model_zoo.ts";

Deno.test("MODEL_ZOO holds rembg's four U2-Net releases with their sizes and md5s", () => {
  const rows = Object.entries(MODEL_ZOO).map(([n, e]) => [n, e.file, e.bytes, e.md5, e.arch]);
  assertEquals(rows, [
    ["u2net", "u2net.onnx", 175997641, "60024c5c889badc19c04ad937298a77b", "full"],
    ["u2netp", "u2netp.onnx", 4574861, "8e83ca70e441ab06c318d82300c84806", "lite"],
    [
      "u2net_human_seg",
      "u2net_human_seg.onnx",
      175997641,
      "c09ddc2e0104f800e3e1bb4652583d1f",
      "full",
    ],
    ["silueta", "silueta.onnx", 44173029, "55e59e0d8062d2f5d013f4725ee84782", "derived"],
  ]);
  assert(Object.values(MODEL_ZOO).every((e) => e.preprocess === "rembg"));
});

Deno.test("modelUrl() joins the base URL and the file name, or uses the entry's own url", () => {
  assertEquals(
    modelUrl(MODEL_ZOO.u2netp),
    "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx",
  );
  assertEquals(DEFAULT_MODEL_BASE_URL.endsWith("/"), false);
  assertEquals(
    modelUrl(MODEL_ZOO.silueta, "http://127.0.0.1:9/m/"),
    "http://127.0.0.1:9/m/silueta.onnx",
  );
  assertEquals(
    modelUrl({ ...MODEL_ZOO.u2net, url: "http://x/y.onnx" }, "http://z"),
    "http://x/y.onnx",
  );
});

Deno.test("isModelName() accepts zoo names and rejects paths", () => {
  assert(isModelName("u2netp"));
  assert(isModelName("silueta"));
  assert(!isModelName("u2netp.onnx"));
  assert(!isModelName("runs/demo/model_best.safetensors"));
  assert(!isModelName("toString"));
  assert(isModelName("tiny", mergeManifest({ tiny: { bytes: 1, md5: "a".repeat(32) } })));
});

Deno.test("mergeManifest() overrides a built-in's size and md5 and keeps its other fields", () => {
  const zoo = mergeManifest({ u2netp: { bytes: 10, md5: "ABCDEF0123456789abcdef0123456789" } });
  assertEquals(zoo.u2netp.bytes, 10);
  assertEquals(zoo.u2netp.md5, "abcdef0123456789abcdef0123456789");
  assertEquals([zoo.u2netp.file, zoo.u2netp.arch], ["u2netp.onnx", "lite"]);
  assertEquals(zoo.u2net, MODEL_ZOO.u2net);
  assertEquals(MODEL_ZOO.u2netp.bytes, 4574861); // the built-in table is untouched
});

Deno.test("mergeManifest() refuses a malformed entry with one line naming it", () => {
  const md5 = "a".repeat(32);
  assertThrows(() => mergeManifest([]), TypeError, "Cannot read the model manifest: current value");
  assertThrows(() => mergeManifest({ x: { bytes: -1, md5 } }), TypeError, 'bytes of "x" is -1');
  assertThrows(() => mergeManifest({ x: { bytes: 1, md5: "zz" } }), TypeError, 'md5 of "x" is zz');
  assertThrows(
    () => mergeManifest({ x: { bytes: 1, md5, file: "../etc/passwd" } }),
    TypeError,
    'file of "x" is ../etc/passwd',
  );
  assertThrows(() => mergeManifest({ "../x": { bytes: 1, md5 } }), TypeError, 'name "../x"');
  assertThrows(
    () => mergeManifest({ x: { bytes: 1, md5, preprocess: "imagenet" } }),
    TypeError,
    'preprocess of "x" is imagenet (rembg or seed)',
  );
});

Deno.test("mergeManifest() takes an entry's preprocessing: seed for a network trained here, else rembg's", () => {
  const md5 = "a".repeat(32);
  const zoo = mergeManifest({
    mine: { bytes: 1, md5, preprocess: "seed" },
    theirs: { bytes: 1, md5 },
    u2netp: { bytes: 1, md5 },
  });
  assertEquals([zoo.mine.preprocess, zoo.theirs.preprocess], ["seed", "rembg"]);
  assertEquals(zoo.u2netp.preprocess, "rembg"); // the built-in's
});

Deno.test("loadModelZoo() applies the manifest file that U2NET_MODEL_MANIFEST names", async () => {
  const dir = await freshDir("zoo_manifest");
  const manifest = await writeFixtureManifest(dir);
  const zoo = await loadModelZoo({ env: { U2NET_MODEL_MANIFEST: manifest } });
  assertEquals(zoo.u2netp.bytes, FIXTURE.length);
  await assertRejects(
    () => loadModelZoo({ manifest: `${dir}/missing.json` }),
    TypeError,
    "does not exist",
  );
});
