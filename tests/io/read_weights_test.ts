import { assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { makeZip } from "./_torch_files.ts";
import { readWeights, sniffWeightsFormat } from "../../lib/io/read_weights.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { readZip, zipEntryData } from "../../lib/io/zip.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { exportFolded, saveSafetensors } from "../../lib/model/export.ts";
import { HALF_LITE } from "./_onnx_variants.ts";

const data = (name: string) => Deno.readFile(new URL(`../testdata/${name}`, import.meta.url));

Deno.test("sniffWeightsFormat() recognises each fixture when given its bytes", async () => {
  assertEquals(sniffWeightsFormat(await data("lite_wz.pth")), "pth-zip");
  assertEquals(sniffWeightsFormat(await data("lite_orig_legacy.pth")), "pth-legacy");
  assertEquals(sniffWeightsFormat(await data("lite_wz.safetensors")), "safetensors");
  assertEquals(sniffWeightsFormat(await data("lite_orig.onnx")), "onnx");
  const png = await data("images/chelsea.png");
  assertThrows(() => sniffWeightsFormat(png, "cat.png"), TypeError, 'weights "cat.png"');
});

Deno.test("readWeights() gives the same seed state dict when given .pth or safetensors", async () => {
  const st = readSafetensors(await data("lite_wz.safetensors")).tensors;
  for (
    const [file, format] of [["lite_wz.pth", "pth-zip"], ["lite_wz.safetensors", "safetensors"]]
  ) {
    const w = await readWeights(await data(file), file);
    assertEquals([w.format, w.naming, w.arch, w.convBias, w.foldedBn], [
      format,
      "seed",
      "lite",
      false,
      false,
    ]);
    assertEquals(w.stateDict, st);
  }
});

Deno.test("readWeights() renames to seed keys with biases when given the legacy ORIG file", async () => {
  const w = await readWeights(await data("lite_orig_legacy.pth"));
  assertEquals([w.format, w.naming, w.arch, w.convBias, w.foldedBn], [
    "pth-legacy",
    "orig",
    "lite",
    true,
    false,
  ]);
  assertEquals(w.stateDict.size, 686);
  assertEquals(w.stateDict.get("side_modules.5.weight")!.shape, [1, 64, 3, 3]);
});

Deno.test("readWeights() returns folded convs when given ONNX", async () => {
  const w = await readWeights(await data("lite_orig.onnx"), "lite_orig.onnx");
  assertEquals([w.format, w.arch, w.convBias, w.foldedBn, w.stateDict.size], [
    "onnx",
    "lite",
    true,
    true,
    238,
  ]);
  const id = await readWeights(await data("lite_orig.onnx"), "", { identityBn: true });
  assertEquals([id.foldedBn, id.stateDict.size], [false, 686]);
});

Deno.test("readWeights() inflates deflated entries when a zip checkpoint is compressed", async () => {
  const src = readZip(await data("lite_wz.pth"));
  const entries = [...src.values()].map((e, i) => ({
    name: e.name,
    data: zipEntryData(e),
    deflate: i % 2 === 0,
  }));
  const w = await readWeights(await makeZip(entries));
  assertEquals(w.format, "pth-zip");
  assertEquals(w.stateDict, readSafetensors(await data("lite_wz.safetensors")).tensors);
});

Deno.test("readWeights() rejects with one clear line when the file is truncated or garbage", async () => {
  const pth = await data("lite_wz.pth");
  await assertRejects(() => readWeights(pth.subarray(0, 2_000_000)), RangeError, "Cannot read zip");
  const onnx = await data("lite_orig.onnx");
  await assertRejects(
    () => readWeights(onnx.subarray(0, 3_000_000)),
    TypeError,
    "Cannot load ONNX",
  );
  const st = await data("lite_wz.safetensors");
  await assertRejects(() => readWeights(st.subarray(0, 1_000_000)), RangeError, "Cannot read");
  const zeros = new Uint8Array(64);
  await assertRejects(() => readWeights(zeros, "w.bin"), TypeError, "not safetensors, .pth");
  const corrupt = await makeZip([{
    name: "a/data.pkl",
    data: new Uint8Array([1, 2, 3]),
    deflate: false,
  }]);
  await assertRejects(() => readWeights(corrupt), TypeError, "Cannot load pickle");
});

Deno.test("readWeights() reloads a custom-width network when saved as safetensors or folded", async () => {
  const model = U2Net.create(HALF_LITE, { seed: 2 });
  try {
    for (const bytes of [await saveSafetensors(model), await exportFolded(model)]) {
      const w = await readWeights(bytes, "x.safetensors");
      assertEquals([w.arch, w.config], ["custom", HALF_LITE]);
      assertEquals(w.stateDict.get("side_modules.5.weight")!.shape, [1, 32, 3, 3]);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("sniffWeightsFormat() names the weights file when given a training checkpoint's JSON", () => {
  const json = new TextEncoder().encode(
    JSON.stringify({
      format: "u2net-webgpu-train-checkpoint/1",
      weightsFile: "model_1.safetensors",
    }),
  );
  assertThrows(
    () => sniffWeightsFormat(json, "model_1.json"),
    TypeError,
    `"model_1.json": current file is a training checkpoint's JSON; its weights are model_1.safetensors`,
  );
});
