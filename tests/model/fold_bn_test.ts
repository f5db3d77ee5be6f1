import { assert, assertEquals } from "../assert.ts";
import { fixture, maxAbsDiff, nchwToNhwc, nhwcToNchw, testdata } from "../helpers.ts";
import { tf } from "../../lib/deps.ts";
import { selectBackend } from "../../lib/backend.ts";
import { foldBatchNorm, foldStateDict } from "../../lib/model/fold_bn.ts";
import { loadWeightsFile } from "../../lib/model/load_weights.ts";
import type { U2Net } from "../../lib/model/u2net.ts";
import type { RawTensor } from "../../lib/io/raw_tensor.ts";

await selectBackend("cpu");

const io = await fixture("lite_io.safetensors");

async function allSides(model: U2Net): Promise<Float32Array[]> {
  const x = io.get("x")!;
  const input = nchwToNhwc(x.data as Float32Array, x.shape);
  const outs = model.forward(input, { allSides: true });
  try {
    return await Promise.all(outs.map(nhwcToNchw));
  } finally {
    input.dispose();
    outs.forEach((t) => t.dispose());
  }
}

for (const [file, convBias] of [["lite_wz.pth", false], ["lite_orig_legacy.pth", true]] as const) {
  Deno.test(`foldBatchNorm() keeps all seven eval outputs within 1e-5 when given ${file}`, async () => {
    const start = tf.memory().numTensors;
    const model = await loadWeightsFile(testdata(file));
    assertEquals([model.convBias, model.batchNorm], [convBias, true]);
    const folded = await foldBatchNorm(model);
    assertEquals([folded.batchNorm, folded.convBias, folded.training], [false, true, false]);
    assertEquals(folded.specs.length, 238);
    assert(folded.specs.every((s) => !s.key.includes(".bn.")));
    const want = await allSides(model);
    const got = await allSides(folded);
    model.dispose();
    folded.dispose();
    want.forEach((w, i) => {
      const d = maxAbsDiff(got[i], w);
      assert(d <= 1e-5, `map ${i}: max diff ${d}`);
    });
    assertEquals(tf.memory().numTensors, start);
  });
}

const f32 = (shape: number[], xs: number[]): RawTensor => ({
  dtype: "F32",
  shape,
  data: new Float32Array(xs),
});

Deno.test("foldStateDict() computes w·γ/√(var+eps) and (b−mean)·γ/√(var+eps)+β in float64 when given one layer", () => {
  const w = [0.3, -1.7, 2.25, 0.1];
  const sd = new Map([
    ["a.conv.weight", f32([2, 2, 1, 1], w)],
    ["a.conv.bias", f32([2], [0.5, -0.25])],
    ["a.bn.weight", f32([2], [1.5, 0.7])],
    ["a.bn.bias", f32([2], [0.1, -0.2])],
    ["a.bn.running_mean", f32([2], [0.05, 0.4])],
    ["a.bn.running_var", f32([2], [2.0, 0.3])],
    ["a.bn.num_batches_tracked", { dtype: "I64", shape: [], data: new BigInt64Array([9n]) }],
    ["side.weight", f32([1, 2, 1, 1], [1, 2])],
  ] as [string, RawTensor][]);
  const out = foldStateDict(sd);
  assertEquals([...out.keys()], ["a.conv.weight", "a.conv.bias", "side.weight"]);
  const g = [1.5, 0.7].map(Math.fround), v = [2.0, 0.3].map(Math.fround);
  const k = [0, 1].map((c) => g[c] / Math.sqrt(v[c] + 1e-5));
  const wf = w.map(Math.fround);
  assertEquals(
    out.get("a.conv.weight")!.data,
    new Float32Array([wf[0] * k[0], wf[1] * k[0], wf[2] * k[1], wf[3] * k[1]]),
  );
  const [b, m, be] = [[0.5, -0.25], [0.05, 0.4], [0.1, -0.2]].map((a) => a.map(Math.fround));
  assertEquals(
    out.get("a.conv.bias")!.data,
    new Float32Array([0, 1].map((c) => (b[c] - m[c]) * k[c] + be[c])),
  );
  assertEquals(out.get("side.weight"), sd.get("side.weight"));
});

Deno.test("foldBatchNorm() copies the weights when the network is already folded", async () => {
  const start = tf.memory().numTensors;
  const model = await loadWeightsFile(testdata("lite_orig.onnx"));
  const copy = await foldBatchNorm(model);
  assert(copy !== model);
  assertEquals(await copy.stateDict(), await model.stateDict());
  model.dispose();
  copy.dispose();
  assertEquals(tf.memory().numTensors, start);
});
