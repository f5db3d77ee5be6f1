import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { conv2d } from "../../../lib/engines/tfjs/ops.ts";
import { filterGradCalls, splitK } from "../../../lib/kernels/conv/conv_grad_webgpu.ts";
import { enterTuning, withTuning } from "../../../lib/kernels/webgpu.ts";
import { conv2dWebgpu, convFits } from "../../../lib/kernels/conv/conv_webgpu.ts";
import { webgpuOrSkip, withKernels } from "../../helpers.ts";

Deno.test("splitK() gives whole tiles of 16 pixels that cover K when split", () => {
  for (const [m, n, k] of [[27, 16, 1327104], [4608, 512, 1296], [576, 1, 2048], [9, 1, 5]]) {
    const [splits, chunk] = splitK(m, n, k);
    assertEquals(chunk % 16, 0);
    assert(splits >= 1 && splits * chunk >= k && (splits - 1) * chunk < k, `${m},${n},${k}`);
  }
  // Few output tiles and a long reduction: many splits, each at least minChunk.
  const [s] = splitK(27, 16, 1327104);
  assert(s > 100, `splits ${s}`);
});

Deno.test("filterGradCalls() picks the one-channel, vec4 or scalar program by channel counts", () => {
  const key = (x: number[], co: number, x2 = 0) =>
    filterGradCalls(x, co, 3, 3, 1, x2).gemm.spec.key;
  assertEquals(key([2, 9, 11, 64], 1), "u2netConvFilterGrad_one"); // side convs
  assertEquals(key([2, 9, 11, 64], 16), "u2netConvFilterGrad_v64ux16");
  assertEquals(key([2, 9, 11, 32], 64, 32), "u2netConvFilterGrad_v64ux64_cat");
  assertEquals(key([2, 9, 11, 3], 64), "u2netConvFilterGrad_64u"); // RGB input
  assertEquals(key([2, 9, 11, 3], 1), "u2netConvFilterGrad_16u"); // one channel, not from fours
});

/** Filter gradient of Σ r·conv2d(x, w, d) by the kernel (on) or per-tap products (off). */
async function filterGrad(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  r: tf.Tensor,
  d: number,
  fused: boolean,
): Promise<Float32Array> {
  const { result: g, kernels } = await withTuning(
    { convFilterGrad: fused },
    () =>
      withKernels(() =>
        tf.grad((v: tf.Tensor) => tf.sum(tf.mul(conv2d(x, v as tf.Tensor4D, d), r)))(w)
      ),
  );
  // the switch decides the path: our GEMM kernel, or the per-tap products
  assertEquals(kernels.includes("U2NetConvFilterGrad"), fused);
  const v = await g.data() as Float32Array;
  g.dispose();
  return v;
}

Deno.test("conv2d() filter gradient matches the per-tap products when fused on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const restore = enterTuning({ gradMinChunk: 32 }); // force several splits at test sizes
  const start = tf.memory().numTensors;
  try {
    // [x shape, output channels, dilation]: RGB input, one output channel (16 channels in),
    // output channels past one tile, a dilation wider than the map, odd sizes.
    const cases: [[number, number, number, number], number, number][] = [
      [[2, 9, 7, 3], 16, 1],
      [[1, 12, 12, 16], 1, 2],
      [[2, 10, 6, 20], 64, 4],
      [[1, 5, 6, 70], 33, 8],
      // vec4 kernel: channels in fours; maps narrower than a 16-pixel step.
      [[2, 9, 7, 4], 16, 1],
      [[1, 12, 12, 16], 20, 2],
      [[2, 3, 5, 8], 4, 8],
      [[1, 17, 3, 12], 36, 1],
      [[2, 11, 13, 32], 64, 2], // 288 rows: past one 128-row tile
      // to one channel from channels in fours (the side convs' own kernel), rows past one tile
      [[2, 9, 11, 64], 1, 1],
    ];
    // The vec4 kernel's tilings: 64 or 128 rows per tile, looped or unrolled.
    const variants = [[64, false], [128, false], [64, true], [128, true]] as const;
    for (const [shape, co, d] of cases) {
      const x = tf.randomNormal(shape, 0, 1, "float32", 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, shape[3], co], 0, 1, "float32", 2) as tf.Tensor4D;
      const r = tf.randomNormal([shape[0], shape[1], shape[2], co], 0, 1, "float32", 3);
      const taps = await filterGrad(x, w, r, d, false);
      // The unrolled shader sums in the looped one's order: the same bits.
      const looped = new Map<number, Float32Array>();
      // Every tiling on one case (each compiles for 5-11 s on a software adapter).
      const tilings = `${shape}` === "2,11,13,32" ? variants : [[64, false] as const];
      // The scalar kernel (the RGB case), looped and unrolled.
      const scalar = `${shape}` === "2,9,7,3"
        ? [[64, false], [64, true]] as const
        : [[64, false] as const];
      const quads = shape[3] % 4 === 0 && co % 4 === 0;
      for (const [rows, unrolled] of quads ? tilings : scalar) {
        const fused = await withTuning(
          { gradRows: rows, gradUnrolled: unrolled },
          () => filterGrad(x, w, r, d, true),
        );
        const again = await withTuning(
          { gradRows: rows, gradUnrolled: unrolled },
          () => filterGrad(x, w, r, d, true),
        );
        let diff = 0, scale = 0;
        for (let i = 0; i < taps.length; i++) {
          diff = Math.max(diff, Math.abs(fused[i] - taps[i]));
          scale = Math.max(scale, Math.abs(taps[i]));
        }
        const what = `${shape} → ${co}, d=${d}, rows ${rows}, unrolled ${unrolled}`;
        assert(diff <= 1e-5 * scale, `${what}: max |Δ| ${diff} of ${scale}`);
        assertEquals(again, fused, `${what}: the split-K sum is deterministic`);
        if (!unrolled) looped.set(rows, fused);
        if (unrolled) assertEquals(fused, looped.get(rows), `${what}: same bits as looped`);
      }
      tf.dispose([x, w, r]);
    }
  } finally {
    restore();
  }
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("conv2dWebgpu() matches tf.conv2d when channels are multiples of 4 or one on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  const cases: [[number, number, number, number], number, number, number][] = [
    [[2, 9, 7, 4], 16, 3, 1],
    [[1, 12, 12, 16], 20, 3, 2],
    [[2, 10, 6, 32], 64, 3, 4],
    [[1, 5, 6, 8], 4, 3, 8],
    [[1, 70, 3, 12], 36, 1, 1],
    // to and from one channel (side convs and their input gradients)
    [[2, 9, 7, 64], 1, 3, 1],
    [[1, 6, 5, 8], 1, 3, 2],
    [[2, 9, 7, 1], 64, 3, 1],
    [[1, 6, 5, 1], 12, 3, 4],
  ];
  for (const [shape, co, k, d] of cases) {
    assert(convFits(shape, [k, k, shape[3], co]));
    const x = tf.randomNormal(shape, 0, 1, "float32", 4) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, shape[3], co], 0, 1, "float32", 5) as tf.Tensor4D;
    const ours = conv2dWebgpu(x, w, d);
    const ref = tf.conv2d(x, w, 1, "same", "NHWC", d);
    assertEquals(ours.shape, ref.shape);
    const [a, b] = [await ours.data(), await ref.data()];
    let diff = 0, scale = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    assert(diff <= 1e-5 * scale, `${shape} → ${co}, k=${k}, d=${d}: max |Δ| ${diff} of ${scale}`);
    tf.dispose([x, w, ours, ref]);
  }
  assert(!convFits([1, 8, 8, 3], [3, 3, 3, 16]) && !convFits([1, 8, 8, 1], [3, 3, 1, 1]));
  assertEquals(tf.memory().numTensors, start);
});
