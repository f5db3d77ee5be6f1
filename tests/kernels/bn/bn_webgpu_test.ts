import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { batchNormTrain } from "../../../lib/engines/tfjs/ops.ts";
import { batchNormReluTrainWebgpu } from "../../../lib/kernels/bn/bn_webgpu.ts";
import { MAX_PARTIAL_GROUPS, partialPlan } from "../../../lib/kernels/bn/bn_webgpu_kernels.ts";
import { maxAbs, maxAbsDiff, webgpuOrSkip } from "../../helpers.ts";

type Shape4 = [number, number, number, number];
type BnRelu = (x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D) => {
  y: tf.Tensor4D;
  stats: { mean: tf.Tensor1D; varUnbiased: tf.Tensor1D };
};

const tfOpPath: BnRelu = (x, gamma, beta) => {
  const { y, stats } = batchNormTrain(x, gamma, beta);
  return { y: tf.relu(y), stats };
};

/** y, mean, varUnbiased and the gradients of sum(y·w) w.r.t. x, gamma, beta. */
async function evaluate(
  layer: BnRelu,
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  w: tf.Tensor4D,
): Promise<Float32Array[]> {
  const out = tf.tidy(() => {
    const { y, stats } = layer(x, gamma, beta);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(layer(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y, w));
    return [y, stats.mean, stats.varUnbiased, ...tf.grads(f)([x, gamma, beta])];
  });
  try {
    return await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
  } finally {
    tf.dispose(out);
  }
}

Deno.test("partialPlan() covers every row with at most MAX_PARTIAL_GROUPS workgroups when R is large", () => {
  for (const [rows, channels] of [[16 * 288 * 288, 64], [16 * 18 * 18, 512], [1, 1], [3200, 16]]) {
    const p = partialPlan(rows, channels);
    assert(p.tiles * p.parts <= MAX_PARTIAL_GROUPS, `${rows}x${channels}: ${JSON.stringify(p)}`);
    assert(p.chunk * p.parts >= rows && p.chunk * (p.parts - 1) < rows);
    assert(p.cw * p.tiles >= channels);
  }
  assert(partialPlan(16 * 288 * 288, 64).parts >= 256, "large R gets hundreds of workgroups");
  assert(partialPlan(2 * 40 * 40, 16).parts > 1, "the test shape [2,40,40,16] has P > 1");
  assert(partialPlan(4 * 64 * 64, 32).parts > 64, "the test shape [4,64,64,32] has P > 64");
});

Deno.test("batchNormReluTrainWebgpu() matches the tf-op path when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  // [4,64,64,32]: large R, P = 128 chunks merged per channel.
  const shapes: Shape4[] = [
    [2, 5, 7, 1],
    [1, 3, 5, 3],
    [2, 40, 40, 16],
    [2, 4, 4, 100],
    [4, 64, 64, 32],
  ];
  const names = ["y", "mean", "varUnbiased", "dx", "dgamma", "dbeta"];
  for (const [i, shape] of shapes.entries()) {
    await t.step(`shape [${shape}]`, async () => {
      const start = tf.memory().numTensors;
      const c = shape[3];
      // An offset mean makes the two-pass statistics matter.
      const x = tf.tidy(() => tf.add(tf.randomNormal(shape, 0, 2, "float32", 10 + i), 5));
      const gamma = tf.randomUniform([c], 0.5, 1.5, "float32", 20 + i) as tf.Tensor1D;
      const beta = tf.randomUniform([c], -0.5, 0.5, "float32", 30 + i) as tf.Tensor1D;
      const w = tf.randomNormal(shape, 0, 1, "float32", 40 + i) as tf.Tensor4D;
      const args = [x as tf.Tensor4D, gamma, beta, w] as const;
      const want = await evaluate(tfOpPath, ...args);
      const got = await evaluate(batchNormReluTrainWebgpu, ...args);
      tf.dispose([x, gamma, beta, w]);
      const diffs = names.map((name, k) => {
        const diff = maxAbsDiff(got[k], want[k]);
        assert(diff <= 1e-5 * Math.max(1, maxAbs(want[k])), `${name}: max diff ${diff}`);
        return `${name} ${diff.toExponential(1)}`;
      });
      console.log(`[${shape}] max |diff|: ${diffs.join(", ")}`);
      assertEquals(tf.memory().numTensors, start);
    });
  }
});

Deno.test("batchNormReluTrainWebgpu() packs mean and unbiased variance as [2, C] when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const x = tf.tensor4d([1, 10, 2, 20, 3, 30, 6, 40], [1, 2, 2, 2]);
  const out = tf.tidy(() => {
    const { y, stats } = batchNormReluTrainWebgpu(x, tf.ones([2]), tf.zeros([2]));
    return [y, stats.packed, stats.mean, stats.varUnbiased];
  });
  const [packed, mean, vu] = await Promise.all(out.slice(1).map((t) => t.data()));
  assertEquals(out[1].shape, [2, 2]);
  const want = [3, 25, 14 / 3, 500 / 3]; // mean (3, 25), unbiased var (14/3, 500/3)
  assert(maxAbsDiff(packed, want) <= 1e-4, `packed ${packed}`);
  assert(maxAbsDiff([...mean, ...vu], want) <= 1e-4, `mean ${mean}, varUnbiased ${vu}`);
  tf.dispose([x, ...out]);
  assertEquals(tf.memory().numTensors, start);
});
