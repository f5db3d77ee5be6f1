import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { decodeImage, encodePng } from "../../lib/data/image_io.ts";
import { syntheticSample } from "../../lib/data/synthetic.ts";
import { train } from "../../lib/train/train_loop.ts";
import { RESULTS_LINE_PATTERN } from "../../lib/train/results.ts";
import { NonFiniteLossError } from "../../lib/train/train_step.ts";
import type { TrainOptions } from "../../lib/train/train_options.ts";
import { f16OrSkip } from "../helpers.ts";

await tf.setBackend("cpu");
const TMP = new URL("../.tmp/train_loop_test/", import.meta.url).pathname;

async function freshDir(name: string): Promise<string> {
  const dir = `${TMP}${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

const files = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
const tensors = async (path: string) => readSafetensors(await Deno.readFile(path)).tensors;

/** A smaller version of DEMO_TRAIN_OPTIONS (same lr and schedule shape). */
const TINY: TrainOptions = {
  arch: "lite",
  inputSize: 20,
  cropSize: 16,
  batchSize: 4,
  syntheticTrain: 8,
  syntheticEval: 2,
  epochs: 3,
  warmupEpochs: 1,
  lr: 0.003,
  evalInterval: 2,
  printFreq: 1,
  keepCheckpoints: 2,
};

/** TINY on two 12x12 crops a batch, one eval sample: the resume tests' runs. */
const TWO_SAMPLES: TrainOptions = {
  ...TINY,
  inputSize: 16,
  cropSize: 12,
  batchSize: 2,
  syntheticTrain: 2,
  syntheticEval: 1,
};

Deno.test("train() lowers the loss on the synthetic demo data and writes every output", async () => {
  const dir = await freshDir("demo");
  const start = tf.memory().numTensors;
  const lines: string[] = [];
  const r = await train({ ...TINY, outputDir: dir }, { onLog: (l) => lines.push(l) });
  assert.equal(tf.memory().numTensors, start);
  assert.equal(r.history.length, 3);
  const [first, , last] = r.history;
  assert.ok(last.trainLoss < first.trainLoss, `loss ${first.trainLoss} -> ${last.trainLoss}`);
  assert.ok(
    lines.includes(
      "[epoch: 2] val_MAE: " + last.mae!.toFixed(3) + " val_maxF1: " + last.maxF!.toFixed(3),
    ),
  );
  assert.ok(lines.some((l) => l.startsWith("Epoch: [0]  [0/2]  eta: ")), lines.join("\n"));
  // results file: the seed's format, evaluated epochs 0 and 2
  const results = await Deno.readTextFile(r.resultsFile);
  assert.match(r.resultsFile, /\/results\d{8}-\d{6}\.txt$/);
  const rl = results.split("\n").filter((l) => l);
  assert.equal(rl.length, 2);
  rl.forEach((l) => assert.match(l, RESULTS_LINE_PATTERN));
  assert.ok(results.startsWith("[epoch: 0] ") && results.endsWith(" \n"));
  // checkpoints: the last two kept, best, chart, predicted mask
  const names = files(dir);
  for (
    const n of [
      "model_1.json",
      "model_2.json",
      "model_2.safetensors",
      "model_2.optim.safetensors",
      "model_best.safetensors",
    ]
  ) {
    assert.ok(names.includes(n), `${n} in ${names}`);
  }
  assert.ok(!names.includes("model_0.json") && !names.includes("model_0.safetensors"));
  assert.ok(!names.some((n) => n.includes(".tmp-")));
  assert.equal(r.lastCheckpoint, `${dir}/model_2.json`);
  const svg = await Deno.readTextFile(r.chartFile);
  assert.ok(svg.startsWith("<svg") && (svg.match(/<polyline/g) ?? []).length === 4);
  const png = await decodeImage(await Deno.readFile(r.predictionFile!));
  assert.deepEqual([png.width, png.height, png.channels], [20, 20, 1]);
  assert.equal(r.predictionFile, `${dir}/prediction_synthetic_000008.png`);
});

Deno.test("train() trains as the seed does when epochs <= warmupEpochs (all steps in warmup)", async () => {
  const dir = await freshDir("warmup");
  const r = await train({
    ...TINY,
    inputSize: 16,
    cropSize: 16,
    syntheticTrain: 4,
    syntheticEval: 1,
    epochs: 1,
    warmupEpochs: 2,
    outputDir: dir,
  });
  assert.equal(r.history.length, 1);
  // one iteration per epoch, W = 2 steps: after 1 step the seed's lambda gives 1e-3·0.5 + 0.5
  assert.ok(
    Math.abs(r.history[0].lr - TINY.lr! * (1e-3 * 0.5 + 0.5)) < 1e-12,
    `${r.history[0].lr}`,
  );
  assert.ok(Number.isFinite(r.history[0].trainLoss));
});

Deno.test("train() resumed from a checkpoint continues bit for bit", async () => {
  const base: TrainOptions = {
    ...TWO_SAMPLES,
    evalInterval: 100,
  };
  const a = await freshDir("straight");
  const b = await freshDir("resumed");
  await train({ ...base, outputDir: a });
  const stop = new AbortController();
  const first = await train({ ...base, outputDir: b }, {
    signal: stop.signal,
    onEpoch: (rec) => rec.epoch === 1 && stop.abort(),
  });
  assert.equal(first.stopped, true);
  assert.deepEqual(first.history.map((h) => h.epoch), [0, 1]);
  assert.ok(!files(b).includes("model_2.json"));
  const notes: string[] = [];
  const second = await train({ resume: b, batchSize: 5 }, { onLog: (l) => notes.push(l) });
  assert.ok(notes.some((n) => n.startsWith(`resuming from ${b}/model_1.json`)), notes.join("\n"));
  assert.ok(notes.some((n) => n.startsWith("ignoring batchSize=5")));
  assert.deepEqual(second.history.map((h) => h.epoch), [0, 1, 2]);
  for (const f of ["model_2.safetensors", "model_2.optim.safetensors"]) {
    const [x, y] = [await tensors(`${a}/${f}`), await tensors(`${b}/${f}`)];
    assert.deepEqual([...x.keys()], [...y.keys()]);
    for (const [k, v] of x) assert.deepEqual(y.get(k)!.data, v.data, `${f} ${k}`);
  }
  const strip = (s: string) => s.split("\n").filter((l) => l).at(-1);
  const ra = await Deno.readTextFile(`${a}/${files(a).find((n) => n.endsWith(".txt"))}`);
  assert.equal(strip(await Deno.readTextFile(second.resultsFile)), strip(ra));
});

Deno.test("train() stops on a non-finite loss and overwrites neither the last nor the best checkpoint", async () => {
  const dir = await freshDir("nan");
  const opts: TrainOptions = {
    ...TINY,
    inputSize: 16,
    cropSize: 16,
    batchSize: 2,
    syntheticTrain: 2,
    syntheticEval: 1,
    epochs: 1,
    warmupEpochs: 0,
    outputDir: dir,
  };
  await train(opts);
  const before = new Map(files(dir).map((n) => [n, Deno.readFileSync(`${dir}/${n}`)]));
  assert.ok(before.has("model_0.json") && before.has("model_best.safetensors"));
  const sd = await tensors(`${dir}/model_0.safetensors`);
  const w = sd.get("encode_modules.0.conv_in.bn.weight")!.data as Float32Array;
  const poisoned = `${TMP}poisoned.safetensors`;
  // NaN weights are refused when read, naming the tensor
  w[0] = NaN;
  await Deno.writeFile(poisoned, writeSafetensors(sd));
  await assert.rejects(
    train({ ...opts, initWeights: poisoned }),
    /tensor encode_modules\.0\.conv_in\.bn\.weight has NaN at index 0/,
  );
  // finite weights that overflow in the forward pass: the loss is not finite
  w[0] = 3e38;
  await Deno.writeFile(poisoned, writeSafetensors(sd));
  await assert.rejects(
    train({ ...opts, initWeights: poisoned }),
    (e: Error) =>
      e instanceof NonFiniteLossError &&
      /loss is (NaN|-?Infinity) at epoch 0 iteration 0/.test(e.message),
  );
  for (const [n, bytes] of before) assert.deepEqual(Deno.readFileSync(`${dir}/${n}`), bytes, n);
  assert.deepEqual(
    files(dir).filter((n) => !n.startsWith("results")),
    [...before.keys()].filter((n) => !n.startsWith("results")),
  );
});

Deno.test("train() stops before training on a corrupt image or a missing mask unless skipBad is set", async () => {
  const root = await freshDir("files");
  await Deno.mkdir(`${root}/data/images`, { recursive: true });
  await Deno.mkdir(`${root}/data/masks`, { recursive: true });
  for (let i = 0; i < 4; i++) {
    const s = syntheticSample(i, { size: 16 });
    await Deno.writeFile(`${root}/data/images/${s.name}.png`, encodePng(16, 16, s.image.data, 3));
    await Deno.writeFile(`${root}/data/masks/${s.name}.png`, encodePng(16, 16, s.mask.data, 1));
  }
  const good = await Deno.readFile(`${root}/data/images/synthetic_000001.png`);
  await Deno.writeFile(`${root}/data/images/synthetic_000001.png`, good.subarray(0, 60));
  const opts: TrainOptions = {
    ...TINY,
    dataPath: `${root}/data`,
    inputSize: 16,
    cropSize: 16,
    batchSize: 2,
    epochs: 1,
    warmupEpochs: 0,
    outputDir: `${root}/out`,
  };
  await Deno.rename(`${root}/data/masks/synthetic_000003.png`, `${root}/data/x.png`);
  await assert.rejects(train(opts), /1 image\(s\) without a mask .*\(synthetic_000003\.png\)/);
  await Deno.rename(`${root}/data/x.png`, `${root}/data/masks/synthetic_000003.png`);
  await assert.rejects(train(opts), /unreadable sample.*--skip-bad.*synthetic_000001\.png/);
  // a data error leaves no (empty) run folder behind
  await assert.rejects(Deno.stat(`${root}/out`), Deno.errors.NotFound);
  await Deno.remove(`${root}/data/masks/synthetic_000003.png`);
  const lines: string[] = [];
  const r = await train({ ...opts, skipBad: true }, { onLog: (l) => lines.push(l) });
  assert.ok(
    lines.some((l) => l.startsWith("skipping bad sample:") && l.includes("synthetic_000001.png")),
  );
  assert.ok(lines.some((l) => l === "skipping 1 image(s) without a mask: synthetic_000003.png"));
  assert.ok(
    lines.includes(`data: ${root}/data/images 2 train / ${root}/data/images 2 eval`),
    lines.join("\n"),
  );
  assert.equal(r.history.length, 1);
});

Deno.test("train() stops within an iteration of an abort that arrives as an event (a Ctrl-C), not at the epoch's end", async () => {
  const dir = await freshDir("abort_event");
  const stop = new AbortController();
  let trainSteps = 0;
  const r = await train({ ...TINY, batchSize: 1, epochs: 1, outputDir: dir }, {
    signal: stop.signal,
    onProgress: (p) => {
      if (p.phase !== "train") return;
      // a signal listener runs from the event loop, never inside a microtask chain
      if (++trainSteps === 1) setTimeout(() => stop.abort(), 0);
    },
  });
  assert.equal(r.stopped, true);
  assert.ok(trainSteps <= 3, `${trainSteps} of 8 steps ran after the abort was queued`);
});

Deno.test("train() stopped before its first epoch says so and writes no prediction from untrained weights", async () => {
  const dir = await freshDir("abort_first");
  const stop = new AbortController();
  stop.abort();
  const notes: string[] = [];
  const r = await train({ ...TINY, epochs: 1, outputDir: dir }, {
    signal: stop.signal,
    onLog: (l) => notes.push(l),
  });
  assert.equal(r.stopped, true);
  assert.equal(r.predictionFile, undefined);
  assert.ok(notes.some((n) => n.startsWith("stopped before epoch 0")), notes.join("\n"));
  assert.ok(!files(dir).some((f) => f.endsWith(".png")), files(dir).join(", "));
});

Deno.test("train() resumed from an older checkpoint rewinds the results file to it", async () => {
  const dir = await freshDir("rewind");
  const base: TrainOptions = {
    ...TWO_SAMPLES,
    evalInterval: 1,
    keepCheckpoints: 3,
    outputDir: dir,
  };
  const first = await train(base);
  const again = await train({ resume: `${dir}/model_0.json` });
  assert.equal(again.resultsFile, first.resultsFile);
  const epochs = (await Deno.readTextFile(again.resultsFile)).split("\n").filter((l) => l)
    .map((l) => Number(RESULTS_LINE_PATTERN.exec(l)![1]));
  assert.deepEqual(epochs, [0, 1, 2]);
});

Deno.test("train() resumed with more epochs goes on, and refuses fewer than the checkpoint has done", async () => {
  const dir = await freshDir("extend");
  const base: TrainOptions = {
    ...TWO_SAMPLES,
    epochs: 2,
    evalInterval: 100,
    outputDir: dir,
  };
  await train(base);
  const notes: string[] = [];
  const more = await train({ resume: dir, epochs: 3 }, { onLog: (l) => notes.push(l) });
  assert.deepEqual(more.history.map((h) => h.epoch), [0, 1, 2]);
  assert.ok(notes.some((n) => n.startsWith("epochs 2 -> 3")), notes.join("\n"));
  assert.ok(Number.isFinite(more.history[2].trainLoss));
  await assert.rejects(() => train({ resume: dir, epochs: 2 }), /give more than 3/);
});

/*
 * Mixed precision on a WebGPU adapter with shader-f16 (lavapipe in CI): the
 * loss scaling is part of the state a resume restores, as GradScaler's in a
 * PyTorch checkpoint. At 12x12 with two samples BatchNorm's gradients
 * overflow f16 at the first scales, so steps are skipped and the scale
 * halves: a resume that restarted at 65,536 would log another scale, skip
 * other steps and end with other weights.
 */
Deno.test("train() in f16 resumed from a checkpoint goes on with its loss scale and reports skipped steps", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const start = tf.memory().numTensors;
  try {
    const base: TrainOptions = {
      ...TWO_SAMPLES,
      evalInterval: 100,
      engine: "gpu",
      precision: "f16",
    };
    const scales = (lines: string[]) => lines.filter((l) => / f16 loss scale: /.test(l));
    const a = await freshDir("f16_straight");
    const b = await freshDir("f16_resumed");
    const straight: string[] = [];
    await train({ ...base, outputDir: a }, { onLog: (l) => straight.push(l) });
    const stop = new AbortController();
    const resumed: string[] = [];
    await train({ ...base, outputDir: b }, {
      signal: stop.signal,
      onLog: (l) => resumed.push(l),
      onEpoch: (rec) => rec.epoch === 1 && stop.abort(),
    });
    await train({ resume: b }, { onLog: (l) => resumed.push(l) });
    assert.equal(scales(straight).length, 3, straight.join("\n"));
    assert.deepEqual(scales(resumed), scales(straight));
    assert.ok(straight.some((l) => /steps? skipped \(a gradient overflowed\)/.test(l)));
    const saved = JSON.parse(await Deno.readTextFile(`${b}/model_2.json`));
    const amp = saved.extra?.amp ?? saved.meta?.extra?.amp;
    assert.ok(amp && amp.scale > 0 && Number.isInteger(amp.goodSteps), JSON.stringify(amp));
    for (const f of ["model_2.safetensors", "model_2.optim.safetensors"]) {
      const [x, y] = [await tensors(`${a}/${f}`), await tensors(`${b}/${f}`)];
      for (const [k, v] of x) assert.deepEqual(y.get(k)!.data, v.data, `${f} ${k}`);
    }
    assert.equal(tf.memory().numTensors, start, "three runs freed every tensor");
  } finally {
    await tf.setBackend("cpu");
  }
});
