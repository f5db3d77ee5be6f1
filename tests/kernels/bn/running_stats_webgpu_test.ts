/**
 * The fused running-stat update (`lib/kernels/bn/running_stats_webgpu.ts`) against
 * the tf-op path it replaces on WebGPU.
 *
 * @module
 */
import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { runningStatWebgpu } from "../../../lib/kernels/bn/running_stats_webgpu.ts";
import { withTuning } from "../../../lib/kernels/webgpu.ts";
import { maxAbs, maxAbsDiff, webgpuOrSkip, withKernels } from "../../helpers.ts";

// Two float32 roundings of the largest value: r·0.9 + s·0.1 rounds once more
// or less where a GPU fuses the multiply-add (1.06e-7 measured on an H200).
const REL_TOL = 2.5e-7;

/** Running buffers (`…running_mean`, `…running_var`) after two train-mode forwards. */
async function runningStats(fused: boolean): Promise<Map<string, Float32Array>> {
  const model = U2Net.create("lite", { seed: 3 }).train();
  try {
    for (const seed of [1, 2]) {
      const x = tf.randomUniform([2, 32, 32, 3], -1, 1, "float32", seed) as tf.Tensor4D;
      const { result, kernels } = await withTuning(
        { runningStats: fused },
        () => withKernels(() => model.forward(x)),
      );
      // the switch decides the path: our update kernel, or tf ops
      assertEquals(kernels.includes("U2NetRunningStat"), fused);
      tf.dispose([x, ...result]);
    }
    const out = new Map<string, Float32Array>();
    for (const [key, raw] of await model.stateDict()) {
      if (/running_(mean|var)$/.test(key)) out.set(key, raw.data as Float32Array);
    }
    return out;
  } finally {
    model.dispose();
  }
}

Deno.test("forward() updates running stats like the tf-op path when the kernel is on", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const fused = await runningStats(true);
  const reference = await runningStats(false);
  assertEquals(fused.size, reference.size);
  assert(fused.size > 0, "no running buffers found");
  let worst = 0;
  for (const [key, ref] of reference) {
    const got = fused.get(key)!;
    const rel = maxAbsDiff(got, ref) / Math.max(maxAbs(ref), 1e-30);
    worst = Math.max(worst, rel);
    assert(rel <= REL_TOL, `${key}: relative difference ${rel}`);
  }
  console.log(`running stats: ${reference.size} buffers, max relative difference ${worst}`);
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("runningStatWebgpu() computes r·0.9 + s·0.1 when given small buffers", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const r = tf.tensor1d([0, 1, -2.5, 1e-3, 7]);
  const s = tf.tensor1d([1, 1, 3, -4e-3, 0.25]);
  const out = runningStatWebgpu(r, s, 0.1);
  const want = tf.tidy(() => tf.add(tf.mul(r, 0.9), tf.mul(s, 0.1)));
  const [got, ref] = [await out.data(), await want.data()];
  assert(maxAbsDiff(got, ref) <= REL_TOL * maxAbs(ref), `${got} vs ${ref}`);
  const bad = tf.zeros([3]);
  assertThrows(() => runningStatWebgpu(r, bad, 0.1), RangeError, "Cannot update running stat");
  // Packed [2, C] statistics, read in place at row 1.
  const packed = tf.tidy(() => tf.stack([tf.zeros([5]), s]));
  const fromRow = runningStatWebgpu(r, packed, 0.1, 1);
  assert(maxAbsDiff(await fromRow.data(), ref) <= REL_TOL * maxAbs(ref), "packed row 1");
  assertThrows(() => runningStatWebgpu(r, packed, 0.1, 2), RangeError, "(row 2)");
  assertThrows(() => runningStatWebgpu(r, s, 0.1, 0), RangeError, "Cannot update running stat");
  tf.dispose([r, s, out, want, bad, packed, fromRow]);
  assertEquals(tf.memory().numTensors, start);
});
