import { assert, assertEquals, assertThrows } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import type { U2NetConfig } from "../../lib/net/config.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { modelFromWeights } from "../../lib/model/load_weights.ts";
import { readWeights } from "../../lib/io/read_weights.ts";
import { type OnnxModel, onnxToFoldedStateDict, parseOnnx } from "../../lib/io/onnx.ts";
import { exportOnnx } from "../../lib/engines/onnx/onnx_export.ts";
import type { StateDict } from "../../lib/io/raw_tensor.ts";
import { maxAbsDiff, patternImage, useBackend } from "../helpers.ts";
import { createPredictor } from "../../lib/predict/predictor.ts";
import {
  attr,
  float16Weights,
  HALF_LITE,
  node,
  type ResizeForm,
  staticResizes,
  unfoldBatchNorm,
  weightsAsConstants,
  writeOnnxModel,
} from "./_onnx_variants.ts";

const SIZE = 32;

/** Random BatchNorm statistics and affine parameters, so that folding matters. */
async function randomizeBn(model: U2Net, seed: number): Promise<StateDict> {
  const sd = await model.stateDict();
  let s = seed;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const range: Record<string, [number, number]> = {
    weight: [0.5, 1.5],
    bias: [-0.2, 0.2],
    running_mean: [-0.2, 0.2],
    running_var: [0.5, 1.5],
  };
  for (const [k, t] of sd) {
    const m = /\.bn\.(weight|bias|running_mean|running_var)$/.exec(k);
    if (!m) continue;
    const [lo, hi] = range[m[1]];
    const data = Float32Array.from(t.data as Float32Array, () => lo + (hi - lo) * rnd());
    sd.set(k, { dtype: "F32", shape: t.shape, data });
  }
  model.loadStateDict(sd);
  return sd;
}

/** Imports `bytes` and returns the largest difference of its eval output from `model`'s. */
async function importDiff(model: U2Net, bytes: Uint8Array): Promise<[number, U2NetConfig]> {
  const back = modelFromWeights(await readWeights(bytes, "variant.onnx"));
  const x = tf.randomUniform([1, SIZE, SIZE, 3], -2, 2, "float32", 3) as tf.Tensor4D;
  const [ya, yb] = [model.predict(x), back.predict(x)];
  try {
    return [maxAbsDiff(await ya.data(), await yb.data()), back.config];
  } finally {
    tf.dispose([x, ya, yb]);
    back.dispose();
  }
}

async function variant(
  model: U2Net,
  edit: (m: OnnxModel) => void | Promise<void>,
): Promise<Uint8Array> {
  const m = parseOnnx(await exportOnnx(model, { inputSize: [SIZE, SIZE], allSides: true }));
  await edit(m);
  return writeOnnxModel(m);
}

Deno.test("onnxToFoldedStateDict() derives a custom config when the widths are not full or lite", async () => {
  await useBackend("cpu");
  const start = tf.memory().numTensors;
  const model = U2Net.create(HALF_LITE, { seed: 3 }).eval();
  try {
    await randomizeBn(model, 7);
    const f = onnxToFoldedStateDict(parseOnnx(await exportOnnx(model)));
    assertEquals([f.arch, f.config.name, f.resize], ["custom", "custom", "half_pixel"]);
    assertEquals(f.config, HALF_LITE);
    const [diff, config] = await importDiff(model, await exportOnnx(model));
    assertEquals(config, HALF_LITE);
    assert(diff < 1e-5, `max abs difference ${diff}`);
  } finally {
    model.dispose();
  }
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("readWeights() imports the same network when weights are Constant nodes or BN is unfolded", async () => {
  await useBackend("cpu");
  const model = U2Net.create("lite", { seed: 4 }).eval();
  try {
    const raw = await randomizeBn(model, 11);
    const forms: [string, (m: OnnxModel) => void][] = [
      ["constants", weightsAsConstants],
      ["bn-nodes", (m) => unfoldBatchNorm(m, raw)],
      ["bn-nodes+constants", (m) => (unfoldBatchNorm(m, raw), weightsAsConstants(m))],
    ];
    for (const [name, edit] of forms) {
      const bytes = await variant(model, edit);
      const ops = new Set(parseOnnx(bytes).graph.nodes.map((n) => n.opType));
      assert(name === "constants" || ops.has("BatchNormalization"), name);
      const [diff] = await importDiff(model, bytes);
      assert(diff < 1e-5, `${name}: max abs difference ${diff}`);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("readWeights() converts float16 weights behind Cast nodes to float32 when imported", async () => {
  await useBackend("cpu");
  const model = U2Net.create(HALF_LITE, { seed: 5 }).eval();
  try {
    await randomizeBn(model, 13);
    const bytes = await variant(model, float16Weights);
    const m = parseOnnx(bytes);
    const w = [...m.graph.initializers.values()].find((t) => t.shape.length === 4)!;
    assertEquals(w.dtype, "F16");
    const [diff, config] = await importDiff(model, bytes);
    assertEquals(config.name, "custom");
    // Weights rounded to float16 (11-bit significand): 7e-6 measured on these random weights.
    assert(diff > 1e-7 && diff < 1e-3, `max abs difference ${diff}`);
  } finally {
    model.dispose();
  }
});

Deno.test("onnxToFoldedStateDict() accepts Resize of opsets 10/11/13 and Upsample when rewritten", async () => {
  await useBackend("cpu");
  const model = U2Net.create(HALF_LITE, { seed: 6 }).eval();
  try {
    const forms: [ResizeForm, string][] = [
      ["resize13", "half_pixel"],
      ["resize11", "half_pixel"],
      ["resize10", "asymmetric"],
      ["upsample9", "asymmetric"],
    ];
    for (const [form, coords] of forms) {
      const bytes = await variant(model, (m) => staticResizes(m, form));
      const m = parseOnnx(bytes);
      assert(!m.graph.nodes.some((n) => n.opType === "Shape"), form);
      assertEquals(onnxToFoldedStateDict(m).resize, coords, form);
      const [diff] = await importDiff(model, bytes);
      assert(diff < 1e-5, `${form}: max abs difference ${diff}`);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("onnxToFoldedStateDict() names the node when an op or resize is not U2-Net's", async () => {
  const model = U2Net.create("lite", { seed: 1 });
  const base = parseOnnx(await exportOnnx(model));
  model.dispose();
  const clone = () => parseOnnx(writeOnnxModel(base));
  const mul = clone();
  const relu = mul.graph.nodes.findIndex((n) => n.opType === "Relu");
  const y = mul.graph.nodes[relu].outputs[0];
  mul.graph.nodes[relu].outputs = [`${y}_pre`];
  mul.graph.initializers.set("two", { dtype: "F32", shape: [], data: new Float32Array([2]) });
  mul.graph.nodes.splice(relu + 1, 0, node("Mul", [`${y}_pre`, "two"], [y]));
  assertThrows(() => onnxToFoldedStateDict(mul), TypeError, `Mul node "${y}" on the image path`);
  const nearest = clone();
  const r = nearest.graph.nodes.find((n) => n.opType === "Resize")!;
  r.attributes.set("mode", attr.str("mode", "nearest"));
  assertThrows(
    () => onnxToFoldedStateDict(nearest),
    TypeError,
    `node "${r.name}" has mode nearest`,
  );
  const corners = clone();
  const c = corners.graph.nodes.find((n) => n.opType === "Resize")!;
  c.attributes.set(
    "coordinate_transformation_mode",
    attr.str("coordinate_transformation_mode", "align_corners"),
  );
  assertThrows(
    () => onnxToFoldedStateDict(corners),
    TypeError,
    "uses coordinate_transformation_mode align_corners",
  );
});

Deno.test("onnxToFoldedStateDict() refuses a graph that is not a U2-Net in one line", async () => {
  const model = U2Net.create("lite", { seed: 2 });
  const base = parseOnnx(await exportOnnx(model));
  model.dispose();
  // A stage whose conv_in does not take the previous stage's channels.
  const chain = parseOnnx(writeOnnxModel(base));
  const key = "encode_modules.1.conv_in.conv.weight";
  chain.graph.initializers.set(key, {
    dtype: "F32",
    shape: [64, 32, 3, 3],
    data: new Float32Array(64 * 32 * 9),
  });
  const e = assertThrows(
    () => onnxToFoldedStateDict(chain),
    TypeError,
    "En2 conv_in taking 32 channels, expected 64",
  );
  assert(!e.message.includes("\n"));
  // A plain CNN: a few convs and no U2-Net structure.
  const small = parseOnnx(writeOnnxModel(base));
  const convs = small.graph.nodes.filter((n) => n.opType === "Conv");
  small.graph.nodes = small.graph.nodes.filter((n) => n.opType !== "Conv" || convs.indexOf(n) < 10);
  assertThrows(
    () => onnxToFoldedStateDict(small),
    TypeError,
    "graph has 10 Conv nodes, expected 119 (U2-Net)",
  );
});

Deno.test("readWeights() widens bfloat16 weights exactly when the file stores data type 16", async () => {
  const model = U2Net.create(HALF_LITE, { seed: 12 });
  try {
    const exported = await exportOnnx(model);
    const m = parseOnnx(exported);
    float16Weights(m, "bf16");
    const w = await readWeights(writeOnnxModel(m), "bf16.onnx");
    const ref = onnxToFoldedStateDict(parseOnnx(exported)).stateDict;
    assertEquals(w.config, HALF_LITE);
    for (const key of ["encode_modules.0.conv_in.conv.weight", "out_conv.bias"]) {
      const want = Float32Array.from(ref.get(key)!.data as Float32Array, (x) => {
        const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
        const top = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16;
        return new Float32Array(new Uint32Array([top]).buffer)[0];
      });
      assertEquals(w.stateDict.get(key)!.data, want);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("modelFromWeights() runs an imported custom-width network on the CPU engine", async () => {
  await useBackend("cpu");
  const model = U2Net.create(HALF_LITE, { seed: 14 });
  const back = modelFromWeights(await readWeights(await exportOnnx(model), "x.onnx"));
  try {
    const img = patternImage(40, 30, 3);
    const [a] = await createPredictor(back, { inputSize: SIZE, engine: "cpu" }).predict([img]);
    const [b] = await createPredictor(back, { inputSize: SIZE, engine: "tfjs" }).predict([img]);
    assert(maxAbsDiff(a.data, b.data) < 1e-5, `${maxAbsDiff(a.data, b.data)}`);
  } finally {
    model.dispose();
    back.dispose();
  }
});
