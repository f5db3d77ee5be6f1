import assert from "node:assert/strict";
import {
  AMP_ADAMW_WGSL,
  ampAdamWUniform,
  ampStart,
  MAX_LOSS_SCALE,
  readAmpState,
} from "../../../lib/kernels/adamw/adamw_amp_wgsl.ts";

Deno.test("ampStart() rounds the scale down to a power of two and keeps the step count when read back", () => {
  assert.deepEqual(readAmpState(ampStart(65536, 7)), {
    scale: 65536,
    goodSteps: 0,
    step: 7,
    skipped: 0,
  });
  assert.equal(readAmpState(ampStart(1000, 0)).scale, 512);
  assert.equal(readAmpState(ampStart(0.3, 0)).scale, 0.25);
  assert.equal(readAmpState(ampStart(2 ** 120, 0)).scale, MAX_LOSS_SCALE);
  for (const bad of [0, -1, Infinity, NaN]) assert.throws(() => ampStart(bad, 0), RangeError);
});

Deno.test("ampAdamWUniform() packs the count and f32 hyper-parameters in the shader's order", () => {
  const bytes = ampAdamWUniform(10, {
    lr: 1e-3,
    weightDecay: 1e-4,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
  });
  assert.equal(new Uint32Array(bytes, 0, 1)[0], 10);
  const f = new Float32Array(bytes, 4, 7);
  assert.deepEqual(
    [...f],
    [0.9, 1 - 0.9, 0.999, 1 - 0.999, 1 - 1e-3 * 1e-4, 1e-3, 1e-8].map(Math.fround),
  );
  // The struct's fields are in that order too.
  const fields = /struct Uniforms \{([^}]*)\}/.exec(AMP_ADAMW_WGSL)![1];
  const names = [...fields.matchAll(/(\w+) :/g)].map((m) => m[1]);
  assert.deepEqual(names, [
    "count",
    "beta1",
    "oneMinusBeta1",
    "beta2",
    "oneMinusBeta2",
    "decay",
    "lr",
    "eps",
  ]);
});
