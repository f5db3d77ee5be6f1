import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { foldBatchNorm } from "../../../lib/model/fold_bn.ts";
import { modelFromWeights } from "../../../lib/model/load_weights.ts";
import { readWeights } from "../../../lib/io/read_weights.ts";
import { parseOnnx } from "../../../lib/io/onnx.ts";
import { exportOnnx, ONNX_EXPORT_OPSET } from "../../../lib/engines/onnx/onnx_export.ts";
import { maxAbsDiff, useBackend } from "../../helpers.ts";

const OPS = new Set(["Conv", "Relu", "MaxPool", "Resize", "Concat", "Add", "Sigmoid", "Shape"]);

Deno.test("exportOnnx() writes a dynamic opset-17 graph of the allowed ops when given lite", async () => {
  const model = U2Net.create("lite", { seed: 5 });
  try {
    const m = parseOnnx(await exportOnnx(model));
    assertEquals(m.opsetVersion, ONNX_EXPORT_OPSET);
    assertEquals(m.graph.inputs, [
      { name: "input", elemType: 1, shape: ["batch", 3, "height", "width"] },
    ]);
    assertEquals(m.graph.outputs.map((o) => o.name), ["d0"]);
    const convs = m.graph.nodes.filter((n) => n.opType === "Conv");
    assertEquals(convs.length, 119);
    for (const n of m.graph.nodes) assert(OPS.has(n.opType), n.opType);
    const pool = m.graph.nodes.find((n) => n.opType === "MaxPool")!;
    assertEquals(pool.attributes.get("ceil_mode")!.i, 1);
    const resize = m.graph.nodes.find((n) => n.opType === "Resize")!;
    assertEquals(resize.attributes.get("coordinate_transformation_mode")!.s, "pytorch_half_pixel");
    assertEquals(convs[7].attributes.get("dilations")!.ints, [2, 2]);
    assertEquals(convs[7].attributes.get("pads")!.ints, [2, 2, 2, 2]);
    assertEquals(m.graph.initializers.get("out_conv.weight")!.shape, [1, 6, 1, 1]);
  } finally {
    model.dispose();
  }
});

Deno.test("exportOnnx() fixes the input and adds d1…d6 when given inputSize and allSides", async () => {
  const model = U2Net.create("lite");
  try {
    const m = parseOnnx(await exportOnnx(model, { inputSize: [320, 288], allSides: true }));
    assertEquals(m.graph.inputs[0].shape, [1, 3, 320, 288]);
    assertEquals(m.graph.outputs.map((o) => o.name), ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]);
    assertEquals(m.graph.outputs[3].shape, [1, 1, 320, 288]);
  } finally {
    model.dispose();
  }
});

Deno.test("exportOnnx() round-trips through readWeights when re-imported and run", async () => {
  await useBackend("cpu");
  const start = tf.memory().numTensors;
  const model = U2Net.create("lite", { seed: 9 });
  const folded = await foldBatchNorm(model);
  const back = modelFromWeights(await readWeights(await exportOnnx(model), "x.onnx"));
  const x = tf.randomUniform([1, 37, 30, 3], -2, 2, "float32", 4) as tf.Tensor4D;
  const ya = folded.predict(x);
  const yb = back.predict(x);
  try {
    assertEquals([back.config.name, back.batchNorm], ["lite", false]);
    assertEquals(maxAbsDiff(await ya.data(), await yb.data()), 0);
  } finally {
    tf.dispose([x, ya, yb]);
    model.dispose();
    folded.dispose();
    back.dispose();
  }
  assertEquals(tf.memory().numTensors, start);
});
