import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import type { DecodedImage } from "../../lib/data/image_io.ts";
import { createPredictor } from "../../lib/predict/predictor.ts";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { GpuEngine } from "../../lib/predict/gpu_engine.ts";
import { planEngine } from "../../lib/predict/_engine_plan.ts";
import { U2NET_FULL, U2NET_LITE } from "../../lib/model/config.ts";
import {
  fixture,
  maxAbsDiff,
  nchwToNhwc,
  nhwcToNchw,
  useBackend,
  webgpuOrSkip,
} from "../_helpers.ts";

Deno.test("planEngine() records fewer dispatches than the tfjs graph when planned for lite and full", () => {
  const lite = planEngine(U2NET_LITE, [1, 320, 320]);
  const full = planEngine(U2NET_FULL, [1, 320, 320]);
  // 112 RSU convs + 6 side convs + 33 pools + 38 resizes + 1 fuse (tfjs: ~290).
  assertEquals(lite.steps.length, 190);
  assertEquals(full.steps.length, 190);
  assertEquals(lite.buffers[lite.output.buf], 320 * 320);
  assert(lite.steps.every((s) => s.workgroups[0] <= 65535 && s.workgroups[1] <= 65535));
  const big = planEngine(U2NET_LITE, [8, 512, 512]);
  assert(big.steps.every((s) => s.workgroups[0] <= 65535 && s.workgroups[1] <= 65535));
});

Deno.test("planEngine() shares activation buffers without a step reading its own output", () => {
  const plan = planEngine(U2NET_FULL, [8, 320, 320]);
  const bytes = 4 * plan.buffers.reduce((a, b) => a + b, 0);
  assert(bytes < 1024 * 2 ** 20, `${bytes} bytes`); // 2,694 MiB without sharing
  assert(plan.buffers.length < 32, `${plan.buffers.length} buffers`);
  for (const step of plan.steps) {
    const [out, ...ins] = step.bindings;
    assert(!ins.includes(out), `${step.shader} reads its output buffer`);
    assert(plan.buffers[out as number] > 0);
  }
  const written = new Set(plan.steps.map((s) => s.bindings[0]));
  assert(!written.has(0), "the input buffer is never overwritten");
});

Deno.test("GpuEngine.run() reproduces eval_wz within 1e-5 when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const io = await fixture("lite_io.safetensors");
  const model = U2Net.create("lite");
  model.loadStateDict(await fixture("lite_wz.safetensors"));
  const x = nchwToNhwc(io.get("x")!.data as Float32Array, io.get("x")!.shape);
  const engine = await GpuEngine.create(model, { batch: 2, height: 64, width: 64 });
  try {
    const out = await engine.run(await x.data() as Float32Array);
    assertEquals(out.length, 2 * 64 * 64);
    const y = tf.tensor4d(out, [2, 64, 64, 1]);
    const diff = maxAbsDiff(await nhwcToNchw(y), io.get("eval_wz")!.data as Float32Array);
    y.dispose();
    assert(diff < 1e-5, `eval diff ${diff}`);
    // Calls issued together are queued, and each gets its own answer.
    const input = await x.data() as Float32Array;
    const again = await Promise.all([engine.run(input), engine.run(input)]);
    assertEquals(again[0], out);
    assertEquals(again[1], out);
  } finally {
    engine.dispose();
    x.dispose();
    model.dispose();
  }
  await assertRejects(() => engine.run(new Float32Array(2 * 64 * 64 * 3)), TypeError);
});

Deno.test("GpuEngine.run() matches predict() when the size is odd and the tiles are 64 rows or unrolled", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite", { seed: 4 });
  const x = tf.randomUniform([1, 37, 29, 3], -2, 2, "float32", 5) as tf.Tensor4D;
  try {
    const y = model.predict(x);
    const want = await y.data() as Float32Array;
    y.dispose();
    // Batch 1's "auto" is 32 rows (the other tests run it); the unrolled
    // shader sums in the same order as the looped one: the same bits.
    const outputs: Float32Array[] = [];
    for (const unrolled of [false, true]) {
      const engine = await GpuEngine.create(model, {
        height: 37,
        width: 29,
        tileRows: 64,
        unrolled,
      });
      try {
        const got = await engine.run(await x.data() as Float32Array);
        assert(
          maxAbsDiff(got, want) < 1e-5,
          `unrolled ${unrolled}: max |Δ| ${maxAbsDiff(got, want)}`,
        );
        await assertRejects(() => engine.run(new Float32Array(5)), RangeError);
        outputs.push(got);
      } finally {
        engine.dispose();
      }
    }
    assertEquals(outputs[1], outputs[0], "unrolled vs looped");
    await assertRejects(() => GpuEngine.create(model, { tileRows: 128 as 64 }), RangeError);
  } finally {
    x.dispose();
    model.dispose();
  }
});

Deno.test("GpuEngine.create() throws a RangeError when the shape is not a positive integer", async () => {
  const model = U2Net.create("lite");
  try {
    await assertRejects(() => GpuEngine.create(model, { height: 0 }), RangeError);
    await assertRejects(() => GpuEngine.create(model, { batch: 1.5 }), RangeError);
  } finally {
    model.dispose();
  }
});

Deno.test("createPredictor() gives the tfjs maps with the gpu engine when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite", { seed: 8 });
  const img = (w: number, h: number, seed: number): DecodedImage => ({
    width: w,
    height: h,
    channels: 3,
    data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7 + seed * 31) % 251),
  });
  const images = [img(40, 30, 1), img(24, 24, 2), img(40, 30, 3)];
  const viaGpu = createPredictor(model, { inputSize: 32, engine: "gpu" });
  const viaTfjs = createPredictor(model, { inputSize: 32, engine: "tfjs" });
  const start = tf.memory().numTensors;
  try {
    const a = await viaGpu.predict(images);
    const b = await viaTfjs.predict(images);
    assertEquals(tf.memory().numTensors, start, "predict() leaves no tensor behind");
    a.forEach((m, i) => {
      assertEquals([m.width, m.height], [b[i].width, b[i].height]);
      assert(maxAbsDiff(m.data, b[i].data) < 1e-5, `image ${i}`);
    });
  } finally {
    viaGpu.dispose?.();
    model.dispose();
  }
  await useBackend("cpu");
  assertThrows(() => createPredictor(U2Net.create("lite"), { engine: "gpu" }), TypeError);
});
