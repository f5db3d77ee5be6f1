/**
 * The training loss: binary cross-entropy with logits, summed over U²-Net's
 * seven logit maps (the seed's `criterion`, spec §2).
 *
 * @module
 */
import { tf } from "../deps.ts";
import { currentTuning, onWebgpu } from "../kernels/webgpu.ts";
import { meanBceWithLogitsWebgpu } from "../kernels/loss/loss_webgpu.ts";

/**
 * Elementwise binary cross-entropy with logits, in PyTorch 1.13's stable form
 * `(1 − y)·x + m + log(exp(−m) + exp(−x − m))` with `m = max(−x, 0)`.
 *
 * Finite and exact for large logits (±100); differentiable with `tf.grads`.
 * `x` and `y` broadcast like any tfjs binary op; `y` may be soft (in [0, 1]).
 *
 * @param x Logits.
 * @param y Targets, same shape as `x` (or broadcastable).
 * @returns The per-element loss, shaped like `x` (after broadcasting).
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { bceWithLogits } from "./loss.ts";
 * const l = bceWithLogits(tf.tensor1d([-3, 0, 2.5]), tf.tensor1d([0, 0.5, 1]));
 * console.log(await l.data()); // ≈ [0.0485873, 0.6931472, 0.0788897]
 * ```
 */
export function bceWithLogits(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const m = tf.relu(tf.neg(x));
    const linear = tf.mul(tf.sub(tf.scalar(1), y), x);
    const logTerm = tf.log(tf.add(tf.exp(tf.neg(m)), tf.exp(tf.sub(tf.neg(x), m))));
    return tf.add(tf.add(linear, m), logTerm);
  });
}

/**
 * The seed's `criterion(inputs, target)`: the sum over the logit maps
 * (fused first, then sides 1..6 — order does not matter) of the mean
 * BCE-with-logits against the same target. All maps have weight 1; there is
 * no `pos_weight`.
 *
 * On webgpu (unless `currentTuning().criterion` is off) each map's term
 * runs as fused kernels (`loss_webgpu.ts`): the same forward value, the
 * analytic gradient `(sigmoid(x) − y)/n` w.r.t. the logits, and none w.r.t.
 * the target (a constant there).
 *
 * @param outputs The network's logit maps (7 for U²-Net), each shaped like `target`
 *   (NHWC `[B, H, W, 1]` in this port).
 * @param target Soft mask in [0, 1], same shape as every output.
 * @returns A scalar loss (differentiable).
 * @throws {RangeError} When `outputs` is empty or a shape differs from `target`'s.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { criterion } from "./loss.ts";
 * const target = tf.tensor4d([0, 1, 1, 0.5], [1, 2, 2, 1]);
 * const outs = [-1, 0, 1, 2, -2, 0.5, 3].map((v) => tf.fill([1, 2, 2, 1], v));
 * console.log(await criterion(outs, target).data()); // ≈ [6.4086909]
 * ```
 */
export function criterion(outputs: readonly tf.Tensor[], target: tf.Tensor): tf.Scalar {
  if (outputs.length === 0) {
    throw new RangeError("Cannot compute criterion: current value is an empty list of outputs");
  }
  outputs.forEach((o, i) => {
    if (!tf.util.arraysEqual(o.shape, target.shape)) {
      throw new RangeError(
        `Cannot compute criterion: current value is output ${i} shaped [${o.shape}] ` +
          `but target shaped [${target.shape}]`,
      );
    }
  });
  return tf.tidy(() => {
    const fused = onWebgpu() && currentTuning().criterion &&
      [target, ...outputs].every((t) => t.dtype === "float32");
    const terms = outputs.map((o) =>
      fused ? meanBceWithLogitsWebgpu(o, target) : tf.mean(bceWithLogits(o, target))
    );
    return (terms.length === 1 ? terms[0] : tf.addN(terms)) as tf.Scalar;
  });
}
