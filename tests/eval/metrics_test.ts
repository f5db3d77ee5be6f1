import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import {
  F1Score,
  fMeasureCurve,
  FScore,
  histBin,
  imageMae,
  MeanAbsoluteError,
  prCurves,
  resizePrediction,
} from "../../lib/eval/metrics.ts";

await tf.setBackend("cpu");

interface MetricsCase {
  preds: { shape: number[]; data: number[] }[];
  gts: { shape: number[]; data: number[] }[];
  mae: number;
  maxF: number;
}
const fixture: { cases: MetricsCase[] } = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/metrics.json", import.meta.url)),
);

/** NCHW [1,1,h,w] data is also NHWC [1,h,w,1] data. */
const predTensor = (data: number[], h: number, w: number) => tf.tensor4d(data, [1, h, w, 1]);
const mask = (data: number[], height: number, width: number) => ({
  data: Uint8Array.from(data),
  width,
  height,
});

function assertClose(actual: number, expected: number, tol: number, msg = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} ${actual} vs ${expected}`);
}

Deno.test("MeanAbsoluteError and FScore match the seed when given metrics.json", async () => {
  assert.equal(fixture.cases.length, 4);
  const start = tf.memory().numTensors;
  for (const [ci, c] of fixture.cases.entries()) {
    const mae = new MeanAbsoluteError();
    const f = new FScore();
    for (const [i, p] of c.preds.entries()) {
      const [, ch, h, w] = p.shape;
      assert.equal(ch, 1);
      const [gh, gw] = c.gts[i].shape;
      const pred = predTensor(p.data, h, w);
      const gt = mask(c.gts[i].data, gh, gw);
      await mae.update(pred, gt);
      await f.update(pred, gt);
      pred.dispose();
    }
    assert.equal(mae.values.length, c.preds.length);
    assert.equal(f.count, c.preds.length);
    assertClose(mae.compute(), c.mae, 1e-6, `case ${ci} MAE`);
    assertClose(f.compute(), c.maxF, 1e-6, `case ${ci} maxF`);
  }
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("MeanAbsoluteError and FScore reproduce the spec §10 two-image example", async () => {
  const mae = new MeanAbsoluteError();
  const f = new F1Score();
  const images: [number[], number, number, number[], number, number][] = [
    [
      [.02, .95, .40, .10, .70, .05],
      2,
      3,
      [
        0,
        0,
        255,
        255,
        255,
        0,
        0,
        128,
        255,
        255,
        127,
        0,
        0,
        0,
        200,
        255,
        0,
        0,
        0,
        0,
        0,
        60,
        0,
        0,
      ],
      4,
      6,
    ],
    [[.99, .5, .3, 0], 2, 2, [255, 255, 0, 255, 0, 0, 0, 0, 0], 3, 3],
  ];
  for (const [p, h, w, g, gh, gw] of images) {
    const pred = predTensor(p, h, w);
    await mae.update(pred, mask(g, gh, gw));
    await f.update(pred, mask(g, gh, gw));
    pred.dispose();
  }
  assertClose(mae.values[0], 0.2351154, 1e-7, "MAE 1");
  assertClose(mae.values[1], 0.2519445, 1e-7, "MAE 2");
  assertClose(mae.compute(), 0.24352993, 1e-7, "MAE");
  assertClose(f.compute(), 0.96806109, 1e-7, "maxF");
  const { precision, recall, f: fc } = f.curves();
  const argmax = fc.indexOf(Math.max(...fc));
  assert.equal(argmax, 104);
  assertClose(precision[104], 0.99997, 1e-5, "P");
  assertClose(recall[104], 0.87498, 1e-5, "R");
  assert.equal(precision[0], 0);
  assert.equal(precision[1], 0);
  assertClose(precision[2], 0.49995, 1e-5, "P[2]");
  assert.equal(`${mae}`, "MAE: 0.244");
  assert.equal(`${f}`, "maxF1: 0.968");
});

Deno.test("resizePrediction() matches PyTorch's bilinear when given the spec §10 inputs", async () => {
  const cases: [number[], number, number, number, number, number[]][] = [
    [[0, .2, .4, .6, .8, 1], 2, 3, 4, 6, [
      0,
      .05,
      .15,
      .25,
      .35,
      .4,
      .15,
      .2,
      .3,
      .4,
      .5,
      .55,
      .45,
      .5,
      .6,
      .7,
      .8,
      .85,
      .6,
      .65,
      .75,
      .85,
      .95,
      1,
    ]],
    [[.1, .9, .3, .7, .2, .8, .05, .6, 1], 3, 3, 5, 4, [
      .1,
      .6,
      .675,
      .3,
      .34,
      .515,
      .575,
      .5,
      .7,
      .3875,
      .425,
      .8,
      .31,
      .39125,
      .62,
      .92,
      .05,
      .39375,
      .75,
      1,
    ]],
    [[.1, .9, .3, .7, .2, .8, .05, .6, 1], 3, 3, 2, 2, [.36875, .5, .284375, .8375]],
  ];
  for (const [data, h, w, oh, ow, expected] of cases) {
    const t = predTensor(data, h, w);
    const got = await resizePrediction(t, oh, ow);
    t.dispose();
    assert.equal(got.length, expected.length);
    expected.forEach((e, i) => assertClose(got[i], e, 1e-6, `${h}x${w}->${oh}x${ow} [${i}]`));
  }
});

Deno.test("histBin() follows torch.histc when given edge values", () => {
  assert.equal(histBin(0), 0);
  assert.equal(histBin(0.5), 127);
  assert.equal(histBin(1), 254);
  assert.equal(histBin(0.999), 254);
  assert.equal(histBin(1 / 255), 1);
  assert.equal(histBin(-1e-9), -1);
  assert.equal(histBin(1.0000001), -1);
  assert.equal(histBin(NaN), -1);
});

Deno.test("prCurves() and fMeasureCurve() give hand-counted curves when given a 4-pixel image", () => {
  // fg = {0,1} (255, 200); bg = {2,3} (128 counts as fg: 128/255 > 0.5; 127 does not)
  const { precision, recall } = prCurves([0.9, 0.3, 0.6, 2], [255, 128, 127, 0]);
  assert.equal(precision.length, 255);
  // k = 254 − bin; bins: 0.9 → 229, 0.6 → 153, 0.3 → 76; 2 is out of range
  const k = (bin: number) => 254 - bin;
  assert.equal(precision[k(230)], 0);
  assertClose(precision[k(229)], 1 / 1.0001, 1e-7);
  assertClose(recall[k(229)], 1 / 2.0001, 1e-7);
  assertClose(precision[k(153)], 1 / 2.0001, 1e-7);
  assertClose(precision[254], 2 / 3.0001, 1e-7);
  assertClose(recall[254], 2 / 2.0001, 1e-7);
  const empty = prCurves([0.9, 0.1], [0, 0]);
  assert.ok(empty.recall.every((r) => r === 0));
  const { f } = fMeasureCurve(precision, recall, 1);
  const P = 2 / 3.0001;
  const R = 2 / 2.0001;
  assertClose(f[254], 1.3 * P * R / (0.3 * P + R + 1e-8), 1e-6);
  assertClose(
    imageMae([0.9, 0.3, 0.6, 2], [255, 128, 127, 0]),
    (0.1 + 0.3 / 255 * 0 +
      Math.abs(0.3 - 128 / 255) + Math.abs(0.6 - 127 / 255) + 2) / 4,
    1e-7,
  );
});

Deno.test("MeanAbsoluteError.update() min-max normalises first when postNorm is set", async () => {
  const pred = predTensor([0.2, 0.6], 1, 2);
  const flat = predTensor([0.4, 0.4], 1, 2);
  const gt = mask([0, 255], 1, 2);
  const plain = new MeanAbsoluteError();
  const norm = new MeanAbsoluteError({ postNorm: true });
  await plain.update(pred, gt);
  await norm.update(pred, gt);
  await norm.update(flat, gt); // constant map: left unchanged
  assertClose(plain.compute(), 0.3, 1e-7);
  assertClose(norm.values[0], 0, 1e-7);
  assertClose(norm.values[1], 0.5, 1e-7);
  const f = new FScore({ postNorm: true });
  await f.update(pred, gt);
  assertClose(f.compute(), 1.3 / (1.3 + 1e-4 * 1.3), 1e-5);
  tf.dispose([pred, flat]);
});

Deno.test("update() accepts a tensor mask when given [h,w] or [1,h,w,1] uint8 values", async () => {
  const pred = predTensor([0.1, 0.8, 0.4, 0.9], 2, 2);
  const g = [0, 255, 0, 0, 255, 255, 10, 0, 200];
  const fromArray = new MeanAbsoluteError();
  const fromTensor = new MeanAbsoluteError();
  const t2 = tf.tensor2d(g, [3, 3], "int32");
  const t4 = tf.tensor4d(g, [1, 3, 3, 1], "int32");
  await fromArray.update(pred, mask(g, 3, 3));
  await fromTensor.update(pred, t2);
  await fromTensor.update(pred, t4);
  assert.deepEqual(fromTensor.values, [fromArray.values[0], fromArray.values[0]]);
  await assert.rejects(() => fromTensor.update(pred, tf.zeros([2, 3, 3, 1])), RangeError);
  await assert.rejects(() => fromTensor.update(tf.zeros([1, 1, 2, 2]), t2), RangeError);
  tf.dispose([pred, t2, t4]);
});

Deno.test("compute() throws and toString() says nan when no image was seen", () => {
  assert.throws(() => new MeanAbsoluteError().compute(), RangeError);
  assert.throws(() => new FScore().compute(), RangeError);
  assert.equal(`${new MeanAbsoluteError()}`, "MAE: nan");
  assert.equal(`${new F1Score()}`, "maxF1: nan");
  assert.equal(F1Score, FScore);
});
