/**
 * The network's primitive ops with PyTorch semantics and full gradients.
 *
 * tfjs refuses dilation > 1 in its conv gradient and ignores half-pixel
 * centers in its resize gradient; both are worked around here exactly.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import { CONV_GRAD_KERNELS, ensureConvGradKernels } from "../../kernels/conv/conv_grad_webgpu.ts";
import { conv2dWebgpu, convFits } from "../../kernels/conv/conv_webgpu.ts";
import { currentTuning, onWebgpu } from "../../kernels/webgpu.ts";
import { flipFilterWebgpu, resizeBilinearGradWebgpu } from "../../kernels/resize/resize_webgpu.ts";

type SaveFn = (tensors: tf.Tensor[]) => void;

import { BN_EPS } from "../../net/config.ts";
import { bilinearTaps } from "../../net/bilinear_taps.ts";
import type { BatchStats } from "../../kernels/bn/bn_webgpu.ts";
export { BN_EPS, BN_MOMENTUM } from "../../net/config.ts";

/**
 * Filter gradient of a stride-1 "same" conv:
 * dW[ky,kx,ci,co] = Σ_{b,y,x} xpad[b, y+ky·d, x+kx·d, ci] · dy[b,y,x,co].
 *
 * On WebGPU: one implicit-GEMM kernel for all taps (`conv_grad_webgpu.ts`;
 * one matrix product per tap when that kernel is switched off). Elsewhere (cpu, wasm): one conv of
 * the padded input with input channels as the batch and the batch as the
 * channels, dy as the filter and stride d (20-30x faster on cpu than the
 * per-tap slices, which tfjs copies element by element).
 */
function convFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  kernel: readonly number[],
  dilation: number,
): tf.Tensor4D {
  const [kh, kw, ci, co] = kernel;
  const [b, h, w] = x.shape;
  if (onWebgpu() && currentTuning().convFilterGrad) {
    ensureConvGradKernels();
    const attrs = { kh, kw, dilation };
    return tf.engine().runKernel(CONV_GRAD_KERNELS.filterGrad, { x, dy }, attrs) as tf.Tensor4D;
  }
  const ph = ((kh - 1) / 2) * dilation;
  const pw = ((kw - 1) / 2) * dilation;
  const xp = ph || pw ? tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]]) : x;
  if (tf.getBackend() !== "webgpu") {
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, Hp, Wp, b]
    const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [h, w, b, co]
    const g = tf.conv2d(xT, f, dilation, "valid"); // [ci, kh, kw, co]
    return tf.transpose(g, [1, 2, 0, 3]);
  }
  const dy2 = tf.reshape(dy, [b * h * w, co]) as tf.Tensor2D;
  const taps: tf.Tensor2D[] = [];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const patch = tf.slice(xp, [0, ky * dilation, kx * dilation, 0], [b, h, w, ci]);
      taps.push(tf.matMul(tf.reshape(patch, [b * h * w, ci]) as tf.Tensor2D, dy2, true, false));
    }
  }
  return tf.reshape(tf.stack(taps), [kh, kw, ci, co]) as tf.Tensor4D;
}

/**
 * Input gradient of a stride-1 "same" conv: the same conv of dy with the
 * kernel flipped in space and transposed in channels.
 */
function convInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, dilation: number): tf.Tensor4D {
  const flipped = onWebgpu() && currentTuning().flipFilter
    ? flipFilterWebgpu(w)
    : tf.transpose(flipTaps(w), [0, 1, 3, 2]) as tf.Tensor4D;
  return sameConv(dy, flipped, dilation);
}

/**
 * `tf.reverse(w, [0, 1])` as the kh·kw rows of `w` in reverse order: the same
 * values, but row copies (tfjs-cpu's Reverse visits every element through
 * index arithmetic: a sixth of a training step there).
 */
function flipTaps(w: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, ci, co] = w.shape;
  if (kh * kw === 1) return w;
  const rows = tf.reshape(w, [kh * kw, ci * co]);
  const flipped = Array.from(
    { length: kh * kw },
    (_, i) => tf.slice(rows, [kh * kw - 1 - i, 0], [1, ci * co]),
  );
  return tf.reshape(tf.concat(flipped, 0), [kh, kw, ci, co]) as tf.Tensor4D;
}

/** Stride-1 "same" conv: our vec4 kernel on webgpu where it fits, else tf.conv2d. */
function sameConv(x: tf.Tensor4D, w: tf.Tensor4D, dilation: number): tf.Tensor4D {
  if (onWebgpu() && currentTuning().conv && convFits(x.shape, w.shape)) {
    return conv2dWebgpu(x, w, dilation);
  }
  return tf.conv2d(x, w, 1, "same", "NHWC", dilation);
}

/**
 * Convolution, stride 1, padding = dilation·(k−1)/2 (spatial size kept), as
 * PyTorch's `Conv2d(k, padding=dilation)`. The gradient is ours: tfjs
 * refuses dilation > 1 in its conv gradient, and its cpu filter gradient is
 * a slow element loop; matrix products give the same sums.
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, dilation: number): tf.Tensor4D {
  // Inputs go through `save`: tfjs keeps saved tensors alive for the backward
  // pass even when the forward ran inside a tidy.
  const op = tf.customGrad(
    ((input: tf.Tensor4D, filter: tf.Tensor4D, save: SaveFn) => {
      save([input, filter]);
      return {
        value: sameConv(input, filter, dilation),
        gradFunc: (dy: tf.Tensor4D, [xs, ws]: tf.Tensor4D[]) => [
          convInputGrad(dy, ws, dilation),
          convFilterGrad(xs, dy, ws.shape, dilation),
        ],
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op(x, w) as tf.Tensor4D;
}

/** Max pool 2x2 stride 2 with PyTorch's `ceil_mode=True` (odd edges pool what is there). */
export function maxPoolCeil(x: tf.Tensor4D): tf.Tensor4D {
  // "same" pads only at the bottom/right with -inf for an odd size, which is ceil mode.
  return tf.maxPool(x, 2, 2, "same");
}

/**
 * The 1-D interpolation matrix [outSize, inSize] of PyTorch's bilinear
 * resize with `align_corners=False`, in float32 arithmetic.
 */
export function bilinearMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  bilinearTaps(inSize, outSize).forEach(([i0, i1, w0, w1], o) => {
    m[o * inSize + i0] += w0;
    m[o * inSize + i1] += w1;
  });
  return m;
}

function transposeMatrix(m: Float32Array, rows: number, cols: number): tf.Tensor2D {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return tf.tensor2d(t, [cols, rows]);
}

/**
 * Adjoint of the bilinear resize: dX = Ahᵀ · dY · Aw, done as two matrix
 * products; on WebGPU as one gather kernel with the same weights.
 */
function resizeBilinearBackward(dy: tf.Tensor4D, inH: number, inW: number): tf.Tensor4D {
  if (onWebgpu() && currentTuning().resizeGrad) return resizeBilinearGradWebgpu(dy, inH, inW);
  const [b, oh, ow, c] = dy.shape;
  const ahT = transposeMatrix(bilinearMatrix(inH, oh), oh, inH); // [inH, oh]
  const awT = transposeMatrix(bilinearMatrix(inW, ow), ow, inW); // [inW, ow]
  let t: tf.Tensor = tf.reshape(tf.transpose(dy, [1, 0, 2, 3]), [oh, b * ow * c]);
  t = tf.reshape(tf.matMul(ahT, t as tf.Tensor2D), [inH, b, ow, c]);
  t = tf.reshape(tf.transpose(t, [2, 1, 0, 3]), [ow, inH * b * c]);
  t = tf.reshape(tf.matMul(awT, t as tf.Tensor2D), [inW, b, inH, c]);
  return tf.transpose(t, [1, 2, 0, 3]) as tf.Tensor4D;
}

/**
 * Bilinear resize with PyTorch's `align_corners=False` (half-pixel) semantics
 * to an exact size, no antialias, with a correct gradient. Same size is the
 * identity, as in PyTorch.
 */
export function resizeBilinear(x: tf.Tensor4D, size: readonly [number, number]): tf.Tensor4D {
  const [, inH, inW] = x.shape;
  const [outH, outW] = size;
  if (inH === outH && inW === outW) return x;
  const op = tf.customGrad(
    ((input: tf.Tensor4D) => ({
      value: tf.image.resizeBilinear(input, [outH, outW], false, true),
      gradFunc: (dy: tf.Tensor4D) => resizeBilinearBackward(dy, inH, inW),
    })) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op(x) as tf.Tensor4D;
}

export type { BatchStats };

/**
 * BatchNorm in train mode: normalise with the batch mean and biased variance
 * over (N, H, W); returns the output and the stats for the running update.
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): { y: tf.Tensor4D; stats: BatchStats } {
  // Two passes for the mean: float32 sums of large same-signed values lose
  // digits that 1/std then amplifies; the correction pass sums values near 0.
  const rough = tf.mean(x, [0, 1, 2]);
  const mean = tf.add(rough, tf.mean(tf.sub(x, rough), [0, 1, 2]));
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), [0, 1, 2]);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, BN_EPS)));
  const y = tf.add(tf.mul(centered, scale), beta) as tf.Tensor4D;
  // The stats feed only the running-stat update, never the loss.
  const varUnbiased = tf.mul(variance, n / Math.max(n - 1, 1)) as tf.Tensor1D;
  return { y, stats: { mean: mean as tf.Tensor1D, varUnbiased } };
}

/** BatchNorm in eval mode with running statistics. */
export function batchNormEval(
  x: tf.Tensor4D,
  runningMean: tf.Tensor1D,
  runningVar: tf.Tensor1D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): tf.Tensor4D {
  return tf.batchNorm(x, runningMean, runningVar, beta, gamma, BN_EPS);
}
