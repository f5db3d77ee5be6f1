import assert from "node:assert/strict";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { U2NET_FULL, U2NET_LITE } from "../../../lib/net/config.ts";
import { AdamW } from "../../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../../lib/optim/params_groups.ts";
import { createLrScheduler } from "../../../lib/optim/lr_scheduler.ts";
import { NonFiniteLossError } from "../../../lib/train/train_step.ts";
import { criterion } from "../../../lib/train/loss.ts";
import { GpuTrainer } from "../../../lib/engines/gpu/gpu_trainer.ts";
import { planTrainer } from "../../../lib/engines/gpu/trainer_plan.ts";
import { MAX_CHUNK } from "../../../lib/engines/gpu/trainer_builder.ts";
import { enterTuning } from "../../../lib/kernels/webgpu.ts";
import { fixture, useBackend, webgpuOrSkip } from "../../helpers.ts";
import { withLiteFixture } from "./lite_trainer_fixture.ts";
import { assertNearReference } from "../../train/train_parity.ts";

function paramInfo(model: U2Net) {
  return getParamsGroups(model.namedParameters()).flatMap((g, group) =>
    g.params.map((v, i) => ({ key: g.names[i], shape: v.shape, group }))
  );
}

Deno.test("planTrainer() plans every parameter's gradient and aligned segments when planned for lite and full", () => {
  for (const config of [U2NET_LITE, U2NET_FULL]) {
    const model = U2Net.create(config);
    try {
      const info = paramInfo(model);
      const plan = planTrainer(config, [2, 64, 64], info, 2);
      // Every trainable parameter gets a gradient (written by some dispatch into its segment).
      const written = plan.steps.flatMap((s) =>
        s.bindings[0].buf === "grads" ? [s.bindings[0]] : []
      );
      for (const { key } of info) {
        const slot = plan.params.get(key)!;
        assert.equal(slot.off % 64, 0, key);
        const hit = written.some((w) => w.off <= slot.off && slot.off + slot.len <= w.off + w.len);
        assert.ok(hit, `no gradient written for ${key}`);
      }
      for (const s of plan.steps) {
        for (const at of [0, ...(s.writable ?? [])]) {
          const out = s.bindings[at];
          const others = s.bindings.filter((_, i) => i !== at);
          assert.ok(!others.some((i) => i.buf === out.buf), `${s.label} binds its output twice`);
        }
        assert.ok(s.workgroups.every((g) => g >= 1 && g <= 65535), s.label);
      }
      // Gradients of maps used twice are summed by the kernel writing the second one.
      assert.ok(!plan.steps.some((s) => s.label === "grad.add"), "no separate gradient sum");
      // AdamW chunks under the cap (the trainer's update phase: one dispatch per chunk)
      for (const c of plan.chunks) assert.ok(c.len <= MAX_CHUNK + 64, `chunk of ${c.len}`);
      assert.ok(plan.fuse.len < 256, `fuse range ${plan.fuse.len}`);
    } finally {
      model.dispose();
    }
  }
});

/*
 * The recorded step against lite_train.safetensors (PyTorch 1.13, three AdamW
 * steps of u2net_lite at 64x64, batch 2), at the tolerances of
 * train_step_test.ts (their derivation is there).
 */
Deno.test("GpuTrainer.step() reproduces three PyTorch AdamW steps when started from lite_wz", async (t) => {
  const ref = await fixture("lite_train.safetensors");
  const adamw = (m: U2Net) => new AdamW(getParamsGroups(m.namedParameters(), 1e-4), { lr: 1e-3 });
  await withLiteFixture(t, adamw, async ({ wz, model, optimizer, images, masks, trainer }) => {
    const scheduler = createLrScheduler(optimizer, 2, 3, { warmup: true, warmupEpochs: 1 });
    const gpu = await trainer(scheduler);
    const refLosses = ref.get("losses")!.data as Float32Array;
    const refLrs = ref.get("lrs")!.data as Float32Array;
    const lossTol = [1e-5, 2e-4, 2e-3];
    for (let i = 0; i < 3; i++) {
      assert.equal(Math.fround(optimizer.paramGroups[0].lr), refLrs[i], `lr of step ${i}`);
      const loss = await gpu.step(images, masks);
      const rel = Math.abs(loss - refLosses[i]) / refLosses[i];
      assert.ok(rel <= lossTol[i], `loss ${i}: ${loss} vs ${refLosses[i]} (rel ${rel})`);
    }
    await gpu.sync();
    await assertNearReference(model, wz, ref);
    // The moments came back into the optimizer: three steps each.
    const state = await optimizer.state();
    assert.equal(Object.keys(state.params).length, model.namedParameters().length);
    assert.ok(Object.values(state.params).every((p) => p.step === 3));
  });
});

/*
 * Per-parameter gradients against tfjs' autodiff from lite_wz at 64 px. The
 * problem is ill-conditioned (BatchNorm over as few as 8 values per
 * channel): measured here, a 1e-6 relative input change moves some
 * parameters' gradients by up to 5.2% (relative L2, tfjs cpu), tfjs-webgpu
 * vs tfjs-cpu differ by 4.9%, the recorded step vs tfjs-webgpu by 3.3%. A
 * wrong gradient is off by O(1), so every parameter must be within 10%.
 */
Deno.test("GpuTrainer.gradients() match tfjs' autodiff per parameter when started from lite_wz", async (t) => {
  const adamw = (m: U2Net) => new AdamW(getParamsGroups(m.namedParameters()), { lr: 0 });
  await withLiteFixture(t, adamw, async ({ model, images, masks, trainer }) => {
    model.train();
    const named = model.namedParameters();
    const { value, grads } = tf.variableGrads(
      () => criterion(model.forward(images), masks),
      named.map(([, v]) => v),
    );
    const theirs = new Map<string, Float32Array>();
    for (const [key, v] of named) theirs.set(key, await grads[v.name].data() as Float32Array);
    const loss = (await value.data())[0];
    tf.dispose([value, ...Object.values(grads)]);
    const gpu = await trainer();
    const ours = await gpu.step(images, masks);
    assert.ok(Math.abs(ours - loss) / loss <= 1e-6, `loss ${ours} vs ${loss}`);
    const mine = await gpu.gradients();
    assert.equal(mine.size, named.length);
    for (const [key, g] of theirs) {
      const o = mine.get(key)!;
      let [d, n] = [0, 0];
      for (let i = 0; i < g.length; i++) [d, n] = [d + (o[i] - g[i]) ** 2, n + g[i] ** 2];
      const rel = Math.sqrt(d / n);
      assert.ok(rel <= 0.1, `${key}: relative error ${rel}`);
    }
  });
});

/*
 * The tilings the benchmarks switch against the default (64 rows, 4x4
 * register tiles, unrolled, single-buffered), from lite_wz, all at once (one
 * more trainer to compile): 128-pixel conv tiles on 8x8 register tiles,
 * double-buffered; 128-row filter-gradient tiles on two column groups,
 * double-buffered. A conv sums each output in the same order on any tile, so
 * the loss is the same bits; only the filter gradients' split sums may
 * differ, by rounding, where their rows change. The shaders themselves are
 * checked bit for bit in `conv_tile_webgpu_test.ts` (and looped against
 * unrolled in `conv_grad_webgpu_test.ts`).
 */
Deno.test("GpuTrainer.gradients() agree across tilings when the tiles are 128 rows, 8x8 registers and double-buffered", async (t) => {
  const adamw = (m: U2Net) => new AdamW(getParamsGroups(m.namedParameters()), { lr: 0 });
  await withLiteFixture(t, adamw, async ({ images, masks, trainer }) => {
    const base = await trainer();
    const loss = await base.step(images, masks);
    const want = await base.gradients();
    const restore = enterTuning({
      convRows: 128,
      convRegs: 8,
      convPrefetch: true,
      gradRows: 128,
      gradCols: 2,
      gradPrefetch: true,
    });
    try {
      const tiled = await trainer();
      assert.equal(await tiled.step(images, masks), loss);
      for (const [key, g] of await tiled.gradients()) {
        const o = want.get(key)!;
        let [d, n] = [0, 0];
        for (let i = 0; i < g.length; i++) [d, n] = [d + (o[i] - g[i]) ** 2, n + o[i] ** 2];
        assert.ok(Math.sqrt(d / n) <= 1e-5, `${key}: relative difference ${Math.sqrt(d / n)}`);
      }
    } finally {
      restore();
    }
  });
});

Deno.test("GpuTrainer.step() throws before the optimizer step when the loss is not finite", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite", { seed: 3 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const trainer = await GpuTrainer.create({ model, optimizer }, {
    batch: 1,
    height: 16,
    width: 16,
  });
  try {
    const before = await trainer.read("params");
    await assert.rejects(
      // NaN masks (NaN images may not survive: WGSL's max(NaN, 0) can be 0).
      trainer.step(new Float32Array(16 * 16 * 3), new Float32Array(16 * 16).fill(NaN), {
        epoch: 2,
        step: 5,
      }),
      (e: Error) => e instanceof NonFiniteLossError && /NaN at epoch 2 iteration 5/.test(e.message),
    );
    assert.deepEqual(await trainer.read("params"), before);
    await assert.rejects(trainer.step(new Float32Array(3), new Float32Array(16 * 16)), RangeError);
    await trainer.sync();
    assert.deepEqual((await optimizer.state()).params, {});
  } finally {
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
  }
  await useBackend("cpu");
});

Deno.test("GpuTrainer.create() rejects a folded network, bad shapes and batches past the device's limits", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = U2Net.create("lite", { batchNorm: false });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  try {
    await assert.rejects(GpuTrainer.create({ model, optimizer }), /without BatchNorm/);
    await assert.rejects(GpuTrainer.create({ model, optimizer }, { batch: 0 }), RangeError);
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  // Past the device's limits (65,536 conv workgroups along one dimension at
  // batch 16, 512x512): a RangeError before any GPU buffer is made.
  const lite = U2Net.create("lite");
  const adam = new AdamW(getParamsGroups(lite.namedParameters()), { lr: 1e-3 });
  try {
    await assert.rejects(
      GpuTrainer.create({ model: lite, optimizer: adam }, { batch: 16, height: 512, width: 512 }),
      (e: Error) => e instanceof RangeError && /over the device's/.test(e.message),
    );
  } finally {
    adam.dispose();
    lite.dispose();
  }
  await useBackend("cpu");
});

/** A lite trainer (seed 3, warmup-cosine scheduler) at 16x16, batch 1, and a state snapshot. */
async function smallTrainer() {
  const model = U2Net.create("lite", { seed: 3 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const scheduler = createLrScheduler(optimizer, 2, 3, { warmup: true, warmupEpochs: 1 });
  const gpu = await GpuTrainer.create({ model, optimizer, scheduler }, {
    batch: 1,
    height: 16,
    width: 16,
  });
  const snapshot = async () => {
    await gpu.sync();
    const moments = [];
    for (let i = 0;; i++) {
      try {
        moments.push(await gpu.read(`mv${i}`));
      } catch {
        break;
      }
    }
    const [bn] = [...(await model.stateDict())].filter(([k]) => k.endsWith("num_batches_tracked"));
    return {
      params: await gpu.read("params"),
      state: await gpu.read("state"),
      moments,
      guard: new Uint32Array((await gpu.read("guard")).buffer)[0],
      steps: [...new Set(Object.values((await optimizer.state()).params).map((p) => p.step))],
      lr: optimizer.paramGroups.map((g) => g.lr),
      scheduled: scheduler.stepCount,
      batches: bn[1].data[0],
    };
  };
  const dispose = () => {
    gpu.dispose();
    optimizer.dispose();
    model.dispose();
  };
  return { gpu, snapshot, dispose };
}

const image16 = (k: number) =>
  Float32Array.from({ length: 16 * 16 * 3 }, (_, i) => Math.sin(i * 0.37 + k));
const mask16 = (k: number) =>
  k < 0
    ? new Float32Array(16 * 16).fill(NaN) // NaN masks (NaN images may not survive a ReLU)
    : Float32Array.from({ length: 16 * 16 }, (_, i) => (Math.sin(i * 0.11 + k) > 0 ? 1 : 0));

/*
 * The update is recorded with the step and guarded on the GPU, so a step
 * submitted before the previous loss is read runs the same dispatches on the
 * same data: bit-identical results, the scheduler's lr included.
 */
Deno.test("GpuTrainer.submit() gives bit-identical losses, weights, moments and statistics to step() when one step is in flight", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const K = 3;
  const plain = await smallTrainer();
  const piped = await smallTrainer();
  try {
    const want: number[] = [];
    for (let k = 0; k < K; k++) want.push(await plain.gpu.step(image16(k), mask16(k)));
    const got: number[] = [];
    let last = await piped.gpu.submit(image16(0), mask16(0));
    for (let k = 1; k < K; k++) {
      const next = await piped.gpu.submit(image16(k), mask16(k));
      assert.equal(piped.gpu.inFlight >= 1, true);
      got.push(await last.loss());
      last = next;
    }
    got.push(await last.loss());
    assert.deepEqual(got, want);
    const [a, b] = [await plain.snapshot(), await piped.snapshot()];
    assert.deepEqual(b, a);
    assert.deepEqual(a.steps, [K]);
    assert.equal(a.scheduled, K);
    // One pass per step: the plan's dispatches, the guarded running-stat copy, one AdamW per chunk.
    const summary = plain.gpu.summary();
    assert.equal(summary["state.copy"], 1);
    assert.equal(plain.gpu.dispatches, Object.values(summary).reduce((x, y) => x + y, 0));
    assert.equal(summary["adamw"], a.moments.length);
  } finally {
    plain.dispose();
    piped.dispose();
  }
  await useBackend("cpu");
});

/*
 * A NaN loss at step 2: plain, step() throws; pipelined, step 3 was already
 * queued (the GPU latch skips its update and running-stat copy) or is
 * submitted after the host read the NaN (refused): all leave exactly the
 * state after step 1, and the next step trains on from it.
 */
Deno.test("GpuTrainer.submit() cancels the steps after a non-finite loss and leaves the state after the last finite step", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const plain = await smallTrainer();
  const piped = await smallTrainer();
  const nonFinite = (e: Error) =>
    e instanceof NonFiniteLossError && /NaN at iteration 1/.test(e.message);
  try {
    const first = await plain.gpu.step(image16(0), mask16(0), { step: 0 });
    await assert.rejects(plain.gpu.step(image16(1), mask16(-1), { step: 1 }), nonFinite);
    const want = await plain.snapshot();
    assert.deepEqual(want.steps, [1]);
    assert.equal(want.guard, 0);

    // Queued behind the NaN step before its loss can be read: the GPU latch.
    const h0 = piped.gpu.submit(image16(0), mask16(0), { step: 0 });
    const h1 = piped.gpu.submit(image16(1), mask16(-1), { step: 1 });
    const h2 = piped.gpu.submit(image16(2), mask16(2), { step: 2 });
    await Promise.all([h0, h1, h2]);
    assert.equal(piped.gpu.inFlight, 3); // all queued before any read-back came back
    assert.equal(await (await h0).loss(), first);
    await assert.rejects((await h1).loss(), nonFinite);
    await assert.rejects((await h2).loss(), nonFinite);
    assert.deepEqual(await piped.snapshot(), want);

    // Submitted after the host read the NaN but before anyone saw it: refused.
    const h3 = await piped.gpu.submit(image16(1), mask16(-1), { step: 1 });
    await piped.gpu.flush();
    const h4 = await piped.gpu.submit(image16(2), mask16(2), { step: 2 });
    await assert.rejects(h4.loss(), nonFinite);
    await assert.rejects(h3.loss(), nonFinite);
    await assert.rejects(plain.gpu.step(image16(1), mask16(-1), { step: 1 }), nonFinite);
    assert.deepEqual(await piped.snapshot(), await plain.snapshot());

    // Both train on alike from there.
    assert.equal(
      await (await piped.gpu.submit(image16(2), mask16(2))).loss(),
      await plain.gpu.step(image16(2), mask16(2)),
    );
    assert.deepEqual(await piped.snapshot(), await plain.snapshot());
  } finally {
    plain.dispose();
    piped.dispose();
  }
  await useBackend("cpu");
});
