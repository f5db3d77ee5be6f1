import assert from "node:assert/strict";
import {
  DEFAULT_TRAIN_OPTIONS,
  DEMO_TRAIN_OPTIONS,
  resolveTrainOptions,
} from "../../lib/train/train_options.ts";

Deno.test("resolveTrainOptions() applies the demo defaults only without a data path", () => {
  const demo = resolveTrainOptions({ epochs: 5, lr: undefined });
  assert.deepEqual(demo, { ...DEFAULT_TRAIN_OPTIONS, ...DEMO_TRAIN_OPTIONS, epochs: 5 });
  const real = resolveTrainOptions({ dataPath: "/data/DUTS" });
  assert.deepEqual(real, { ...DEFAULT_TRAIN_OPTIONS, dataPath: "/data/DUTS" });
  assert.equal(resolveTrainOptions({}, { demo: false }).arch, "full");
});

Deno.test("DEFAULT_TRAIN_OPTIONS carries the seed's train.py defaults", () => {
  const d = DEFAULT_TRAIN_OPTIONS;
  assert.deepEqual(
    [d.batchSize, d.epochs, d.lr, d.weightDecay, d.evalInterval, d.printFreq, d.warmupEpochs],
    [16, 360, 0.001, 1e-4, 10, 50, 2],
  );
  assert.deepEqual([d.inputSize, d.cropSize, d.startEpoch, d.keepCheckpoints], [320, 288, 0, 10]);
});

Deno.test("resolveTrainOptions() rejects impossible settings", () => {
  const bad: [object, RegExp][] = [
    [{ batchSize: 0 }, /batchSize is 0/],
    [{ epochs: 2.5 }, /epochs is 2.5/],
    [{ lr: -1 }, /lr is -1/],
    [{ weightDecay: NaN }, /weightDecay is NaN/],
    [{ cropSize: 40, inputSize: 32 }, /cropSize 40 > inputSize 32/],
    [{ arch: "huge" }, /arch is "huge"/],
  ];
  for (const [o, re] of bad) assert.throws(() => resolveTrainOptions(o), re);
});
