import assert from "node:assert/strict";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { CpuEngine } from "../../../lib/engines/cpu/cpu_engine.ts";
import { GpuEngine } from "../../../lib/engines/gpu/gpu_engine.ts";
import { createEngine } from "../../../lib/engines/create_engine.ts";
import {
  DEFAULT_MAX_ENGINE_BYTES,
  EngineMemoryError,
  formatBytes,
} from "../../../lib/engines/memory/engine_memory.ts";
import { createPredictor } from "../../../lib/predict/predictor.ts";

await tf.setBackend("cpu");

const image = (width: number, height: number) => ({
  width,
  height,
  channels: 3 as const,
  data: new Uint8Array(width * height * 3).fill(90),
});

Deno.test("CpuEngine.estimateBytes() is within a page of the memory of the engine built", async () => {
  const model = U2Net.create("lite");
  try {
    for (const [height, width, threads] of [[32, 32, 1], [32, 512, 1], [33, 47, 2]]) {
      const est = CpuEngine.estimateBytes(model, { height, width, threads });
      const engine = await CpuEngine.create(model, { height, width, threads });
      engine.dispose();
      assert.ok(
        Math.abs(engine.memoryBytes - est) < 65536,
        `${height}x${width}/${threads}: estimate ${est}, built ${engine.memoryBytes}`,
      );
    }
    // activations grow with the area: 16x the pixels, far more bytes
    const a = CpuEngine.estimateBytes(model, { height: 320, width: 320 });
    const b = CpuEngine.estimateBytes(model, { height: 320, width: 5120 });
    assert.ok(b > 2 ** 30 && b > 10 * (a - 20 * 2 ** 20), `${a} ${b}`);
    assert.ok(GpuEngine.estimateBytes(model, { height: 320, width: 5120 }) > 2 ** 30);
  } finally {
    model.dispose();
  }
});

Deno.test("createEngine().run() refuses a shape whose engine is over maxEngineBytes, building nothing", async () => {
  const model = U2Net.create("lite");
  const square = CpuEngine.estimateBytes(model, { height: 32, width: 32 });
  const wide = CpuEngine.estimateBytes(model, { height: 32, width: 512 });
  const cap = Math.round((square + wide) / 2);
  const runner = createEngine(model, { engine: "cpu", maxEngineBytes: cap, inputSize: 32 });
  try {
    const err = await runner.run(new Float32Array(32 * 512 * 3), [1, 32, 512]).then(
      () => null,
      (e) => e as Error,
    );
    assert.ok(err instanceof EngineMemoryError && err instanceof RangeError, String(err));
    assert.equal(
      err.message,
      `Cannot build an engine for a 512x32 network input: current need is ~${
        formatBytes(wide)
      }, over the ${formatBytes(cap)} engine limit`,
    );
    assert.deepEqual([err.bytes, err.limit, err.height, err.width], [wide, cap, 32, 512]);
    assert.equal(runner.size, 0);
    assert.throws(() => runner.checkSize(32, 512), EngineMemoryError);
    // the predictor's own square size is always allowed, even over the cap
    const small = createEngine(model, { engine: "cpu", maxEngineBytes: 1000, inputSize: 32 });
    assert.equal((await small.run(new Float32Array(32 * 32 * 3), [1, 32, 32])).length, 1024);
    assert.throws(() => small.checkSize(32, 40), EngineMemoryError);
    small.dispose();
  } finally {
    runner.dispose();
    model.dispose();
  }
});

Deno.test("createEngine().run() drops the least recently used engines to stay under maxCacheBytes", async () => {
  const model = U2Net.create("lite");
  const one = CpuEngine.estimateBytes(model, { height: 32, width: 64 });
  // room for two engines of these sizes, not three
  const runner = createEngine(model, { engine: "cpu", maxCacheBytes: Math.round(2.5 * one) });
  try {
    const widths = [64, 72, 64, 80, 88, 64, 96];
    for (const w of widths) {
      await runner.run(new Float32Array(32 * w * 3), [1, 32, w]);
      assert.ok(runner.keptBytes <= 2.5 * one, `after ${w}: ${runner.keptBytes}`);
      assert.ok(runner.size <= 2);
    }
    // 64 was used often but least recently at the end: 96 and 64 are kept
    assert.equal(runner.size, 2);
  } finally {
    runner.dispose();
    model.dispose();
  }
});

Deno.test("createPredictor() refuses an extreme aspect ratio with EngineMemoryError when given maxEngineBytes", async () => {
  const model = U2Net.create("lite");
  const cap = CpuEngine.estimateBytes(model, { height: 32, width: 256 });
  const predictor = createPredictor(model, {
    engine: "cpu",
    inputSize: 32,
    resize: "shorter-side",
    maxEngineBytes: cap,
  });
  try {
    assert.equal(predictor.options.maxEngineBytes, cap);
    assert.doesNotThrow(() => predictor.checkSize!({ width: 200, height: 25 }));
    assert.throws(() => predictor.checkSize!({ width: 512, height: 32 }), EngineMemoryError);
    await assert.rejects(predictor.predict([image(512, 32)]), EngineMemoryError);
    const [p] = await predictor.predict([image(64, 32)]);
    assert.equal(p.data.length, 64 * 32);
    assert.equal(createPredictor(model).options.maxEngineBytes, DEFAULT_MAX_ENGINE_BYTES);
    assert.throws(() => createPredictor(model, { maxEngineBytes: 0 }), RangeError);
  } finally {
    predictor.dispose?.();
    model.dispose();
  }
});
