import { tf } from "../../lib/deps.ts";
import { assert, assertEquals } from "../assert.ts";
import { createPredictor, networkSize, type PredictModel } from "../../lib/predict/predictor.ts";
import { tinyModel } from "../http/fixtures.ts";

const img = (width: number, height: number, v = 128) => ({
  width,
  height,
  channels: 3 as const,
  data: new Uint8Array(width * height * 3).fill(v),
});

/** A stub network: probability = 0.25 everywhere; records input shapes. */
function stub(): PredictModel & { calls: number[][] } {
  const calls: number[][] = [];
  return {
    calls,
    predict(x: tf.Tensor4D) {
      calls.push(x.shape);
      return tf.tidy(() => tf.fill([x.shape[0], x.shape[1], x.shape[2], 1], 0.25) as tf.Tensor4D);
    },
  };
}

Deno.test("createPredictor() returns maps at each image's size and batches by network size", async () => {
  await tf.setBackend("cpu");
  const model = stub();
  const p = createPredictor(model, { inputSize: 16, maxBatch: 2 });
  const start = tf.memory().numTensors;
  const maps = await p.predict([img(30, 20), img(8, 8), img(50, 10)]);
  assertEquals(maps.map((m) => [m.width, m.height, m.data.length]), [[30, 20, 600], [8, 8, 64], [
    50,
    10,
    500,
  ]]);
  assert(maps.every((m) => m.data.every((v) => Math.abs(v - 0.25) < 1e-6)));
  assertEquals(model.calls, [[2, 16, 16, 3], [1, 16, 16, 3]]);
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("createPredictor() groups shorter-side inputs by their network size", async () => {
  const model = stub();
  const p = createPredictor(model, { inputSize: 16, resize: "shorter-side", maxBatch: 8 });
  await p.predict([img(32, 16), img(64, 32), img(16, 32)]);
  assertEquals(model.calls, [[2, 16, 32, 3], [1, 32, 16, 3]]);
  assertEquals(networkSize({ width: 451, height: 300 }, { resize: "shorter-side" }), {
    height: 320,
    width: 481,
  });
  assertEquals(networkSize({ width: 451, height: 300 }), { height: 320, width: 320 });
});

Deno.test("createPredictor() runs a real network and frees every tensor", async () => {
  const model = await tinyModel();
  try {
    const p = createPredictor(model, { inputSize: 32 });
    const start = tf.memory().numTensors;
    const [a, b] = await p.predict([img(40, 24, 10), img(20, 20, 250)]);
    assertEquals([a.data.length, b.data.length], [960, 400]);
    assert(a.data.every((v) => v >= 0 && v <= 1));
    assertEquals(tf.memory().numTensors, start);
  } finally {
    model.dispose();
  }
});

Deno.test("createPredictor() refuses bad options with a RangeError or TypeError", () => {
  const m = stub();
  for (const o of [{ inputSize: 0 }, { maxBatch: 0 }, { inputSize: 1.5 }]) {
    let threw = false;
    try {
      createPredictor(m, o);
    } catch (e) {
      threw = e instanceof RangeError && /Cannot create predictor/.test(e.message);
    }
    assert(threw, JSON.stringify(o));
  }
  let typeError = false;
  try {
    createPredictor(m, { resize: "crop" as "squash" });
  } catch (e) {
    typeError = e instanceof TypeError;
  }
  assert(typeError);
});
