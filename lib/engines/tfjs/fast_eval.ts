/**
 * Faster eval-mode pieces for the CPU backends (tfjs-wasm and tfjs-cpu),
 * where the profile shows time outside the convolutions:
 *
 * - channel concat: tfjs-wasm's Concat copies one `subarray` per pixel in JS
 *   (10 ms for two 16-channel maps at 320², 25 ms for six 1-channel maps);
 *   {@linkcode concatChannels} is one flat copy loop;
 * - side convs (3x3, C→1): XNNPACK runs one output channel at ~1.5 GMAC/s;
 *   {@linkcode sideConv} runs a 1x1 conv to the 9 taps (C→9, ~7 GMAC/s) and
 *   sums the shifted taps (+ bias) in one pass;
 * - the fuse conv (1x1, 6→1) over a 6-channel concat: {@linkcode fuseSides}
 *   is one weighted sum of the six maps (+ bias), no concat;
 * - the RGB input conv (3 channels, ~0.4 GMAC/s in XNNPACK):
 *   {@linkcode convReluFewChannels} is im2col + a 1x1 conv.
 *
 * The kernels (`_fast_kernels.ts`) are registered under our own names for
 * `wasm` and `cpu` (no built-in kernel is replaced) and have no gradients:
 * train mode, and any forward under `tf.grad`, keep the regular ops. Results
 * differ from the regular path by float32 summation order only.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import { ensureFastKernels, FAST_KERNELS } from "./_fast_kernels.ts";

/** Backends whose eval forward uses these kernels. */
export const FAST_EVAL_BACKENDS: readonly string[] = ["wasm", "cpu"];

/** Switch for A/B timing (`bench/forward_bench.ts --no-fast`); on by default. */
export const fastEvalSettings: { enabled: boolean } = { enabled: true };

const { concat: CONCAT, taps: TAPS, fuse: FUSE, im2col: IM2COL } = FAST_KERNELS;

/**
 * True when the active backend runs the fast eval kernels and no gradient is
 * being recorded (the kernels have none: `tf.grad` of an eval forward keeps
 * the regular ops).
 *
 * @example
 * ```ts
 * import { fastEvalActive } from "./fast_eval.ts";
 * fastEvalActive(); // true on wasm and cpu outside tf.grad
 * ```
 */
export function fastEvalActive(): boolean {
  const name = tf.getBackend();
  if (!fastEvalSettings.enabled || !FAST_EVAL_BACKENDS.includes(name)) return false;
  // tfjs' engine state is not in its public types; gradientDepth > 0 inside tf.grad & co.
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  if (state.gradientDepth > 0) return false;
  ensureFastKernels(name);
  return true;
}

function run(kernel: string, inputs: tf.NamedTensorMap): tf.Tensor4D {
  return tf.engine().runKernel(kernel, inputs) as tf.Tensor4D;
}

/**
 * Float32 NHWC channel concat (`tf.concat(xs, 3)`) as one copy loop.
 * Call only when {@linkcode fastEvalActive} is true.
 *
 * @example
 * ```ts ignore
 * const y = concatChannels([a, b]); // [N,H,W,Ca+Cb]
 * ```
 */
export function concatChannels(xs: readonly tf.Tensor4D[]): tf.Tensor4D {
  return run(CONCAT, Object.fromEntries(xs.map((x, i) => [String(i), x])));
}

/**
 * A 3x3, padding-1 conv with one output channel plus bias: a 1x1 conv to the
 * nine taps, then one pass summing the shifted taps.
 *
 * @example
 * ```ts ignore
 * const s = sideConv(features, sideWeight, sideBias); // [N,H,W,1]
 * ```
 */
export function sideConv(x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const c = w.shape[2];
    // HWIO [3,3,C,1] -> [1,1,C,9] with tap index ky*3+kx.
    const w9 = tf.reshape(tf.transpose(tf.reshape(w, [9, c])), [1, 1, c, 9]) as tf.Tensor4D;
    const z = tf.conv2d(x, w9, 1, "valid");
    return run(TAPS, { z, bias });
  });
}

/**
 * The fuse conv (1x1, K→1, bias) over the side maps, without concatenating them.
 *
 * @example
 * ```ts ignore
 * const fused = fuseSides(sides, outConvWeight, outConvBias); // [N,H,W,1]
 * ```
 */
export function fuseSides(
  sides: readonly tf.Tensor4D[],
  w: tf.Tensor,
  bias: tf.Tensor,
): tf.Tensor4D {
  return run(FUSE, { ...Object.fromEntries(sides.map((s, i) => [String(i), s])), weight: w, bias });
}

/**
 * Conv 3x3 (padding 1) + bias + ReLU for inputs with few channels (the RGB
 * input): XNNPACK runs 3-channel inputs at ~0.4 GMAC/s, so the nine taps are
 * gathered (im2col, [N,H,W,9C]) and multiplied by the kernel as a 1x1 conv.
 *
 * @example
 * ```ts ignore
 * const y = convReluFewChannels(rgb, weight, bias); // [N,H,W,O]
 * ```
 */
export function convReluFewChannels(x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, o] = w.shape;
    // HWIO flattens (ky, kx, c) in the order im2col writes them.
    const filter = tf.reshape(w, [1, 1, kh * kw * c, o]) as tf.Tensor4D;
    const cols = run(IM2COL, { x });
    return tf.fused.conv2d({ x: cols, filter, bias, strides: 1, pad: "valid", activation: "relu" });
  });
}

/** Input channels up to which {@linkcode convReluFewChannels} replaces the direct conv. */
export const FEW_CHANNELS = 4;
