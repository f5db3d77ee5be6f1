/**
 * The fused WebGPU criterion (`lib/kernels/loss/loss_webgpu.ts`) against the tf-op
 * path it replaces, and against the PyTorch fixtures, on WebGPU.
 *
 * @module
 */
import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { withTuning } from "../../../lib/kernels/webgpu.ts";
import { criterion } from "../../../lib/train/loss.ts";
import { maxAbs, maxAbsDiff, testdata, webgpuOrSkip, withKernels } from "../../helpers.ts";

const REL_TOL = 1e-6;

interface CriterionCase {
  inputs: number[][];
  shape: number[];
  target: number[];
  loss: number;
}

/** Loss and gradients w.r.t. every map, with the fused kernels on or off. */
async function lossAndGrads(
  maps: tf.Tensor4D[],
  target: tf.Tensor4D,
  fused: boolean,
): Promise<{ loss: number; grads: Float32Array[] }> {
  const { result, kernels } = await withTuning(
    { criterion: fused },
    () => withKernels(() => tf.valueAndGrads((...xs: tf.Tensor[]) => criterion(xs, target))(maps)),
  );
  const { value, grads } = result;
  // the switch decides the path: our BCE kernels, or the tf-op form
  assert(kernels.includes("U2NetBceWithLogits") === fused, `fused ${fused}: ${kernels}`);
  try {
    const loss = (await value.data())[0];
    return {
      loss,
      grads: await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>)),
    };
  } finally {
    tf.dispose([value, ...grads]);
  }
}

function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

/** Logits with large values (±100, ±30) mixed into N(0, 3²); soft targets. */
function randomCase(seed: number, shape: [number, number, number, number]) {
  const n = shape.reduce((a, b) => a * b, 1);
  const big = [100, -100, 30, -30];
  const maps = Array.from({ length: 7 }, (_, k) =>
    tf.tidy(() => {
      const noise = tf.mul(tf.randomNormal(shape, 0, 1, "float32", seed + k), 3);
      const data = Float32Array.from({ length: n }, (_, i) => i % 5 === k % 5 ? big[i % 4] : 0);
      return tf.add(noise, tf.tensor4d(data, shape)) as tf.Tensor4D;
    }));
  const target = tf.randomUniform(shape, 0, 1, "float32", seed + 100) as tf.Tensor4D;
  return { maps, target };
}

/** The analytic gradient (σ(x) − y)/n in float64. */
function analytic(x: Float32Array, y: Float32Array): Float64Array {
  const sig = (v: number) => v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
  return Float64Array.from(x, (v, i) => (sig(v) - y[i]) / x.length);
}

Deno.test("criterion() matches the tf-op path on webgpu when given large logits", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  for (const [seed, shape] of [[1, [2, 8, 8, 1]], [7, [1, 16, 12, 1]]] as const) {
    const { maps, target } = randomCase(seed, [...shape]);
    const fused = await lossAndGrads(maps, target, true);
    const ref = await lossAndGrads(maps, target, false);
    assert(relDiff(fused.loss, ref.loss) <= REL_TOL, `loss ${fused.loss} vs ${ref.loss}`);
    const y = await target.data() as Float32Array;
    for (const [k, g] of fused.grads.entries()) {
      const rel = maxAbsDiff(g, ref.grads[k]) / maxAbs(ref.grads[k]);
      assert(rel <= REL_TOL, `map ${k}: gradient relative difference ${rel}`);
      const exact = analytic(await maps[k].data() as Float32Array, y);
      const err = maxAbsDiff(g, exact) / maxAbs(exact);
      assert(err <= REL_TOL, `map ${k}: gradient vs analytic ${err}`);
    }
    tf.dispose([...maps, target]);
  }
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("criterion() matches the tf-op path on webgpu when the target is a cast mask", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  // tf.cast(bool → float32) keeps the bool (i32) buffer on webgpu.
  const shape: [number, number, number, number] = [2, 8, 8, 1];
  const { maps, target: soft } = randomCase(11, shape);
  soft.dispose();
  const target = tf.tidy(() =>
    tf.cast(tf.greater(tf.randomUniform(shape, 0, 1, "float32", 5), 0.5), "float32")
  ) as tf.Tensor4D;
  const fused = await lossAndGrads(maps, target, true);
  const ref = await lossAndGrads(maps, target, false);
  assert(relDiff(fused.loss, ref.loss) <= REL_TOL, `loss ${fused.loss} vs ${ref.loss}`);
  fused.grads.forEach((g, k) => {
    const rel = maxAbsDiff(g, ref.grads[k]) / maxAbs(ref.grads[k]);
    assert(rel <= REL_TOL, `map ${k}: gradient relative difference ${rel}`);
  });
  tf.dispose([...maps, target]);
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("criterion() matches criterion.json and §10 on webgpu when fused", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const fixture: { cases: CriterionCase[] } = JSON.parse(
    await Deno.readTextFile(testdata("criterion.json")),
  );
  const cases = fixture.cases.map((c) => {
    const [b, , h, w] = c.shape; // NCHW [B,1,H,W] has NHWC [B,H,W,1]'s element order
    return { ...c, shape: [b, h, w, 1] };
  });
  cases.push({
    inputs: [-1, 0, 1, 2, -2, 0.5, 3].map((v) => [v, v, v, v]),
    shape: [1, 2, 2, 1],
    target: [0, 1, 1, 0.5],
    loss: 6.4086909,
  });
  for (const [i, c] of cases.entries()) {
    const shape = c.shape as [number, number, number, number];
    const target = tf.tensor4d(c.target, shape);
    const maps = c.inputs.map((d) => tf.tensor4d(d, shape));
    const fused = await lossAndGrads(maps, target, true);
    const ref = await lossAndGrads(maps, target, false);
    assert(relDiff(fused.loss, c.loss) <= 1e-5, `case ${i}: ${fused.loss} vs ${c.loss}`);
    assert(relDiff(fused.loss, ref.loss) <= REL_TOL, `case ${i}: ${fused.loss} vs ${ref.loss}`);
    fused.grads.forEach((g, k) => {
      const rel = maxAbsDiff(g, ref.grads[k]) / maxAbs(ref.grads[k]);
      assert(rel <= REL_TOL, `case ${i} map ${k}: gradient relative difference ${rel}`);
    });
    tf.dispose([target, ...maps]);
  }
  assertEquals(tf.memory().numTensors, start);
});
