import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { createPredictor } from "../../../lib/predict/predictor.ts";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { GpuEngine } from "../../../lib/engines/gpu/gpu_engine.ts";
import { MIN_SPLIT_CHUNK, planEngine, splitConvK } from "../../../lib/engines/gpu/engine_plan.ts";
import { U2NET_FULL, U2NET_LITE } from "../../../lib/net/config.ts";
import {
  assertMapsClose,
  fixture,
  maxAbsDiff,
  nchwToNhwc,
  nhwcToNchw,
  patternImage,
  useBackend,
  webgpuOrSkip,
} from "../../helpers.ts";

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

Deno.test("splitConvK() covers K in chunks of 16 for about the target workgroups when tiles are few", () => {
  assertEquals(splitConvK(4608, 104, 0), [1, 4608]);
  assertEquals(splitConvK(4608, 2048, 1024), [1, 4608]);
  assertEquals(splitConvK(2 * MIN_SPLIT_CHUNK - 16, 4, 1024), [1, 2 * MIN_SPLIT_CHUNK - 16]);
  for (
    const [k, groups, target] of [[4608, 104, 1024], [9216, 4, 1024], [576, 17, 1024], [
      1152,
      8,
      64,
    ]]
  ) {
    const [s, chunk] = splitConvK(k, groups, target);
    assert(s >= 2 && chunk % 16 === 0 && chunk >= MIN_SPLIT_CHUNK, `${k}: ${s} x ${chunk}`);
    assert(s * chunk >= k && (s - 1) * chunk < k, `${k}: ${s} x ${chunk} misses K`);
    assert(s * groups <= 2 * target, `${k}: ${s} splits of ${groups} tiles`);
  }
});

Deno.test("planEngine() splits K of the deep convs and sums each split in a splitsum step when given a target", () => {
  const plan = planEngine(U2NET_FULL, [1, 320, 320], { tileRows: 32, splitTarget: 1024 });
  const convs = plan.steps.filter((s) => s.shader.endsWith("k"));
  assert(convs.length > 20, `${convs.length} split convs`);
  assertEquals(plan.steps.length, 190 + convs.length);
  plan.steps.forEach((s, i) => {
    if (!s.shader.endsWith("k")) return;
    const sum = plan.steps[i + 1];
    assertEquals(sum.shader, "splitsum");
    assertEquals(sum.bindings[1], s.bindings[0], "the splitsum reads the conv's parts");
    assertEquals(s.workgroups[2], sum.uniforms[2]);
    assertEquals(s.bindings[3], null);
    assertEquals(
      plan.buffers[s.bindings[0] as number] >= s.workgroups[2]! * sum.uniforms[0] * 4,
      true,
    );
  });
  for (const step of plan.steps) {
    const [out, ...ins] = step.bindings;
    assert(!ins.includes(out), `${step.shader} reads its output buffer`);
  }
});

Deno.test("GpuEngine.run() reproduces eval_wz within 1e-5 when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const io = await fixture("lite_io.safetensors");
  const model = U2Net.create("lite");
  model.loadStateDict(await fixture("lite_wz.safetensors"));
  const x = nchwToNhwc(io.get("x")!.data as Float32Array, io.get("x")!.shape);
  const [batch, channels, height, width] = io.get("x")!.shape;
  const engine = await GpuEngine.create(model, { batch, height, width });
  try {
    const out = await engine.run(await x.data() as Float32Array);
    assertEquals(out.length, batch * height * width);
    const y = tf.tensor4d(out, [batch, height, width, 1]);
    const diff = maxAbsDiff(await nhwcToNchw(y), io.get("eval_wz")!.data as Float32Array);
    y.dispose();
    assert(diff < 1e-5, `eval diff ${diff}`);
    // Calls issued together overlap (up to `inflight`, 4, sharing the
    // activations), and each gets its own answer, also past the slots.
    const input = await x.data() as Float32Array;
    const other = input.map((v, i) => (i % 7 === 0 ? -v : 0.5 * v));
    const otherOut = await engine.run(other);
    assert(maxAbsDiff(otherOut, out) > 1e-3, "the two inputs give different maps");
    const inputs = Array.from({ length: 6 }, (_, i) => (i % 3 === 1 ? other : input));
    const again = await Promise.all(inputs.map((v) => engine.run(v)));
    again.forEach((got, i) => assertEquals(got, i % 3 === 1 ? otherOut : out, `call ${i}`));
  } finally {
    engine.dispose();
    x.dispose();
    model.dispose();
  }
  await assertRejects(
    () => engine.run(new Float32Array(batch * channels * height * width)),
    TypeError,
  );
});

Deno.test("GpuEngine.run() matches predict() when the size is odd and the tiles are 32 to 128 rows, looped, split, 8x8 registers or double-buffered", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite", { seed: 4 });
  const x = tf.randomUniform([1, 37, 29, 3], -2, 2, "float32", 5) as tf.Tensor4D;
  try {
    const y = model.predict(x);
    const want = await y.data() as Float32Array;
    y.dispose();
    // The unrolled shader sums in the same order as the looped one, and a
    // tile of any size sums each output in K order: the same bits. Split K
    // (a low target, so that this small input splits) only rounds.
    const outputs: Float32Array[] = [];
    const dispatches: number[] = [];
    const variants = [
      [64, false, 0, 4],
      [64, true, 0, 4],
      [64, true, 64, 4],
      [128, true, 0, 4],
      [32, true, 0, 4],
      [128, true, 0, 8],
      [64, true, 64, 8],
      [64, true, 0, "8p"],
    ] as const;
    for (const [tileRows, unrolled, splitTarget, r] of variants) {
      const [regs, prefetch] = r === "8p" ? [8 as const, true] : [r, false];
      const engine = await GpuEngine.create(model, {
        height: 37,
        width: 29,
        tileRows,
        unrolled,
        splitTarget,
        regs,
        prefetch,
      });
      try {
        const got = await engine.run(await x.data() as Float32Array);
        assert(
          maxAbsDiff(got, want) < 1e-5,
          `${tileRows} rows, unrolled ${unrolled}, split ${splitTarget}, regs ${regs}: max |Δ| ${
            maxAbsDiff(got, want)
          }`,
        );
        await assertRejects(() => engine.run(new Float32Array(5)), RangeError);
        outputs.push(got);
        dispatches.push(engine.dispatches);
      } finally {
        engine.dispose();
      }
    }
    assertEquals(outputs[1], outputs[0], "unrolled vs looped");
    assertEquals(outputs[3], outputs[0], "128 rows vs 64");
    assertEquals(outputs[4], outputs[0], "32 rows vs 64");
    assertEquals(outputs[5], outputs[0], "8x8 registers vs 4x4");
    assertEquals(outputs[6], outputs[2], "8x8 registers vs 4x4, split");
    assertEquals(outputs[7], outputs[0], "8x8 registers double-buffered vs 4x4");
    assert(dispatches[2] > dispatches[1] + 10, `split: ${dispatches}`);
    await assertRejects(() => GpuEngine.create(model, { tileRows: 96 as 64 }), RangeError);
    await assertRejects(() => GpuEngine.create(model, { splitTarget: -1 }), RangeError);
    await assertRejects(() => GpuEngine.create(model, { regs: 6 as 8 }), RangeError);
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
  const images = [patternImage(40, 30, 1), patternImage(24, 24, 2), patternImage(40, 30, 3)];
  const viaGpu = createPredictor(model, { inputSize: 32, engine: "gpu" });
  const viaTfjs = createPredictor(model, { inputSize: 32, engine: "tfjs" });
  const start = tf.memory().numTensors;
  try {
    const a = await viaGpu.predict(images);
    const b = await viaTfjs.predict(images);
    assertEquals(tf.memory().numTensors, start, "predict() leaves no tensor behind");
    assertMapsClose(a, b, 1e-5);
  } finally {
    viaGpu.dispose?.();
    model.dispose();
  }
  await useBackend("cpu");
  assertThrows(() => createPredictor(U2Net.create("lite"), { engine: "gpu" }), TypeError);
});

Deno.test("GpuEngine counts one output's bytes per call in flight and refuses other inflight values", async () => {
  const model = U2Net.create("lite");
  const size = { height: 64, width: 48 };
  const [a, b] = [1, 5].map((inflight) => GpuEngine.estimateBytes(model, { ...size, inflight }));
  assertEquals(b - a, 4 * 4 * 64 * 48);
  for (const inflight of [0, 17, 1.5]) {
    await assertRejects(
      () => GpuEngine.create(model, { ...size, inflight }),
      RangeError,
      "inflight",
    );
  }
  model.dispose();
});
