import { assert, assertEquals, assertThrows } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { U2NET_FULL, U2NET_LITE } from "../../lib/net/config.ts";
import { stateDictSpec } from "../../lib/net/state_dict.ts";
import { graphShapes, type NetGraph, traceGraph } from "../../lib/net/graph.ts";
import {
  foldBatchNormNodes,
  fuseLayers,
  graphSummary,
  lastUses,
  pruneTo,
} from "../../lib/net/graph_passes.ts";
import { batchNormEval, conv2d, maxPoolCeil, resizeBilinear } from "../../lib/engines/tfjs/ops.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { foldBatchNorm } from "../../lib/model/fold_bn.ts";
import { maxAbsDiff, useBackend } from "../helpers.ts";

for (const config of [U2NET_LITE, U2NET_FULL]) {
  Deno.test(`traceGraph() traces every state-dict conv and BN when config is ${config.name}`, () => {
    const g = traceGraph(config);
    const spec = new Map(
      stateDictSpec(config, { convBias: false, batchNorm: true }).map((e) => [e.key, e.shape]),
    );
    const convs = g.nodes.filter((n) => n.op === "conv");
    const layerConvs = [...spec.keys()].filter((k) => k.endsWith(".conv.weight")).length;
    assertEquals(convs.length, layerConvs + 6 + 1);
    assertEquals(convs.filter((n) => n.role === "side").length, 6);
    for (const n of convs) {
      const shape = spec.get(`${n.key}.weight`);
      assert(shape, `${n.key}.weight missing`);
      assertEquals(n.channels, shape[0], n.key);
      const inCh = n.inputs.reduce((s, i) => s + g.nodes[i].channels, 0);
      assertEquals(inCh, shape[1], n.key);
      assertEquals(n.kernel, shape[2], n.key);
      assertEquals(spec.has(`${n.key}.bias`), n.bias, n.key);
    }
    for (const n of g.nodes.filter((n) => n.op === "bn")) {
      assert(spec.has(`${n.key}.running_var`), `${n.key} missing`);
    }
    g.nodes.forEach((n, i) => {
      assertEquals(n.id, i);
      assert(n.inputs.every((j) => j < i), `node ${i} reads a later node`);
    });
  });
}

Deno.test("graphShapes() gives input-sized logits and ceil pools when the size is odd", () => {
  const g = traceGraph(U2NET_LITE);
  const shapes = graphShapes(g, [2, 37, 45]);
  for (const id of [...g.logits, ...g.probs]) {
    assertEquals(shapes[id], { n: 2, h: 37, w: 45, c: 1 });
  }
  const pool = g.nodes.find((n) => n.op === "pool")!;
  assertEquals(shapes[pool.id].h, 19);
  assertEquals(shapes[pool.id].w, 23);
  assertEquals(shapes[pool.id].c, shapes[pool.inputs[0]].c);
});

/** Runs a graph node by node with the model's own ops; returns the probs. */
function interpret(g: NetGraph, x: tf.Tensor4D, model: U2Net): tf.Tensor4D[] {
  const params = new Map([...model.namedParameters(), ...model.namedBuffers()]);
  const p = <T extends tf.Tensor>(key: string) => {
    const t = params.get(key);
    if (!t) throw new Error(`missing ${key}`);
    return t as unknown as T;
  };
  const shapes = graphShapes(g, x.shape.slice(0, 3) as [number, number, number]);
  return tf.tidy(() => {
    const v: tf.Tensor4D[] = [];
    for (const n of g.nodes) {
      const a = v[n.inputs[0]];
      let y: tf.Tensor4D;
      if (n.op === "input") y = x;
      else if (n.op === "conv") {
        const src = n.inputs.length === 1 ? a : tf.concat(n.inputs.map((i) => v[i]), 3);
        y = conv2d(src, p(`${n.key}.weight`), n.dilation!);
        if (n.bias) y = tf.add(y, p(`${n.key}.bias`));
        if (n.relu) y = tf.relu(y);
        if (n.residual !== undefined) y = tf.add(y, v[n.residual]);
      } else if (n.op === "bn") {
        const b = (s: string) => p<tf.Tensor1D>(`${n.key}.${s}`);
        y = batchNormEval(a, b("running_mean"), b("running_var"), b("weight"), b("bias"));
      } else if (n.op === "relu") y = tf.relu(a);
      else if (n.op === "add") y = tf.add(a, v[n.inputs[1]]);
      else if (n.op === "pool") y = maxPoolCeil(a);
      else if (n.op === "resize") {
        const like = v[n.inputs[1]];
        y = resizeBilinear(a, [like.shape[1], like.shape[2]]);
      } else if (n.op === "concat") y = tf.concat(n.inputs.map((i) => v[i]), 3);
      else y = tf.sigmoid(a);
      const s = shapes[n.id];
      assertEquals(y.shape, [s.n, s.h, s.w, s.c], `node ${n.id} ${n.op}`);
      v.push(y);
    }
    return g.probs.map((i) => v[i]);
  });
}

async function compareProbs(g: NetGraph, model: U2Net, x: tf.Tensor4D): Promise<void> {
  const got = interpret(g, x, model);
  const want = model.forward(x, { allSides: true });
  try {
    assertEquals(got.length, 7);
    for (let k = 0; k < 7; k++) {
      const diff = maxAbsDiff(await got[k].data(), await want[k].data());
      assert(diff < 1e-5, `prob ${k}: max abs diff ${diff}`);
    }
  } finally {
    tf.dispose([...got, ...want]);
  }
}

Deno.test("traceGraph() computes the model's seven probs when interpreted with or without BN nodes", async () => {
  await useBackend("cpu");
  const start = tf.memory().numTensors;
  const model = U2Net.create("lite", { seed: 1 }).eval();
  const folded = await foldBatchNorm(model);
  const x = tf.randomUniform([1, 40, 36, 3], 0, 1, "float32", 3) as tf.Tensor4D;
  try {
    await compareProbs(traceGraph(U2NET_LITE), model, x);
    const fused = fuseLayers(foldBatchNormNodes(traceGraph(U2NET_LITE)));
    assert(fused.nodes.some((n) => n.residual !== undefined && n.inputs.length === 2));
    await compareProbs(fused, folded, x);
  } finally {
    tf.dispose([x]);
    folded.dispose();
    model.dispose();
  }
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("foldBatchNormNodes() equals a BN-free trace when the graph has BN", () => {
  const folded = foldBatchNormNodes(traceGraph(U2NET_LITE));
  assertEquals(folded, traceGraph(U2NET_LITE, { batchNorm: false }));
});

Deno.test("fuseLayers() throws when the graph has BN, and fuses every layer otherwise", () => {
  assertThrows(() => fuseLayers(traceGraph(U2NET_LITE)), RangeError, "BatchNorm nodes");
  const g = traceGraph(U2NET_LITE, { batchNorm: false });
  const f = fuseLayers(g);
  const before = graphSummary(g), after = graphSummary(f);
  assertEquals(after.relu, 0);
  assertEquals(after.add, 0);
  assertEquals(after.conv, before.conv);
  assertEquals(after.concat, 1); // only the fuse head's six-input concat
  assertEquals(f.nodes.filter((n) => n.residual !== undefined).length, before.add);
  assertEquals(f.nodes.filter((n) => n.relu).length, before.relu);
  assertEquals(f.probs.map((i) => f.nodes[i].op), Array(7).fill("sigmoid"));
  assertEquals(f.nodes[f.logits[0]].role, "fuse");
});

Deno.test("pruneTo() keeps only the fused path when asked for probs[0]", () => {
  const g = fuseLayers(traceGraph(U2NET_LITE, { batchNorm: false }));
  const { graph, outputs } = pruneTo(g, [g.probs[0]]);
  assertEquals(graph.nodes.length, g.nodes.length - 6);
  assertEquals(graphSummary(graph).sigmoid, 1);
  assertEquals(graph.nodes[outputs[0]].op, "sigmoid");
  assertEquals(graph.probs[0], outputs[0]);
  assertEquals(graph.probs.slice(1), Array(6).fill(-1));
  assertEquals(pruneTo(g, [g.logits[3]]).graph.nodes.some((n) => n.role === "fuse"), false);
});

Deno.test("lastUses() is after each node when the node is not an output", () => {
  for (
    const g of [traceGraph(U2NET_LITE), fuseLayers(traceGraph(U2NET_LITE, { batchNorm: false }))]
  ) {
    const last = lastUses(g);
    for (const n of g.nodes) {
      if (g.probs.includes(n.id)) assertEquals(last[n.id], -1);
      else assert(last[n.id] > n.id, `node ${n.id} (${n.op}) last use ${last[n.id]}`);
    }
  }
});

Deno.test("graphSummary() counts the lite graph's ops when traced with BN", () => {
  const s = graphSummary(traceGraph(U2NET_LITE));
  assertEquals(s.input, 1);
  assertEquals(s.bn, s.conv - 7);
  assertEquals(s.relu, s.bn);
  assertEquals(s.sigmoid, 7);
  assertEquals(s.add, 11);
});
