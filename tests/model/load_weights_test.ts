import { assert, assertEquals, assertRejects } from "../assert.ts";
import { fixture, maxAbsDiff, nchwToNhwc, nhwcToNchw, testdata } from "../helpers.ts";
import { tf } from "../../lib/deps.ts";
import { selectBackend } from "../../lib/backend.ts";
import { loadWeights, loadWeightsFile } from "../../lib/model/load_weights.ts";
import type { U2Net } from "../../lib/model/u2net.ts";

await selectBackend("cpu");

const io = await fixture("lite_io.safetensors");
const X = io.get("x")!;
/** The fixture's input shape, NCHW: every size below comes from it, never from a literal. */
const [BATCH, C, H, W] = X.shape;
/** The ONNX reference ran on the first `onnx_out0.shape[0]` images of x. */
const ONNX_BATCH = io.get("onnx_out0")!.shape[0];

/** Runs eval mode on x (first `batch` images) and returns NCHW outputs of every map asked for. */
async function evalMaps(model: U2Net, batch: number, allSides = false): Promise<Float32Array[]> {
  const x = nchwToNhwc(X.data.slice(0, batch * C * H * W) as Float32Array, [batch, C, H, W]);
  const outs = model.forward(x, { allSides });
  try {
    return await Promise.all(outs.map(nhwcToNchw));
  } finally {
    x.dispose();
    outs.forEach((t) => t.dispose());
  }
}

Deno.test("loadWeights() reproduces eval_wz within 1e-5 when given lite_wz.pth", async () => {
  const start = tf.memory().numTensors;
  const model = await loadWeights(await Deno.readFile(testdata("lite_wz.pth")));
  assertEquals([model.config.name, model.convBias, model.batchNorm, model.training], [
    "lite",
    false,
    true,
    false,
  ]);
  const [y] = await evalMaps(model, BATCH);
  model.dispose();
  const d = maxAbsDiff(y, io.get("eval_wz")!.data as Float32Array);
  assert(d <= 1e-5, `max diff ${d}`);
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("loadWeightsFile() reproduces eval_orig within 1e-5 when given lite_orig_legacy.pth", async () => {
  const start = tf.memory().numTensors;
  const model = await loadWeightsFile(testdata("lite_orig_legacy.pth"));
  assertEquals([model.config.name, model.convBias, model.batchNorm], ["lite", true, true]);
  const [y] = await evalMaps(model, BATCH);
  model.dispose();
  const d = maxAbsDiff(y, io.get("eval_orig")!.data as Float32Array);
  assert(d <= 1e-5, `max diff ${d}`);
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("loadWeights() reproduces all seven ONNX outputs within 1e-5 when given lite_orig.onnx", async () => {
  const start = tf.memory().numTensors;
  const model = await loadWeights("tests/testdata/lite_orig.onnx");
  assertEquals([model.config.name, model.convBias, model.batchNorm], ["lite", true, false]);
  assert(model.specs.every((s) => !s.key.includes(".bn.")));
  const maps = await evalMaps(model, ONNX_BATCH, true);
  model.dispose();
  assertEquals(maps.length, 7);
  maps.forEach((m, i) => {
    const d = maxAbsDiff(m, io.get(`onnx_out${i}`)!.data as Float32Array);
    assert(d <= 1e-5, `onnx_out${i}: max diff ${d}`);
  });
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("loadWeights() with identityBn builds a BN network with the same output when given ONNX", async () => {
  const model = await loadWeights(testdata("lite_orig.onnx"), { identityBn: true });
  assertEquals([model.convBias, model.batchNorm], [true, true]);
  const [y] = await evalMaps(model, ONNX_BATCH);
  model.dispose();
  const d = maxAbsDiff(y, io.get("onnx_out0")!.data as Float32Array);
  assert(d <= 1e-5, `max diff ${d}`);
});

/** lite_wz.pth with `side_modules.0.weight` stored as [1, 32, 3, 3] instead of [1, 64, 3, 3]. */
async function misshapenPth(): Promise<Uint8Array> {
  const bytes = (await Deno.readFile(testdata("lite_wz.pth"))).slice();
  const text = new TextDecoder("latin1").decode(bytes);
  const key = text.indexOf("side_modules.0.weight");
  const shape = text.indexOf("(K\x01K@K\x03K\x03t", key);
  assert(key > 0 && shape > key && shape - key < 200, "fixture layout changed");
  bytes[shape + 4] = 32; // BININT1 64 -> 32 (the reader does not check zip CRCs)
  return bytes;
}

Deno.test("loadWeights() names the key, actual and expected shapes when a .pth tensor is misshapen", async () => {
  const start = tf.memory().numTensors;
  const e = await assertRejects(
    async () => await loadWeights(await misshapenPth(), { filename: "bad.pth" }),
    RangeError,
    '"side_modules.0.weight" has shape [1,32,3,3], expected [1,64,3,3]',
  );
  assert(e.message.startsWith("Cannot"));
  assertEquals(tf.memory().numTensors, start);
});

// A minimal protobuf writer for a small ONNX model of another network.
const enc = new TextEncoder();
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) (out.push((n & 0x7f) | 0x80), n >>>= 7);
  return [...out, n];
}
function fieldVarint(no: number, n: number): number[] {
  return [...varint(no << 3), ...varint(n)];
}
function fieldBytes(no: number, b: Uint8Array | number[] | string): number[] {
  const bytes = typeof b === "string" ? [...enc.encode(b)] : [...b];
  return [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
}
function tensor(name: string, dims: number[]): number[] {
  const raw = new Uint8Array(new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.1).buffer);
  return [
    ...dims.flatMap((d) => fieldVarint(1, d)),
    ...fieldVarint(2, 1),
    ...fieldBytes(8, name),
    ...fieldBytes(9, raw),
  ];
}
function node(op: string, inputs: string[], outputs: string[]): number[] {
  return [
    ...inputs.flatMap((i) => fieldBytes(1, i)),
    ...outputs.flatMap((o) => fieldBytes(2, o)),
    ...fieldBytes(3, `${op}_0`),
    ...fieldBytes(4, op),
  ];
}

/** conv → relu → global average pool → flatten → gemm: a tiny classifier. */
function classifierOnnx(): Uint8Array {
  const graph = [
    ...fieldBytes(1, node("Conv", ["x", "w", "b"], ["c"])),
    ...fieldBytes(1, node("Relu", ["c"], ["r"])),
    ...fieldBytes(1, node("GlobalAveragePool", ["r"], ["p"])),
    ...fieldBytes(1, node("Flatten", ["p"], ["f"])),
    ...fieldBytes(1, node("Gemm", ["f", "fc_w", "fc_b"], ["y"])),
    ...fieldBytes(2, "classifier"),
    ...fieldBytes(5, tensor("w", [8, 3, 3, 3])),
    ...fieldBytes(5, tensor("b", [8])),
    ...fieldBytes(5, tensor("fc_w", [10, 8])),
    ...fieldBytes(5, tensor("fc_b", [10])),
  ];
  const opset = [...fieldBytes(1, ""), ...fieldVarint(2, 11)];
  return new Uint8Array([
    ...fieldVarint(1, 6),
    ...fieldBytes(2, "pytorch"),
    ...fieldBytes(7, graph),
    ...fieldBytes(8, opset),
  ]);
}

Deno.test("loadWeights() refuses with one clear line when the ONNX file is another network", async () => {
  const start = tf.memory().numTensors;
  await assertRejects(
    () => loadWeights(classifierOnnx(), { filename: "classifier.onnx" }),
    TypeError,
    "Cannot load ONNX (classifier.onnx): graph has no Concat node",
  );
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("loadWeightsFile() throws one clear line when the path does not exist", async () => {
  await assertRejects(
    () => loadWeightsFile("tests/testdata/missing.pth"),
    TypeError,
    'Cannot read weights file "tests/testdata/missing.pth": current path does not exist',
  );
  await assertRejects(
    () => loadWeights(new Uint8Array(64).fill(7), { filename: "noise.bin" }),
    TypeError,
    'Cannot read weights "noise.bin"',
  );
});
