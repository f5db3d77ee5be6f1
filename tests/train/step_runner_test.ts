import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import type { Batch } from "../../lib/data/loader.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { AdamW } from "../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../lib/optim/params_groups.ts";
import { StepRunner, type SubmittedStep, type TrainEngine } from "../../lib/train/step_runner.ts";
import { GpuTrainer } from "../../lib/engines/gpu/gpu_trainer.ts";
import { CpuTrainer } from "../../lib/engines/cpu/cpu_trainer.ts";
import { EXHAUSTIVE, f16OrSkip, useBackend, webgpuOrSkip } from "../helpers.ts";

function batchOf(size: number, side: number, seed: number): Batch {
  const n = size * side * side;
  return {
    images: Float32Array.from({ length: 3 * n }, (_, i) => Math.sin(i * 0.37 + seed)),
    masks: Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 0.11 + seed) > 0 ? 1 : 0)),
    names: Array.from({ length: size }, (_, i) => `s${i}`),
    indices: Array.from({ length: size }, (_, i) => i),
    size,
    height: side,
    width: side,
    epoch: 0,
    step: 0,
  };
}

Deno.test("StepRunner runs the cpu engine's steps when auto on cpu, tfjs when asked, and rejects unknown engines", async () => {
  await useBackend("cpu");
  const model = U2Net.create("lite", { seed: 2 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  try {
    const runner = new StepRunner({ model, optimizer });
    assert.equal(runner.active, "cpu");
    assert.ok(Number.isFinite(await runner.step(batchOf(1, 16, 1))));
    await runner.sync();
    runner.dispose();
    const tfjs = new StepRunner({ model, optimizer }, "tfjs");
    assert.equal(tfjs.active, "tfjs");
    assert.ok(Number.isFinite(await tfjs.step(batchOf(1, 16, 1))));
    tfjs.dispose();
    assert.throws(
      () => new StepRunner({ model, optimizer }, "fast" as TrainEngine),
      /current engine is fast/,
    );
    await assert.rejects(
      new StepRunner({ model, optimizer }, "gpu").step(batchOf(1, 16, 1)),
      /current backend is cpu/,
    );
  } finally {
    optimizer.dispose();
    model.dispose();
  }
});

/*
 * A batch of another shape gets its own recorded step: the runner's steps at
 * 2x32, 1x32 (a short batch: sync, a second plan), 2x32 again (sync, reload
 * of the first plan) and 1x32 again (its kept plan, reloaded) must end
 * exactly where the same sequence ends when done by hand with a fresh
 * GpuTrainer each time (every kernel is deterministic), so reload() uploads
 * all that create() does and sync() hands back all of the state.
 */
for (const engine of ["gpu", "cpu"] as const) {
  Deno.test(`StepRunner.step() gives a batch of another shape its own recorded plan and hands the state over exactly on the ${engine} engine`, async (t) => {
    if (engine === "gpu" ? !(await webgpuOrSkip(t)) : (await useBackend("cpu"), false)) return;
    const Recorded = engine === "gpu" ? GpuTrainer : CpuTrainer;
    const start = tf.memory().numTensors;
    const make = () => {
      const model = U2Net.create("lite", { seed: 5 });
      const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
      return { model, optimizer };
    };
    const a = make(), c = make();
    const runner = new StepRunner(a, engine);
    try {
      const batches = [batchOf(2, 32, 1), batchOf(1, 32, 2), batchOf(2, 32, 3), batchOf(1, 32, 4)];
      const ours: number[] = [];
      for (const batch of batches) ours.push(await runner.step(batch));
      await runner.sync();
      // By hand.
      const theirs: number[] = [];
      for (const batch of batches) {
        const gt = await Recorded.create(c, { batch: batch.size, height: 32, width: 32 });
        theirs.push(await gt.step(batch.images, batch.masks));
        await gt.sync();
        gt.dispose();
      }
      assert.deepEqual(ours, theirs);
      const [sa, sc] = [await a.model.stateDict(), await c.model.stateDict()];
      for (const [key, v] of sa) assert.deepEqual(v.data, sc.get(key)!.data, key);
      assert.equal(sa.get("encode_modules.0.conv_in.bn.num_batches_tracked")!.data[0], 4n);
      const [oa, oc] = [await a.optimizer.state(), await c.optimizer.state()];
      assert.deepEqual(oa, oc);
      assert.ok(Object.values(oa.params).every((p) => p.step === 4));
    } finally {
      runner.dispose();
      for (const x of [a, c]) {
        x.optimizer.dispose();
        x.model.dispose();
      }
    }
    assert.equal(tf.memory().numTensors, start);
    await useBackend("cpu");
  });
}

/**
 * The train loop's pattern: step i + 1 submitted before step i's loss is
 * awaited; a failed submission reports the step before it first.
 */
async function pipelined(runner: StepRunner, batches: Batch[]): Promise<(number | string)[]> {
  const out: (number | string)[] = [];
  let last: SubmittedStep | undefined;
  try {
    for (const [i, batch] of batches.entries()) {
      let next: SubmittedStep;
      try {
        next = await runner.submit(batch, { step: i });
      } catch (e) {
        if (last) out.push(await last.loss());
        throw e;
      }
      if (last) out.push(await last.loss());
      last = next;
    }
    if (last) out.push(await last.loss());
  } catch (e) {
    out.push((e as Error).message);
  }
  return out;
}

/*
 * StepRunner.submit() as the train loop uses it (one step in flight on the
 * gpu engine, synchronous on cpu) must end exactly where step() ends, with a
 * NaN mask at iteration 2 too: the same losses, the same error, the state
 * after iteration 1.
 */
for (const engine of ["gpu", "cpu"] as const) {
  Deno.test(`StepRunner.submit() ends where step() ends, after a non-finite loss too, on the ${engine} engine`, async (t) => {
    if (engine === "gpu" ? !(await webgpuOrSkip(t)) : (await useBackend("cpu"), false)) return;
    const start = tf.memory().numTensors;
    const make = () => {
      const model = U2Net.create("lite", { seed: 5 });
      const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
      return { model, optimizer };
    };
    const poisoned = batchOf(1, 16, 3);
    poisoned.masks.fill(NaN);
    for (
      const batches of [[1, 2, 3, 4].map((s) => batchOf(1, 16, s)), [
        batchOf(1, 16, 1),
        batchOf(1, 16, 2),
        poisoned,
        batchOf(1, 16, 4),
      ]]
    ) {
      const a = make(), c = make();
      const [ra, rc] = [new StepRunner(a, engine), new StepRunner(c, engine)];
      try {
        const theirs: (number | string)[] = [];
        try {
          for (const [i, batch] of batches.entries()) {
            theirs.push(await ra.step(batch, { step: i }));
          }
        } catch (e) {
          theirs.push((e as Error).message);
        }
        const ours = await pipelined(rc, batches);
        assert.deepEqual(ours, theirs);
        const poisonedRun = batches.includes(poisoned);
        assert.equal(ours.length, poisonedRun ? 3 : 4);
        if (poisonedRun) assert.match(String(ours[2]), /NaN at iteration 2/);
        await ra.sync();
        await rc.sync();
        const [sa, sc] = [await a.model.stateDict(), await c.model.stateDict()];
        for (const [key, v] of sa) assert.deepEqual(v.data, sc.get(key)!.data, key);
        assert.deepEqual(await c.optimizer.state(), await a.optimizer.state());
      } finally {
        ra.dispose();
        rc.dispose();
        for (const x of [a, c]) {
          x.optimizer.dispose();
          x.model.dispose();
        }
      }
    }
    assert.equal(tf.memory().numTensors, start);
    await useBackend("cpu");
  });
}

/*
 * One loss scale for the run, as one GradScaler (exhaustive tier: two f16
 * steps compiled, ~40 s on a software adapter). Random lite at 32x32: every
 * f16 step overflows (BatchNorm over two values per channel makes the f32
 * gradients reach 1e5), so each step halves the scale.
 */
Deno.test({
  name: "StepRunner carries the f16 loss scale over when the batch shape changes",
  ignore: !EXHAUSTIVE,
  async fn(t) {
    if (!(await webgpuOrSkip(t))) return;
    if (!(await navigator.gpu.requestAdapter())?.features.has("shader-f16")) return;
    const model = U2Net.create("lite", { seed: 3 });
    const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
    const runner = new StepRunner({ model, optimizer }, "gpu", { precision: "f16" });
    try {
      assert.equal(await runner.lossScale(), undefined);
      for (let i = 0; i < 3; i++) await runner.step(batchOf(2, 32, i));
      const first = await runner.lossScale();
      assert.equal(first, 65536 / 8, "three skipped steps");
      await runner.step(batchOf(1, 32, 9)); // another shape: its own step, the same scale
      assert.equal(await runner.lossScale(), first! / 2);
    } finally {
      runner.dispose();
      optimizer.dispose();
      model.dispose();
    }
    await useBackend("cpu");
  },
});

/*
 * A resumed f16 run hands its loss scaling to the runner (`lossScale`). At
 * 2^-10 nothing overflows (random lite at 32x32 overflows at 2^16, above),
 * so the first step is good: with 1,999 good steps given, it is the
 * 2,000th, and the scale doubles with its count restarted, as GradScaler's
 * growth after `growth_interval` good steps; the next step counts one.
 */
Deno.test("StepRunner starts the f16 loss scaling from a resumed run's scale and good steps", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const start = tf.memory().numTensors;
  const model = U2Net.create("lite", { seed: 3 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const runner = new StepRunner({ model, optimizer }, "gpu", {
    precision: "f16",
    lossScale: { scale: 2 ** -10, goodSteps: 1999 },
  });
  try {
    assert.equal(await runner.ampState(), undefined, "no recorded step yet");
    await runner.step(batchOf(1, 32, 0));
    const first = await runner.ampState();
    assert.deepEqual(first && [first.scale, first.goodSteps, first.skipped], [2 ** -9, 0, 0]);
    await runner.step(batchOf(1, 32, 1));
    const second = await runner.ampState();
    assert.deepEqual(second && [second.scale, second.goodSteps, second.step], [2 ** -9, 1, 2]);
  } finally {
    runner.dispose();
    optimizer.dispose();
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, start, "every tensor freed");
  await useBackend("cpu");
});
