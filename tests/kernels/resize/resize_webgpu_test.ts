import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { conv2d, resizeBilinear } from "../../../lib/engines/tfjs/ops.ts";
import { flipFilterWebgpu } from "../../../lib/kernels/resize/resize_webgpu.ts";
import { withTuning } from "../../../lib/kernels/webgpu.ts";
import { maxAbs, maxAbsDiff, webgpuOrSkip, withKernels } from "../../helpers.ts";

/** Gradient of Σ resizeBilinear(x)·gy with the WebGPU kernels on or off. */
async function gradient(
  x: tf.Tensor4D,
  size: [number, number],
  gy: tf.Tensor,
  kernel: boolean,
): Promise<Float32Array> {
  const { result: g, kernels } = await withTuning(
    { resizeGrad: kernel },
    () =>
      withKernels(() =>
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(resizeBilinear(a as tf.Tensor4D, size), gy)))(x)
      ),
  );
  // the switch decides the path: our gather kernel, or the matrix products
  assertEquals(kernels.includes("U2NetResizeBilinearGrad"), kernel);
  const out = await g.data() as Float32Array;
  g.dispose();
  return out;
}

Deno.test("resizeBilinear() gradient matches the matrix path when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  // [batch, inH, inW, channels] → [outH, outW]: up, down, odd, extreme factors.
  const cases: [[number, number, number, number], [number, number]][] = [
    [[1, 9, 9, 1], [18, 18]],
    [[2, 5, 5, 5], [10, 10]],
    [[2, 18, 18, 1], [9, 9]],
    [[1, 7, 7, 5], [32, 32]],
    [[1, 75, 61, 1], [19, 16]],
    [[1, 19, 16, 2], [75, 61]],
    [[2, 3, 3, 5], [1, 1]],
    [[1, 1, 1, 3], [4, 4]],
    [[1, 2, 3, 1], [64, 96]],
    [[1, 3, 5, 2], [7, 2]],
    [[1, 4, 6, 1], [4, 13]],
  ];
  let worst = 0;
  for (const [shape, size] of cases) {
    const x = tf.randomNormal(shape, 0, 1, "float32", 1) as tf.Tensor4D;
    const gy = tf.randomNormal([shape[0], ...size, shape[3]], 0, 1, "float32", 2);
    const fast = await gradient(x, size, gy, true);
    const matrix = await gradient(x, size, gy, false);
    const rel = maxAbsDiff(fast, matrix) / Math.max(maxAbs(matrix), 1e-30);
    worst = Math.max(worst, rel);
    assert(rel < 1e-6, `${shape} → ${size}: relative difference ${rel}`);
    tf.dispose([x, gy]);
  }
  assert(worst < 1e-6);
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("flipFilterWebgpu() equals reverse + transpose exactly when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const shapes: [number, number, number, number][] = [[3, 3, 4, 5], [1, 1, 3, 2], [3, 3, 1, 1], [
    3,
    2,
    6,
    3,
  ]];
  for (const shape of shapes) {
    const w = tf.randomNormal(shape, 0, 1, "float32", 3) as tf.Tensor4D;
    const fast = flipFilterWebgpu(w);
    const ref = tf.tidy(() => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]));
    assertEquals(fast.shape, ref.shape);
    assertEquals(await fast.data(), await ref.data());
    tf.dispose([w, fast, ref]);
  }
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("conv2d() input gradient is unchanged by the flip kernel when on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const x = tf.randomNormal([2, 6, 5, 3], 0, 1, "float32", 4) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 5) as tf.Tensor4D;
  const gy = tf.randomNormal([2, 6, 5, 4], 0, 1, "float32", 6);
  const inputGrad = async (kernel: boolean, d: number) => {
    const g = withTuning(
      { flipFilter: kernel },
      () => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(conv2d(a as tf.Tensor4D, w, d), gy)))(x),
    );
    const out = await g.data();
    g.dispose();
    return out;
  };
  for (const d of [1, 2]) {
    assertEquals(await inputGrad(true, d), await inputGrad(false, d), `dilation ${d}`);
  }
  tf.dispose([x, w, gy]);
  assertEquals(tf.memory().numTensors, start);
});
