/**
 * The lite_wz fixture on a GpuTrainer, shared by the f32 and f16 trainer
 * tests (`gpu_trainer_test.ts`, `gpu_trainer_f16_test.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import type { AdamW } from "../../../lib/optim/adamw.ts";
import type { LrScheduler } from "../../../lib/optim/lr_scheduler.ts";
import type { StateDict } from "../../../lib/io/raw_tensor.ts";
import { GpuTrainer, type GpuTrainerOptions } from "../../../lib/engines/gpu/gpu_trainer.ts";
import { fixture, nchwToNhwc, useBackend, webgpuOrSkip } from "../../helpers.ts";

/** lite_wz's network, lite_io's batch and an AdamW made by `adamw`, on a trainer of their shape. */
export interface LiteFixture {
  wz: StateDict;
  model: U2Net;
  optimizer: AdamW;
  images: tf.Tensor4D;
  masks: tf.Tensor4D;
  /** A GpuTrainer for the batch's shape (with `scheduler` when given, and `options`). */
  trainer(scheduler?: LrScheduler, options?: GpuTrainerOptions): Promise<GpuTrainer>;
}

/**
 * Runs `fn` on webgpu (skipped without an adapter) with the lite_wz fixture,
 * then frees everything and checks that no tensor is left.
 */
export async function withLiteFixture(
  t: Deno.TestContext,
  adamw: (model: U2Net) => AdamW,
  fn: (f: LiteFixture) => Promise<void>,
): Promise<void> {
  if (!(await webgpuOrSkip(t))) return;
  const wz = await fixture("lite_wz.safetensors");
  const io = await fixture("lite_io.safetensors");
  const start = tf.memory().numTensors;
  const model = U2Net.create("lite");
  const x = io.get("x")!, target = io.get("target")!;
  const images = nchwToNhwc(x.data as Float32Array, x.shape);
  const masks = nchwToNhwc(target.data as Float32Array, target.shape);
  const optimizer = adamw(model);
  const trainers: GpuTrainer[] = [];
  try {
    model.loadStateDict(wz);
    const [n, , h, w] = x.shape;
    const trainer = async (scheduler?: LrScheduler, options: GpuTrainerOptions = {}) => {
      const made = await GpuTrainer.create({ model, optimizer, scheduler }, {
        batch: n,
        height: h,
        width: w,
        ...options,
      });
      trainers.push(made);
      return made;
    };
    await fn({ wz, model, optimizer, images, masks, trainer });
  } finally {
    for (const made of trainers) made.dispose();
    optimizer.dispose();
    images.dispose();
    masks.dispose();
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, start);
  await useBackend("cpu");
}
