import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { createPredictor } from "../../../lib/predict/predictor.ts";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { CpuEngine } from "../../../lib/engines/cpu/cpu_engine.ts";
import { CpuWeightCache } from "../../../lib/engines/cpu/cpu_weight_cache.ts";
import {
  assertMapsClose,
  fixture,
  maxAbsDiff,
  nchwToNhwc,
  nhwcToNchw,
  patternImage,
  useBackend,
} from "../../helpers.ts";

Deno.test("CpuEngine.run() reproduces eval_wz within 1e-5 when direct or Winograd F(2x2) or F(4x4)", async () => {
  await useBackend("cpu");
  const io = await fixture("lite_io.safetensors");
  const model = U2Net.create("lite");
  model.loadStateDict(await fixture("lite_wz.safetensors"));
  const x = nchwToNhwc(io.get("x")!.data as Float32Array, io.get("x")!.shape);
  const [batch, , height, width] = io.get("x")!.shape;
  try {
    const input = await x.data() as Float32Array;
    for (const [winograd, fma] of [[0, true], [2, true], [4, true], [4, false]] as const) {
      const start = tf.memory().numTensors;
      const engine = await CpuEngine.create(model, { height, width, winograd, fma });
      const out = await engine.run(input);
      assertEquals(tf.memory().numTensors, start, "folding for the engine leaves no tensor behind");
      assertEquals(out.length, batch * height * width);
      const y = tf.tensor4d(out, [batch, height, width, 1]);
      const diff = maxAbsDiff(await nhwcToNchw(y), io.get("eval_wz")!.data as Float32Array);
      y.dispose();
      assert(diff < 1e-5, `winograd ${winograd}, fma ${fma}: eval diff ${diff}`);
      await assertRejects(() => engine.run(new Float32Array(5)), RangeError);
    }
  } finally {
    x.dispose();
    model.dispose();
  }
});

Deno.test("CpuEngine.run() matches predict() when the size is odd, for lite and full", async () => {
  await useBackend("cpu");
  for (const [variant, size] of [["lite", [37, 29]], ["full", [21, 26]]] as const) {
    const model = U2Net.create(variant, { seed: 4 });
    const x = tf.randomUniform([1, size[0], size[1], 3], -2, 2, "float32", 5) as tf.Tensor4D;
    try {
      const y = model.predict(x);
      const want = await y.data() as Float32Array;
      y.dispose();
      for (const [winograd, tileBlock] of [[0, 32], [2, 32], [2, 4], [4, 32], [4, 8]] as const) {
        const engine = await CpuEngine.create(model, {
          height: size[0],
          width: size[1],
          winograd,
          tileBlock,
        });
        const got = await engine.run(await x.data() as Float32Array);
        const d = maxAbsDiff(got, want);
        assert(d < 1e-5, `${variant}, winograd ${winograd}, block ${tileBlock}: max |Δ| ${d}`);
      }
    } finally {
      x.dispose();
      model.dispose();
    }
  }
});

Deno.test("CpuEngine.run() gives the same bits on 3 threads as on one when the size is odd, plain and FMA", async () => {
  const model = U2Net.create("lite", { seed: 6 });
  const x = Float32Array.from({ length: 2 * 45 * 38 * 3 }, (_, i) => Math.sin(i * 0.37) * 2);
  const outs: Float32Array[] = [];
  try {
    for (const fma of [false, true]) {
      const one = await CpuEngine.create(model, { height: 45, width: 38, fma });
      const three = await CpuEngine.create(model, { height: 45, width: 38, threads: 3, fma });
      try {
        assertEquals([one.fma, three.fma, three.threads], [fma, fma, 3]);
        const want = await one.run(x);
        assertEquals(await three.run(x), want, `fma ${fma}`);
        assertEquals(await three.run(x), want, `fma ${fma}: a second call`);
        outs.push(want);
      } finally {
        one.dispose();
        three.dispose();
      }
      await assertRejects(() => three.run(new Float32Array(45 * 38 * 3)), TypeError);
    }
    assert(maxAbsDiff(outs[0], outs[1]) < 1e-5, "plain vs FMA");
  } finally {
    model.dispose();
  }
});

Deno.test("CpuEngine.run() gives the same bits on 2 threads as on one when the fuse and one-channel resizes are split", async () => {
  // At 180² the fuse (JS) and the side maps' resizes cost over SERIAL_BELOW_US, so they are cut
  // into chunks like the convs; each pixel is computed alike in any chunk.
  const model = U2Net.create("lite", { seed: 7 });
  const x = Float32Array.from({ length: 180 * 180 * 3 }, (_, i) => Math.cos(i * 0.11) * 2);
  const one = await CpuEngine.create(model, { height: 180, width: 180 });
  const two = await CpuEngine.create(model, { height: 180, width: 180, threads: 2 });
  try {
    const want = await one.run(x);
    // The first differing pixel, not the whole map: a diff of 32,400 floats is too big to print.
    const firstDiff = (got: Float32Array) => got.findIndex((v, i) => !Object.is(v, want[i]));
    assertEquals(firstDiff(await two.run(x)), -1);
    assertEquals(firstDiff(await two.run(x)), -1, "a second call");
  } finally {
    one.dispose();
    two.dispose();
    model.dispose();
  }
});

Deno.test("CpuEngine.create() copies the last engine's packed weights when given a weight cache", async () => {
  const model = U2Net.create("lite", { seed: 9 });
  const cache = new CpuWeightCache();
  const engines: CpuEngine[] = [];
  try {
    for (
      const [h, w, weightCache] of [[24, 24, cache], [20, 28, cache], [20, 28, undefined]] as const
    ) {
      engines.push(await CpuEngine.create(model, { height: h, width: w, weightCache }));
    }
    assert(cache.source !== undefined && cache.source.packed.size > 100);
    const x = Float32Array.from({ length: 20 * 28 * 3 }, (_, i) => Math.cos(i * 0.11));
    assertEquals(await engines[1].run(x), await engines[2].run(x), "copied vs packed");
    // Engines packed another way do not take the cache's weights.
    const direct = await CpuEngine.create(model, {
      height: 20,
      width: 28,
      winograd: 0,
      weightCache: cache,
    });
    engines.push(direct);
    assert(maxAbsDiff(await direct.run(x), await engines[2].run(x)) < 1e-5);
  } finally {
    engines.forEach((e) => e.dispose());
    model.dispose();
  }
});

Deno.test("CpuEngine.create() throws a RangeError when the shape or block is not valid", async () => {
  const model = U2Net.create("lite");
  try {
    await assertRejects(() => CpuEngine.create(model, { height: 0 }), RangeError);
    await assertRejects(() => CpuEngine.create(model, { width: 1.5 }), RangeError);
    await assertRejects(() => CpuEngine.create(model, { maxWinograd4Weights: NaN }), RangeError);
    await assertRejects(() => CpuEngine.create(model, { tileBlock: 6 }), RangeError);
    await assertRejects(() => CpuEngine.create(model, { threads: 0 }), RangeError);
    await assertRejects(
      () => CpuEngine.create(model, { height: 4000, width: 4000 }),
      RangeError,
      "WebAssembly's limit",
    );
    await assertRejects(() => CpuEngine.create(model, { winograd: 3 as 2 }), RangeError);
  } finally {
    model.dispose();
  }
});

Deno.test("createPredictor() gives the tfjs maps with the cpu engine, which auto takes when not on webgpu", async () => {
  await useBackend("cpu");
  const model = U2Net.create("lite", { seed: 8 });
  const images = [patternImage(40, 30, 1), patternImage(24, 24, 2), patternImage(40, 30, 3)];
  const viaAuto = createPredictor(model, { inputSize: 32, maxBatch: 2 });
  const viaTfjs = createPredictor(model, { inputSize: 32, engine: "tfjs" });
  const start = tf.memory().numTensors;
  try {
    assertEquals(viaAuto.options.engine, "cpu");
    const a = await viaAuto.predict(images);
    const b = await viaTfjs.predict(images);
    assertEquals(tf.memory().numTensors, start, "predict() leaves no tensor behind");
    assertMapsClose(a, b, 1e-5);
    assertThrows(
      () => createPredictor({ predict: (x) => x }, { engine: "cpu" }),
      TypeError,
      "not a U2Net",
    );
    assertThrows(() => createPredictor(model, { threads: 0 }), RangeError);
    const twoThreads = createPredictor(model, { inputSize: 32, maxBatch: 2, threads: 2 });
    try {
      assertEquals(twoThreads.options.threads, 2);
      const c = await twoThreads.predict(images);
      c.forEach((m, i) => assertEquals(m.data, a[i].data, `image ${i} on two threads`));
    } finally {
      twoThreads.dispose?.();
    }
  } finally {
    viaAuto.dispose?.();
    model.dispose();
  }
});
