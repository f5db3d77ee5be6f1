import { assert, assertEquals } from "../assert.ts";
import { fixture, maxAbsDiff, nchwToNhwc, nhwcToNchw, testdata } from "../helpers.ts";
import { tf } from "../../lib/deps.ts";
import { selectBackend } from "../../lib/backend.ts";
import { exportFolded, saveSafetensors } from "../../lib/model/export.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { loadWeights, loadWeightsFile } from "../../lib/model/load_weights.ts";
import { U2Net } from "../../lib/model/u2net.ts";

await selectBackend("cpu");

const params = JSON.parse(await Deno.readTextFile(testdata("params.json"))) as Record<
  string,
  Record<string, number[]>
>;

/** The JSON header of safetensors bytes, without reading the data. */
function header(bytes: Uint8Array): Record<string, { dtype: string; shape: number[] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

Deno.test("saveSafetensors() writes exactly params.json's keys and shapes and loads back bit-exact when given lite_wz", async () => {
  const start = tf.memory().numTensors;
  const model = await loadWeightsFile(testdata("lite_wz.pth"));
  const bytes = await saveSafetensors(model);
  const { __metadata__: meta, ...entries } = header(bytes) as Record<string, unknown>;
  assertEquals(meta, { arch: "lite", convBias: "false", batchNorm: "true", format: "pt" });
  assertEquals(
    Object.entries(entries).map(([k, e]) => [k, (e as { shape: number[] }).shape]),
    Object.entries(params.lite_state_dict),
  );
  const counter = entries["encode_modules.0.conv_in.bn.num_batches_tracked"];
  assertEquals((counter as { dtype: string }).dtype, "I64");
  // The file holds the fixture's values bit for bit …
  assertEquals(readSafetensors(bytes).tensors, await fixture("lite_wz.safetensors"));
  // … and a network loaded from it holds them too.
  const back = await loadWeights(bytes, { filename: "x.safetensors" });
  assertEquals([back.convBias, back.batchNorm], [false, true]);
  assertEquals(await back.stateDict(), await model.stateDict());
  model.dispose();
  back.dispose();
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("saveSafetensors() round-trips conv biases bit-exact when given ORIG weights", async () => {
  const model = await loadWeightsFile(testdata("lite_orig_legacy.pth"));
  const bytes = await saveSafetensors(model);
  assertEquals(header(bytes).__metadata__, {
    arch: "lite",
    convBias: "true",
    batchNorm: "true",
    format: "pt",
  });
  const back = await loadWeights(bytes);
  assertEquals([back.convBias, back.batchNorm], [true, true]);
  assertEquals(await back.stateDict(), await model.stateDict());
  model.dispose();
  back.dispose();
});

Deno.test("saveSafetensors() writes exactly params.json's full keys and shapes when given a full network", async () => {
  const model = U2Net.create("full");
  const bytes = await saveSafetensors(model);
  model.dispose();
  const { __metadata__: meta, ...entries } = header(bytes) as Record<string, unknown>;
  assertEquals((meta as Record<string, string>).arch, "full");
  assertEquals(
    Object.entries(entries).map(([k, e]) => [k, (e as { shape: number[] }).shape]),
    Object.entries(params.full_state_dict),
  );
});

Deno.test("exportFolded() writes a folded file that loadWeights() loads as a folded network when given lite_wz", async () => {
  const start = tf.memory().numTensors;
  const model = await loadWeightsFile(testdata("lite_wz.pth"));
  const bytes = await exportFolded(model);
  const h = header(bytes);
  assertEquals(h.__metadata__, {
    arch: "lite",
    convBias: "true",
    batchNorm: "false",
    format: "pt",
  } as unknown);
  assertEquals(Object.keys(h).length, 1 + 238);
  assert(Object.keys(h).every((k) => !k.includes(".bn.")));
  const folded = await loadWeights(bytes, { filename: "folded.safetensors" });
  assertEquals([folded.convBias, folded.batchNorm], [true, false]);
  const io = await fixture("lite_io.safetensors");
  const x = nchwToNhwc(io.get("x")!.data as Float32Array, io.get("x")!.shape);
  const y = folded.predict(x);
  const got = await nhwcToNchw(y);
  tf.dispose([x, y]);
  const d = maxAbsDiff(got, io.get("eval_wz")!.data as Float32Array);
  assert(d <= 1e-5, `max diff ${d}`);
  // Re-exporting a folded network is stable (bit-exact).
  assertEquals(await exportFolded(folded), bytes);
  model.dispose();
  folded.dispose();
  assertEquals(tf.memory().numTensors, start);
});
