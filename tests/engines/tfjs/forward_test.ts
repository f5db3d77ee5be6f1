import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { u2netLogits } from "../../../lib/engines/tfjs/forward.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { traceGraph } from "../../../lib/net/graph.ts";
import { maxAbsDiff, useBackend } from "../../helpers.ts";

function lookup(model: U2Net) {
  const vars = new Map([...model.namedParameters(), ...model.namedBuffers()]);
  return (key: string) => vars.get(key);
}

Deno.test("u2netLogits() reports batch stats once per BN node, in graph order, when training", async () => {
  await useBackend("cpu");
  const model = U2Net.create("lite", { seed: 1 });
  const start = tf.memory().numTensors;
  const layers: string[] = [];
  const shapes = tf.tidy(() => {
    const x = tf.randomNormal([1, 20, 24, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const ctx = { config: model.config, batchNorm: true, convBias: false, param: lookup(model) };
    const logits = u2netLogits(x, {
      ...ctx,
      training: true,
      onBatchStats: (layer) => layers.push(layer),
    });
    return logits.map((l) => l.shape);
  });
  const bn = traceGraph(model.config).nodes.filter((n) => n.op === "bn").map((n) => n.layer);
  assertEquals(layers, bn);
  assertEquals(shapes, Array(7).fill([1, 20, 24, 1]));
  assertEquals(tf.memory().numTensors, start);
  model.dispose();
});

Deno.test("u2netLogits() of a folded network agrees between fused eval and unfused train lowering", async () => {
  await useBackend("cpu");
  const model = U2Net.create("lite", { seed: 2, batchNorm: false });
  const start = tf.memory().numTensors;
  const [ev, tr] = tf.tidy(() => {
    const x = tf.randomNormal([2, 17, 23, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const ctx = { config: model.config, batchNorm: false, convBias: true, param: lookup(model) };
    const run = (training: boolean) =>
      tf.concat(u2netLogits(x, { ...ctx, training, onBatchStats: () => {} }), 3);
    return [run(false), run(true)];
  });
  assert(maxAbsDiff(await ev.data(), await tr.data()) < 1e-4);
  tf.dispose([ev, tr]);
  assertEquals(tf.memory().numTensors, start);
  model.dispose();
});
