import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { AdamW } from "../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../lib/optim/params_groups.ts";
import { createLrScheduler } from "../../lib/optim/lr_scheduler.ts";
import { NonFiniteLossError, trainStep } from "../../lib/train/train_step.ts";
import { EXHAUSTIVE, fixture, nchwToNhwc, testBackends, useBackend } from "../helpers.ts";
import { assertNearReference } from "./train_parity.ts";

await tf.setBackend("cpu");
// cpu, and webgpu (where our WGSL conv-gradient, BatchNorm and AdamW kernels run).
const parityBackends = (await testBackends()).filter((b) => b === "cpu" || b === "webgpu");

/*
 * Parity with lite_train.safetensors (PyTorch 1.13, CPU): three AdamW steps of
 * u2net_lite in train mode at 64x64, batch 2.
 *
 * This problem is numerically ill-conditioned: BatchNorm normalises over as few
 * as 8 values per channel at the deepest levels, so float32 summation-order
 * differences are amplified. Measured on the cpu backend (tests/.tmp/sens.ts):
 *
 *                                  ours vs PyTorch   ours vs ours with x·(1+1e-6)
 *   loss step 1 (relative)         8.4e-7            9.4e-8
 *   loss step 2 (relative)         5.8e-5            6.5e-6
 *   loss step 3 (relative)         4.5e-4            5.3e-4
 *   params after 3, max |Δ|        2.79e-3           2.68e-3
 *   BN running stats, max |Δ|      2.38e-2           1.92e-2
 *   cos(update ours, update other) 0.874             0.880
 *
 * So our deviation from the reference is exactly the deviation a 1e-6 relative
 * input perturbation causes in our own run: the floor of this fixture, not an
 * error. AdamW normalises each step to ~lr per element (lrs 1e-6, 5e-4, 1e-3),
 * which bounds parameter errors by about 2·Σlr ≈ 3e-3. The fixture's 1e-5
 * parameter tolerance is therefore not achievable by any float32
 * re-implementation with a different summation order; we assert:
 *   - step-1 loss within the fixture's 1e-5 relative; steps 2-3 within 4x the
 *     measured sensitivity (2e-4, 2e-3 relative);
 *   - lrs exactly (as float32);
 *   - parameters within 5e-3 abs (the AdamW bound), the total update vector
 *     aligned with PyTorch's (cosine >= 0.8) and of the same size (norm ratio
 *     within 10%): this catches wrong lr, sign, decay or grouping;
 *   - BN running stats within 5e-2 abs (2x measured), batch counters advanced by 3.
 */
for (const backend of parityBackends) {
  // On tfjs-cpu (~35 s a step on 2 cores) only in the exhaustive tier: its
  // gradients are checked against the seed's step by u2net_test (cpu), AdamW
  // and the scheduler by their own tests, and the three steps by this test on
  // webgpu and by CpuTrainer's (the engine that trains where there is no GPU).
  Deno.test({
    name:
      `trainStep() reproduces three PyTorch AdamW steps when started from lite_wz on ${backend}`,
    ignore: backend === "cpu" && !EXHAUSTIVE,
  }, async () => {
    await useBackend(backend);
    const wz = await fixture("lite_wz.safetensors");
    const io = await fixture("lite_io.safetensors");
    const ref = await fixture("lite_train.safetensors");
    const start = tf.memory().numTensors;
    const model = U2Net.create("lite");
    const x = io.get("x")!;
    const t = io.get("target")!;
    const images = nchwToNhwc(x.data as Float32Array, x.shape);
    const masks = nchwToNhwc(t.data as Float32Array, t.shape);
    let optimizer: AdamW | undefined;
    try {
      model.loadStateDict(wz);
      optimizer = new AdamW(getParamsGroups(model.namedParameters(), 1e-4), { lr: 1e-3 });
      const scheduler = createLrScheduler(optimizer, 2, 3, { warmup: true, warmupEpochs: 1 });
      const refLosses = ref.get("losses")!.data as Float32Array;
      const refLrs = ref.get("lrs")!.data as Float32Array;
      const lossTol = [1e-5, 2e-4, 2e-3];
      const nParams = model.namedParameters().length;
      const afterSetup = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const lr: number = optimizer.paramGroups[0].lr;
        assert.equal(Math.fround(lr), refLrs[i], `lr of step ${i}`);
        assert.equal(optimizer.paramGroups[1].lr, lr);
        const loss = await trainStep({ model, optimizer, scheduler }, { images, masks });
        const rel = Math.abs(loss - refLosses[i]) / refLosses[i];
        assert.ok(rel <= lossTol[i], `loss ${i}: ${loss} vs ${refLosses[i]} (rel ${rel})`);
        // only the AdamW moments (made at the first step) remain: m and v per parameter,
        // or one packed tensor per parameter where AdamW runs fused on webgpu
        const moments = (backend === "webgpu" ? 1 : 2) * nParams;
        assert.equal(tf.memory().numTensors, afterSetup + moments, `tensors after step ${i}`);
      }
      await assertNearReference(model, wz, ref);
    } finally {
      optimizer?.dispose();
      images.dispose();
      masks.dispose();
      model.dispose();
    }
    assert.equal(tf.memory().numTensors, start);
    await useBackend("cpu");
  });
}

Deno.test("trainStep() throws before the optimizer step when the loss is not finite", async () => {
  const start = tf.memory().numTensors;
  const model = U2Net.create("lite", { seed: 3 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const scheduler = createLrScheduler(optimizer, 1, 2, { warmupEpochs: 1 });
  const images = tf.fill([1, 16, 16, 3], NaN) as tf.Tensor4D;
  const masks = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
  try {
    const [, w] = model.namedParameters()[0];
    const before = await w.data();
    const lr = optimizer.paramGroups[0].lr;
    await assert.rejects(
      trainStep({ model, optimizer, scheduler }, { images, masks }, { epoch: 4, step: 7 }),
      (e: Error) => e instanceof NonFiniteLossError && /NaN at epoch 4 iteration 7/.test(e.message),
    );
    assert.deepEqual(await w.data(), before);
    assert.deepEqual((await optimizer.state()).params, {});
    assert.equal(scheduler.stepCount, 0);
    assert.equal(optimizer.paramGroups[0].lr, lr);
    assert.equal(
      tf.memory().numTensors,
      start + model.namedParameters().length + model.namedBuffers().length + 2,
    );
  } finally {
    images.dispose();
    masks.dispose();
    optimizer.dispose();
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, start);
});
