import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { GpuEngine } from "../../../lib/engines/gpu/gpu_engine.ts";
import { planEngine } from "../../../lib/engines/gpu/engine_plan.ts";
import { createEngine } from "../../../lib/engines/create_engine.ts";
import { shaderSource } from "../../../lib/engines/gpu/engine_setup.ts";
import { U2NET_FULL, U2NET_LITE } from "../../../lib/net/config.ts";
import {
  EXHAUSTIVE,
  f16OrSkip,
  fixture,
  maxAbsDiff,
  nchwToNhwc,
  nhwcToNchw,
} from "../../helpers.ts";

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

Deno.test("planEngine() keeps the input, side maps and output in f32 and halves the rest when precision is f16", () => {
  for (const config of [U2NET_LITE, U2NET_FULL]) {
    const f32 = planEngine(config, [2, 96, 80]);
    const f16 = planEngine(config, [2, 96, 80], { precision: "f16" });
    assertEquals(f16.steps.length, f32.steps.length);
    assertEquals(f16.buffers[0], f32.buffers[0], "the input stays f32");
    assertEquals(f16.buffers[f16.output.buf], 2 * 96 * 80, "the output stays f32");
    const words = (p: typeof f32) => p.buffers.reduce((a, b) => a + b, 0);
    assert(words(f16) < 0.55 * words(f32), `${words(f16)} vs ${words(f32)} words`);
    // Split K's parts stay f32; at 320², batch 8, the whole is still under 60%.
    const big = [8, 320, 320] as const;
    const ratio = words(planEngine(config, big, { splitTarget: 1024, precision: "f16" })) /
      words(planEngine(config, big, { splitTarget: 1024 }));
    assert(ratio < 0.6, `${ratio} at 320², batch 8`);
    f16.steps.forEach((s, i) => {
      const base = f32.steps[i].shader;
      if (base === "fuse") return assertEquals(s.shader, "fuse", "the fuse reads f32 side maps");
      // Every f16 key is the f32 key plus its types, and compiles to WGSL that enables f16.
      assert(s.shader.startsWith(`${base}.`), `${s.shader} vs ${base}`);
      const types = s.shader.slice(base.length + 1);
      if (base === "side") assertEquals(types, "hf");
      else if (base === "resize") {
        assert(types === "hh" || types === "ff", "side maps resize in f32");
      } else if (/^conv\d+/.test(base)) assertEquals(types, "fh", "the RGB input conv reads f32");
      else assertEquals(types, "hh");
      assertEquals(shaderSource(s.shader).includes("enable f16;"), types.includes("h"), s.shader);
      if (/^convv/.test(base)) assert(String(s.bindings[4]).startsWith("h:"), s.shader);
    });
  }
  const plan = planEngine(U2NET_LITE, [1, 64, 64], { precision: "f16", halfSums: false });
  assert(plan.steps.some((s) => s.shader.endsWith(".hw")));
  assertThrows(() => planEngine(U2NET_LITE, [1, 8, 8], { precision: "f8" as "f16" }), RangeError);
  assertThrows(() => shaderSource("pool.xx"), RangeError);
});

Deno.test("GpuEngine.run() in f16 stays within 2e-3 of eval_wz when on webgpu with shader-f16", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const io = await fixture("lite_io.safetensors");
  const model = U2Net.create("lite");
  model.loadStateDict(await fixture("lite_wz.safetensors"));
  const x = nchwToNhwc(io.get("x")!.data as Float32Array, io.get("x")!.shape);
  const [batch, , height, width] = io.get("x")!.shape;
  const want = io.get("eval_wz")!.data as Float32Array;
  try {
    const input = await x.data() as Float32Array;
    const outs: Float32Array[] = [];
    for (const halfSums of [true, false]) {
      const engine = await GpuEngine.create(model, {
        batch,
        height,
        width,
        precision: "f16",
        halfSums,
        splitTarget: 64, // this small input splits K too
      });
      try {
        const out = await engine.run(input);
        const y = tf.tensor4d(out, [batch, height, width, 1]);
        const got = await nhwcToNchw(y);
        y.dispose();
        const max = maxAbsDiff(got, want), mean = meanAbsDiff(got, want);
        if (Deno.env.get("U2NET_TEST_VERBOSE")) console.log({ halfSums, max, mean });
        assert(max < 2e-3 && mean < 3e-4, `halfSums ${halfSums}: max ${max}, mean ${mean}`);
        assert(out.every(Number.isFinite));
        outs.push(out);
      } finally {
        engine.dispose();
      }
    }
    assert(maxAbsDiff(outs[0], outs[1]) > 0, "f16 and f32 sums of f16 values differ");
  } finally {
    x.dispose();
    model.dispose();
  }
});

// Exhaustive tier (~14 s of shader compiles on a software adapter): full's
// channel counts; lite's run in the default tier (eval_wz, createEngine).
Deno.test({
  name: "GpuEngine.run() in f16 follows f32 when the size is odd and the net is full",
  ignore: !EXHAUSTIVE,
}, async (t) => {
  if (!(await f16OrSkip(t))) return;
  const model = U2Net.create("full", { seed: 3 });
  const x = tf.randomUniform([1, 37, 29, 3], -2, 2, "float32", 5) as tf.Tensor4D;
  try {
    const input = await x.data() as Float32Array;
    const outs: Float32Array[] = [];
    for (const precision of ["f32", "f16"] as const) {
      const engine = await GpuEngine.create(model, { height: 37, width: 29, precision });
      try {
        outs.push(await engine.run(input));
      } finally {
        engine.dispose();
      }
    }
    const max = maxAbsDiff(outs[1], outs[0]);
    if (Deno.env.get("U2NET_TEST_VERBOSE")) {
      console.log({ max, mean: meanAbsDiff(outs[1], outs[0]) });
    }
    assert(max < 2e-3, `max |Δ| ${max}`);
    assert(max > 0, "f16 rounds somewhere");
    const f16 = GpuEngine.estimateBytes(model, { precision: "f16" });
    const f32 = GpuEngine.estimateBytes(model, {});
    assert(f16 < f32, `${f16} vs ${f32} bytes`);
    await assertRejects(
      () => GpuEngine.create(model, { precision: "f8" as "f16" }),
      RangeError,
    );
  } finally {
    x.dispose();
    model.dispose();
  }
});

Deno.test("createEngine() runs the gpu engine in f16 and says so when precision is f16", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const model = U2Net.create("lite", { seed: 2 });
  const input = new Float32Array(2 * 24 * 40 * 3).map((_, i) => Math.sin(i) * 2);
  const engines = (["f32", "f16"] as const).map((precision) =>
    createEngine(model, { engine: "gpu", precision })
  );
  try {
    assertEquals(engines.map((e) => e.describe()), ["gpu (webgpu)", "gpu (webgpu, f16)"]);
    const [a, b] = await Promise.all(engines.map((e) => e.run(input, [2, 24, 40])));
    assertEquals(b.length, 2 * 24 * 40);
    const max = maxAbsDiff(a, b);
    assert(max > 0 && max < 2e-3, `max |Δ| ${max}`);
    assert(engines[1].keptBytes < engines[0].keptBytes, "f16 engines are smaller");
    // The cpu engine runs f32 whatever the precision.
    const cpu = createEngine(model, { engine: "cpu", precision: "f16" });
    assertEquals(cpu.describe().includes("f16"), false);
    cpu.dispose();
  } finally {
    engines.forEach((e) => e.dispose());
    model.dispose();
  }
});
