import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { bceWithLogits, criterion } from "../../lib/train/loss.ts";

await tf.setBackend("cpu");

interface CriterionCase {
  inputs: number[][];
  shape: number[];
  target: number[];
  loss: number;
}
const fixture: { cases: CriterionCase[] } = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/criterion.json", import.meta.url)),
);

/** NCHW [B,1,H,W] data has the same element order as NHWC [B,H,W,1]. */
function nhwc(data: number[], shape: number[]): tf.Tensor4D {
  const [b, c, h, w] = shape;
  assert.equal(c, 1);
  return tf.tensor4d(data, [b, h, w, 1]);
}

function assertRelClose(actual: number, expected: number, rel: number, msg?: string): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-30);
  assert.ok(err <= rel, `${msg ?? ""} ${actual} vs ${expected} (rel ${err})`);
}

Deno.test("criterion() matches the seed when given criterion.json", async () => {
  assert.equal(fixture.cases.length, 3);
  const start = tf.memory().numTensors;
  for (const [i, c] of fixture.cases.entries()) {
    assert.equal(c.inputs.length, 7);
    const target = nhwc(c.target, c.shape);
    const outputs = c.inputs.map((d) => nhwc(d, c.shape));
    const loss = criterion(outputs, target);
    assert.deepEqual(loss.shape, []);
    assertRelClose((await loss.data())[0], c.loss, 1e-5, `case ${i}`);
    tf.dispose([loss, target, ...outputs]);
  }
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("bceWithLogits() reproduces the spec §10 table when given scalar pairs", async () => {
  const x = tf.tensor1d([-3, 0, 2.5, 20, -100]);
  const y = tf.tensor1d([0, 0.5, 1, 0.2, 1]);
  const l = bceWithLogits(x, y);
  const got = await l.data();
  [0.0485873, 0.6931472, 0.0788897, 16.0, 100.0].forEach((e, i) =>
    assertRelClose(got[i], e, 2e-6, `row ${i}`)
  );
  const mean = tf.mean(l);
  assertRelClose((await mean.data())[0], 23.364124, 1e-6, "mean");
  tf.dispose([x, y, l, mean]);
});

Deno.test("criterion() gives 6.4086909 when given the spec §10 constant maps", async () => {
  const target = tf.tensor4d([0, 1, 1, 0.5], [1, 2, 2, 1]);
  const outs = [-1, 0, 1, 2, -2, 0.5, 3].map((v) => tf.fill([1, 2, 2, 1], v));
  const loss = criterion(outs, target);
  assertRelClose((await loss.data())[0], 6.4086909, 1e-6);
  tf.dispose([target, loss, ...outs]);
});

Deno.test("bceWithLogits() stays finite and exact when given logits of ±100", async () => {
  const x = tf.tensor1d([100, -100, 100, -100, 100]);
  const y = tf.tensor1d([1, 0, 0, 1, 0.5]);
  const l = bceWithLogits(x, y);
  const got = Array.from(await l.data());
  // exact: softplus(-100) ≈ 3.7e-44, 100 + softplus(-100), 50 + softplus(-100)
  assert.ok(got.every(Number.isFinite), `${got}`);
  assert.ok(got[0] < 1e-30 && got[1] < 1e-30, `${got}`);
  assertRelClose(got[2], 100, 1e-7);
  assertRelClose(got[3], 100, 1e-7);
  assertRelClose(got[4], 50, 1e-7);
  tf.dispose([x, y, l]);
});

Deno.test("criterion() has the analytic gradient when differentiated with tf.grads", async () => {
  const xs = [-100, -3, -0.5, 0, 0.25, 2, 7, 100];
  const ys = [1, 0, 0.3, 0.5, 1, 0.9, 0, 0];
  const shape: [number, number, number, number] = [1, 2, 4, 1];
  const target = tf.tensor4d(ys, shape);
  const a = tf.tensor4d(xs, shape);
  const b = tf.tensor4d(xs.map((v) => -v / 2), shape);
  const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => criterion([p, q], target))([a, b]);
  const n = xs.length;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const gotA = await ga.data();
  const gotB = await gb.data();
  xs.forEach((v, i) => {
    assert.ok(Math.abs(gotA[i] - (sig(v) - ys[i]) / n) < 1e-7, `a[${i}] ${gotA[i]}`);
    assert.ok(Math.abs(gotB[i] - (sig(-v / 2) - ys[i]) / n) < 1e-7, `b[${i}] ${gotB[i]}`);
  });
  tf.dispose([target, a, b, ga, gb]);
});

Deno.test("criterion() throws RangeError when given mismatched or no outputs", () => {
  const t = tf.zeros([1, 2, 2, 1]);
  const o = tf.zeros([1, 2, 3, 1]);
  assert.throws(() => criterion([o], t), RangeError);
  assert.throws(() => criterion([], t), RangeError);
  tf.dispose([t, o]);
});

Deno.test({
  name: "criterion() matches the seed on WebGPU when given criterion.json case 2",
  ignore: !(globalThis.navigator as { gpu?: unknown } | undefined)?.gpu,
  async fn() {
    const { selectBackend } = await import("../../lib/backend.ts");
    try {
      await selectBackend("webgpu");
    } catch {
      return; // no adapter here: nothing to check
    }
    try {
      assert.equal(tf.getBackend(), "webgpu");
      const c = fixture.cases[2];
      const target = nhwc(c.target, c.shape);
      const outputs = c.inputs.map((d) => nhwc(d, c.shape));
      const loss = criterion(outputs, target);
      assertRelClose((await loss.data())[0], c.loss, 1e-5);
      tf.dispose([loss, target, ...outputs]);
    } finally {
      await tf.setBackend("cpu");
    }
  },
});
