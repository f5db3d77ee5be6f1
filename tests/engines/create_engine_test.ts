import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import {
  createEngine,
  describeEngine,
  ENGINE_CHOICES,
  resolveEngineChoice,
} from "../../lib/engines/create_engine.ts";
import {
  currentTuning,
  DEFAULT_TUNING,
  resolveTuning,
  withTuning,
} from "../../lib/kernels/webgpu.ts";

await tf.setBackend("cpu");

Deno.test("resolveEngineChoice() gives auto one meaning: gpu on webgpu, else cpu for a U2Net, else tfjs", () => {
  assert.deepEqual(ENGINE_CHOICES, ["auto", "tfjs", "gpu", "cpu"]);
  assert.equal(resolveEngineChoice("auto", { backend: "webgpu" }), "gpu");
  assert.equal(resolveEngineChoice("auto", { backend: "wasm" }), "cpu");
  assert.equal(resolveEngineChoice("auto", { backend: "cpu", u2net: false }), "tfjs");
  assert.equal(resolveEngineChoice("auto", { backend: "webgpu", u2net: false }), "tfjs");
  // training has no cpu engine: the same rule without it
  assert.equal(resolveEngineChoice("auto", { backend: "wasm", training: true }), "cpu");
  assert.equal(resolveEngineChoice("auto", { backend: "webgpu", training: true }), "gpu");
  assert.equal(resolveEngineChoice("tfjs", { backend: "webgpu" }), "tfjs");
  assert.throws(() => resolveEngineChoice("gpu", { backend: "wasm" }), TypeError);
  assert.throws(() => resolveEngineChoice("cpu", { u2net: false }), TypeError);
  assert.equal(resolveEngineChoice("cpu", { training: true }), "cpu");
  assert.throws(() => resolveEngineChoice("fast" as "auto"), TypeError);
});

Deno.test("createEngine() names its engine and backend, and describe() says both", () => {
  const model = U2Net.create("lite");
  try {
    const cpu = createEngine(model, { threads: 2 });
    assert.deepEqual([cpu.name, cpu.backend, cpu.threads], ["cpu", "cpu", 2]);
    assert.equal(cpu.describe(), "cpu (wasm, 2 threads)"); // our wasm module on any backend
    cpu.dispose();
    const tfjs = createEngine(model, { engine: "tfjs", threads: 4 });
    assert.deepEqual([tfjs.name, tfjs.threads, tfjs.describe()], ["tfjs", 1, "tfjs (cpu)"]);
    assert.equal(describeEngine("cpu", "wasm", 1), "cpu (wasm, 1 thread)");
    assert.equal(describeEngine("gpu", "webgpu", 8), "gpu (webgpu)");
    // a model that is not a U2Net runs on tfjs
    const other = createEngine({ predict: (x) => tf.sigmoid(tf.slice(x, 0, [-1, -1, -1, 1])) });
    assert.equal(other.name, "tfjs");
    assert.throws(() => createEngine(model, { engine: "gpu" }), TypeError);
    assert.throws(() => createEngine(model, { backend: "wasm" }), /current backend is cpu/);
    assert.equal(createEngine(model, { backend: "cpu" }).name, "cpu");
  } finally {
    model.dispose();
  }
});

Deno.test("createEngine() runs the cpu and tfjs engines to the same probabilities, freeing every tensor", async () => {
  const model = U2Net.create("lite", { seed: 1 });
  const start = tf.memory().numTensors;
  const input = Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.sin(i) * 2);
  try {
    const cpu = createEngine(model, { engine: "cpu" });
    const tfjs = createEngine(model, { engine: "tfjs" });
    const a = await cpu.run(input, [2, 32, 32]);
    const b = await tfjs.run(input, [2, 32, 32]);
    assert.equal(a.length, 2 * 32 * 32);
    assert.equal(b.length, a.length);
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(worst < 1e-4, `max difference ${worst}`);
    assert.deepEqual([cpu.size, tfjs.size, tfjs.keptBytes], [1, 0, 0]);
    assert.equal(tfjs.checkSize(32, 5000), 0);
    cpu.dispose();
    assert.equal(cpu.size, 0);
    tfjs.dispose();
    assert.equal(tf.memory().numTensors, start);
  } finally {
    model.dispose();
  }
});

Deno.test("createEngine() applies its tuning around its own calls only", async () => {
  const seen: boolean[] = [];
  const probe = {
    predict(x: tf.Tensor4D): tf.Tensor4D {
      seen.push(currentTuning().conv, currentTuning().convUnrolled);
      return tf.sigmoid(tf.slice(x, 0, [-1, -1, -1, 1]));
    },
  };
  const engine = createEngine(probe, { tuning: { conv: false, convUnrolled: false } });
  assert.deepEqual(
    [engine.tuning.conv, engine.tuning.convRows, engine.tuning.batchNorm],
    [false, 64, true],
  );
  await engine.run(new Float32Array(4 * 4 * 3), [1, 4, 4]);
  assert.deepEqual(seen, [false, false]);
  assert.equal(currentTuning(), DEFAULT_TUNING);
  await createEngine(probe).run(new Float32Array(4 * 4 * 3), [1, 4, 4]);
  assert.deepEqual(seen, [false, false, true, true]);
  assert.throws(() => createEngine(probe, { tuning: { convRows: 96 as 64 } }), RangeError);
  assert.throws(() => createEngine(probe, { tuning: { convRegs: 6 as 8 } }), RangeError);
  assert.throws(() => createEngine(probe, { tuning: { fast: true } as never }), TypeError);
});

Deno.test("withTuning() scopes a tuning to a call and restores it on throw and after a promise", async () => {
  assert.equal(withTuning({ adamw: false }, () => currentTuning().adamw), false);
  assert.equal(currentTuning().adamw, true);
  assert.throws(() =>
    withTuning({ adamw: false }, () => {
      throw new Error("x");
    })
  );
  assert.equal(currentTuning(), DEFAULT_TUNING);
  const p = withTuning({ convRows: 128 }, async () => {
    await Promise.resolve();
    return currentTuning().convRows;
  });
  assert.equal(await p, 128);
  assert.equal(currentTuning().convRows, 64);
  assert.equal(
    withTuning({ conv: false }, () => withTuning({ adamw: false }, currentTuning)).conv,
    false,
  );
  assert.equal(resolveTuning({}), DEFAULT_TUNING);
  assert.ok(Object.isFrozen(resolveTuning({ criterion: false })));
});
