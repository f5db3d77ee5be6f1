import assert from "node:assert/strict";
import type { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { AdamW } from "../../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../../lib/optim/params_groups.ts";
import { createLrScheduler } from "../../../lib/optim/lr_scheduler.ts";
import { GpuTrainer, type GpuTrainerOptions } from "../../../lib/engines/gpu/gpu_trainer.ts";
import { planTrainer } from "../../../lib/engines/gpu/trainer_plan.ts";
import { U2NET_LITE } from "../../../lib/net/config.ts";
import { EXHAUSTIVE, f16OrSkip, fixture, useBackend, webgpuOrSkip } from "../../helpers.ts";
import { withLiteFixture } from "./lite_trainer_fixture.ts";

/** What {@linkcode withF16} hands its callback. */
interface F16Fixture {
  model: U2Net;
  optimizer: AdamW;
  images: tf.Tensor4D;
  masks: tf.Tensor4D;
  trainer: GpuTrainer;
}

/**
 * An f16 GpuTrainer (with `options`) from lite_wz on lite_io's batch, AdamW
 * over the seed's groups (lr 1e-3, weight decay 1e-4, PyTorch's scheduler of
 * lite_train when `scheduled`); everything freed after `fn`
 * ({@linkcode withLiteFixture}, which also checks that no tensor is left).
 */
async function withF16(
  t: Deno.TestContext,
  options: GpuTrainerOptions & { scheduled?: boolean },
  fn: (f: F16Fixture) => Promise<void>,
): Promise<void> {
  if (!(await f16OrSkip(t))) return;
  const adamw = (m: U2Net) => new AdamW(getParamsGroups(m.namedParameters(), 1e-4), { lr: 1e-3 });
  await withLiteFixture(t, adamw, async ({ model, optimizer, images, masks, trainer }) => {
    const scheduler = options.scheduled
      ? createLrScheduler(optimizer, 2, 3, { warmup: true, warmupEpochs: 1 })
      : undefined;
    const made = await trainer(scheduler, { precision: "f16", ...options });
    await fn({ model, optimizer, images, masks, trainer: made });
  });
}

Deno.test("planTrainer() stores activations in f16, gradients in f32, and scales the loss gradient when mixed precision", () => {
  const model = U2Net.create("lite");
  try {
    const info = getParamsGroups(model.namedParameters()).flatMap((g, group) =>
      g.params.map((v, i) => ({ key: g.names[i], shape: v.shape, group }))
    );
    const f32 = planTrainer(U2NET_LITE, [2, 32, 32], info, 2);
    const f16 = planTrainer(U2NET_LITE, [2, 32, 32], info, 2, true);
    assert.equal(f16.steps.length, f32.steps.length);
    assert.deepEqual(f16.steps.map((s) => s.label), f32.steps.map((s) => s.label));
    assert.ok(!f32.buffers.has("amp") && f16.buffers.has("amp"));
    assert.ok(f32.steps.every((s) => !s.code.includes("f16")), "f32 plans stay f32");
    assert.ok(f32.steps.every((s) => s.bindings.every((b) => !b.half)));
    // A dispatch that binds an f16 map declares f16.
    for (const s of f16.steps) {
      if (s.bindings.some((b) => b.half)) assert.match(s.code, /enable f16;/, s.label);
    }
    // Forward (before the criterion): every map written is f16 but the logits (side, fuse,
    // their resizes); backward: every gradient written is f32.
    const lossAt = f16.steps.findIndex((s) => s.label === "loss.partial");
    const f32Outputs = new Set(["side", "fuse", "bn.moments", "bn.stats", "bn.running"]);
    const forward = f16.steps.slice(0, lossAt), backward = f16.steps.slice(lossAt);
    const logitResizes = forward.filter((s) => s.label === "resize" && !s.bindings[1].half);
    assert.equal(logitResizes.length, 5, "the five smaller side logits are resized in f32");
    for (const s of forward) {
      const half = !f32Outputs.has(s.label) && !logitResizes.includes(s);
      assert.equal(!!s.bindings[0].half, half, `forward ${s.label}`);
    }
    const written = (s: (typeof backward)[number]) =>
      [0, ...(s.writable ?? [])].map((i) => s.bindings[i]);
    assert.ok(backward.every((s) => written(s).every((b) => !b.half)), "gradients in f32");
    const reads = (label: string) =>
      backward.filter((s) => s.label === label).every((s) => s.bindings.some((b) => b.half));
    for (const label of ["bn.gradPartial", "bn.dx", "pool.grad"]) assert.ok(reads(label), label);
    // Half the activations' bytes: the shared map buffers shrink by about a third.
    const bytes = (p: typeof f32) =>
      [...p.buffers].filter(([id]) => /^p\d/.test(id)).reduce((a, [, b]) => a + b, 0);
    const ratio = bytes(f16) / bytes(f32);
    if (Deno.env.get("U2NET_TEST_VERBOSE")) console.log({ ratio });
    assert.ok(ratio > 0.55 && ratio < 0.75, `f16 / f32 buffers ${ratio}`);
    // The GEMMs: f16 tiles (all but the RGB input conv's and the one-channel side convs').
    const gemms = f16.steps.filter((s) => s.label === "conv" || s.label === "conv.filterGrad");
    const tiled = gemms.filter((s) => /vec4<f16>/.test(s.code));
    assert.ok(tiled.length > 0.8 * gemms.length, `${tiled.length} of ${gemms.length}`);
    const seeds = f16.steps.filter((s) => s.label === "loss.grad");
    assert.equal(seeds.length, 7);
    assert.ok(seeds.every((s) => s.bindings.at(-1)!.buf === "amp"));
  } finally {
    model.dispose();
  }
});

/*
 * Mixed precision against lite_train.safetensors (PyTorch 1.13's three fp32
 * AdamW steps): the loss of each step within 2% (measured: 2.4e-4, 9.2e-4,
 * 1.0e-3). Its gradients are not compared: on this 64x64 batch of 2 the
 * train-mode network is chaotic (a 1e-3 relative change of the input moves
 * the f32 path's logits by 6-30% and its gradients by O(1), measured here),
 * so f16's roundings give other gradients of the same problem; the kernels'
 * own errors are checked in `tests/kernels/conv/conv_half_webgpu_test.ts`.
 * Then, on the same trainer (one compile: the test's cost is the shaders),
 * the loss scaling: growth after each good step (growthInterval 1), a step
 * skipped when every gradient overflows (scale 2^100), and the counts
 * (setLossScale's rounding: `adamw_amp_wgsl_test.ts`).
 */
Deno.test("GpuTrainer in f16 follows PyTorch's three AdamW steps, then skips an overflowing step and halves the scale", async (t) => {
  const ref = await fixture("lite_train.safetensors");
  const refLosses = ref.get("losses")!.data as Float32Array;
  // 65,536 (GradScaler's start) overflows this batch's first gradients: a skipped step.
  const options = { scheduled: true, lossScale: { initScale: 1024, growthInterval: 1 } };
  await withF16(t, options, async ({ model, optimizer, trainer, images, masks }) => {
    assert.equal(trainer.precision, "f16");
    for (let i = 0; i < 3; i++) {
      const loss = await trainer.step(images, masks);
      const rel = Math.abs(loss - refLosses[i]) / refLosses[i];
      assert.ok(rel <= 0.02, `loss ${i}: ${loss} vs ${refLosses[i]} (rel ${rel})`);
      if (Deno.env.get("U2NET_TEST_VERBOSE")) console.log({ i, loss, rel });
    }
    assert.deepEqual(await trainer.lossScale(), { scale: 8192, goodSteps: 0, step: 3, skipped: 0 });
    const before = await trainer.read("params");
    const stats = await trainer.read("state");
    await trainer.setLossScale(2 ** 100); // every gradient times 2^100: inf
    const loss = await trainer.step(images, masks);
    assert.ok(Number.isFinite(loss), "the loss itself is not scaled");
    assert.deepEqual(await trainer.lossScale(), {
      scale: 2 ** 99,
      goodSteps: 0,
      step: 3,
      skipped: 1,
    });
    assert.deepEqual(await trainer.read("params"), before, "a skipped step changes no parameter");
    // The forward ran: the running statistics moved (as under GradScaler).
    assert.notDeepEqual(await trainer.read("state"), stats);
    await trainer.sync();
    // Three optimizer steps; four forwards counted by BatchNorm.
    const state = await optimizer.state();
    assert.ok(Object.values(state.params).every((p) => p.step === 3));
    const counter = (await model.stateDict()).get(
      "encode_modules.0.conv_in.bn.num_batches_tracked",
    );
    assert.equal(Number((counter!.data as BigInt64Array)[0]), 4);
  });
});

Deno.test("GpuTrainer.create() refuses an unknown precision and a bad loss scale", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite");
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  try {
    const make = (o: GpuTrainerOptions) =>
      GpuTrainer.create({ model, optimizer }, { batch: 1, height: 8, width: 8, ...o });
    await assert.rejects(() => make({ precision: "bf16" as "f16" }), RangeError);
    await assert.rejects(() => make({ precision: "f16", lossScale: { initScale: 0 } }), RangeError);
    await assert.rejects(
      () => make({ precision: "f16", lossScale: { growthInterval: 0.5 } }),
      RangeError,
    );
    const f32 = await make({});
    await assert.rejects(() => f32.setLossScale(2), TypeError);
    assert.equal(await f32.lossScale(), undefined);
    f32.dispose();
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  await useBackend("cpu");
});

/*
 * Convergence over ten steps beside the f32 step (exhaustive tier: ~100 s on
 * a software adapter). Measured here on a random 2x64x64 batch: f16 within
 * 1-3% of f32 at every step, both from 5.10 to 1.60; on this fixture (soft
 * masks) within 0.2% at every step, both from 5.09 to 4.82.
 */
Deno.test({
  name: "GpuTrainer in f16 trains like f32 over ten steps when started from lite_wz",
  ignore: !EXHAUSTIVE,
  async fn(t) {
    const losses: number[][] = [];
    for (const precision of ["f32", "f16"] as const) {
      const options = { precision, lossScale: { initScale: 1024 } };
      await withF16(t, options, async ({ trainer, images, masks }) => {
        const mine: number[] = [];
        for (let i = 0; i < 10; i++) mine.push(await trainer.step(images, masks));
        losses.push(mine);
      });
    }
    if (losses.length < 2) return; // no shader-f16 here
    const [f32, f16] = losses;
    f16.forEach((l, i) => {
      const rel = Math.abs(l - f32[i]) / f32[i];
      assert.ok(rel <= 0.05, `step ${i}: f16 ${l} vs f32 ${f32[i]} (rel ${rel})`);
    });
    // Both learn, and by about as much.
    const [d32, d16] = [f32[0] - f32[9], f16[0] - f16[9]];
    assert.ok(d32 > 0.1 && Math.abs(d16 - d32) <= 0.2 * d32, `f32 ${f32}; f16 ${f16}`);
    if (Deno.env.get("U2NET_TEST_VERBOSE")) console.log({ f32, f16 });
  },
});
