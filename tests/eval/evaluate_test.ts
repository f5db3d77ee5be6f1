import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { type EvalSample, evalSamples } from "../../lib/data/loader.ts";
import { syntheticSource } from "../../lib/data/synthetic.ts";
import { evaluate } from "../../lib/eval/evaluate.ts";
import { FScore, MeanAbsoluteError } from "../../lib/eval/metrics.ts";
import { useBackend, webgpuOrSkip } from "../helpers.ts";

await tf.setBackend("cpu");

async function collect(n: number, size: number): Promise<EvalSample[]> {
  const out: EvalSample[] = [];
  for await (
    const s of evalSamples(syntheticSource({ count: n, size: 40, seed: 5 }), { inputSize: size })
  ) {
    out.push(s);
  }
  return out;
}

Deno.test("evaluate() scores eval-mode predictions with the seed's MAE and maxF", async () => {
  const samples = await collect(3, 24);
  const model = U2Net.create("lite", { seed: 1 });
  const start = tf.memory().numTensors;
  try {
    model.train();
    const progress: number[] = [];
    const saved: string[] = [];
    const r = await evaluate(model, samples, {
      total: 3,
      onProgress: (p) => progress.push(p.done),
      onPrediction: (s, p) => {
        assert.equal(p.length, s.maskWidth * s.maskHeight);
        saved.push(s.name);
      },
    });
    assert.equal(model.training, true, "mode restored");
    assert.equal(tf.memory().numTensors, start);
    assert.deepEqual(progress, [1, 2, 3]);
    assert.deepEqual(saved, samples.map((s) => s.name));
    assert.equal(r.count, 3);
    // same numbers as the metrics fed directly
    const mae = new MeanAbsoluteError();
    const f = new FScore();
    model.eval();
    for (const s of samples) {
      const pred = tf.tidy(() => model.predict(tf.tensor4d(s.image, [1, 24, 24, 3])));
      const gt = { data: s.mask, width: s.maskWidth, height: s.maskHeight };
      await mae.update(pred, gt);
      await f.update(pred, gt);
      pred.dispose();
    }
    assert.equal(r.mae, mae.compute());
    assert.equal(r.maxF, f.compute());
    assert.ok(r.mae > 0 && r.mae < 1 && r.maxF >= 0 && r.maxF <= 1);
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate() applies post-normalisation when postNorm is set", async () => {
  const samples = await collect(2, 16);
  const model = U2Net.create("lite", { seed: 2 });
  try {
    // tfjs ops, to compare with the metrics of tfjs' predictions exactly.
    const plain = await evaluate(model, samples, { engine: "tfjs" });
    const normed = await evaluate(model, samples, { postNorm: true, engine: "tfjs" });
    const f = new FScore({ postNorm: true });
    const mae = new MeanAbsoluteError({ postNorm: true });
    for (const s of samples) {
      const pred = tf.tidy(() => model.predict(tf.tensor4d(s.image, [1, 16, 16, 3])));
      const gt = { data: s.mask, width: s.maskWidth, height: s.maskHeight };
      await f.update(pred, gt);
      await mae.update(pred, gt);
      pred.dispose();
    }
    assert.equal(normed.maxF, f.compute());
    assert.equal(normed.mae, mae.compute());
    assert.notEqual(normed.mae, plain.mae);
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate() scores as tfjs does with the cpu engine when auto and not on webgpu", async () => {
  const samples = await collect(3, 24);
  const model = U2Net.create("lite", { seed: 3 });
  try {
    const viaTfjs = await evaluate(model, samples, { engine: "tfjs" });
    const viaAuto = await evaluate(model, samples);
    const viaCpu = await evaluate(model, samples, { engine: "cpu" });
    assert.equal(viaAuto.mae, viaCpu.mae, "auto takes the cpu engine");
    assert.equal(viaAuto.maxF, viaCpu.maxF);
    assert.ok(Math.abs(viaCpu.mae - viaTfjs.mae) < 1e-6, `${viaCpu.mae} vs ${viaTfjs.mae}`);
    assert.ok(Math.abs(viaCpu.maxF - viaTfjs.maxF) < 1e-3, `${viaCpu.maxF} vs ${viaTfjs.maxF}`);
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate() throws on an empty sample list and on a non-square image", async () => {
  const model = U2Net.create("lite");
  try {
    await assert.rejects(evaluate(model, []), /0 samples/);
    const [s] = await collect(1, 16);
    await assert.rejects(
      evaluate(model, [{ ...s, image: s.image.subarray(3) }]),
      /not a square RGB/,
    );
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate() scores the same with the gpu engine as with tfjs when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite", { seed: 6 });
  const start = tf.memory().numTensors;
  try {
    const samples = () => evalSamples(syntheticSource({ count: 3, size: 40 }), { inputSize: 32 });
    const viaTfjs = await evaluate(model, samples(), { engine: "tfjs" });
    const viaGpu = await evaluate(model, samples(), { engine: "gpu" });
    assert.equal(viaGpu.count, 3);
    assert.ok(Math.abs(viaGpu.mae - viaTfjs.mae) < 1e-6, `${viaGpu.mae} vs ${viaTfjs.mae}`);
    assert.ok(Math.abs(viaGpu.maxF - viaTfjs.maxF) < 1e-6, `${viaGpu.maxF} vs ${viaTfjs.maxF}`);
    assert.equal(tf.memory().numTensors, start, "evaluate() leaves no tensor behind");
  } finally {
    model.dispose();
    await useBackend("cpu");
  }
});
