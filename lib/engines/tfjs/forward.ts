/**
 * The U2-Net graph (spec §1.4) and its conv → BN → ReLU layer, as functions
 * over a parameter lookup, so that the network class only holds state.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import {
  batchNormEval,
  batchNormTrain,
  type BatchStats,
  conv2d,
  maxPoolCeil,
  resizeBilinear,
} from "./ops.ts";
import type { ConvLayerSpec, RsuBlock } from "../../net/rsu.ts";
import { type GraphOps, walkRsu, walkStages } from "../../net/graph_walk.ts";
import type { NetworkBlocks } from "../../net/state_dict.ts";
import { batchNormReluTrainWebgpu } from "../../kernels/bn/bn_webgpu.ts";
import { onWebgpu, webgpuKernelSettings } from "../../kernels/webgpu.ts";
import {
  concatChannels,
  convReluFewChannels,
  fastEvalActive,
  FEW_CHANNELS,
  fuseSides,
  sideConv,
} from "./fast_eval.ts";

/** Looks a parameter or buffer up by its seed key (undefined when absent). */
export type ParamLookup = (key: string) => tf.Tensor | undefined;

/** What one conv → BN → ReLU layer needs. */
export interface LayerContext {
  /** Train mode: batch statistics (and differentiable convs). */
  training: boolean;
  /** BatchNorm present (false: folded-BN inference network). */
  batchNorm: boolean;
  /** Parameter lookup. */
  param: ParamLookup;
  /** Receives a train-mode layer's batch statistics. */
  onBatchStats(stats: BatchStats): void;
}

/** Conv (+ bias) of one module prefix: `prefix.weight`, optional `prefix.bias`. */
function conv(x: tf.Tensor4D, param: ParamLookup, prefix: string, dilation: number) {
  const y = conv2d(x, param(`${prefix}.weight`) as tf.Tensor4D, dilation);
  const bias = param(`${prefix}.bias`);
  return bias ? tf.add(y, bias) as tf.Tensor4D : y;
}

/** One conv → BN → ReLU layer (conv + bias + ReLU fused for folded-BN inference). */
export function convBnRelu(spec: ConvLayerSpec, x: tf.Tensor4D, ctx: LayerContext): tf.Tensor4D {
  const { param } = ctx;
  if (!ctx.batchNorm && !ctx.training) {
    const filter = param(`${spec.name}.conv.weight`) as tf.Tensor4D;
    const bias = param(`${spec.name}.conv.bias`)!;
    if (spec.inCh <= FEW_CHANNELS && spec.dilation === 1 && fastEvalActive()) {
      return convReluFewChannels(x, filter, bias); // the RGB input conv (wasm/cpu)
    }
    return tf.fused.conv2d({
      x,
      filter,
      bias,
      strides: 1,
      pad: "same",
      dilations: spec.dilation,
      activation: "relu",
    });
  }
  let y = conv(x, param, `${spec.name}.conv`, spec.dilation);
  if (ctx.batchNorm) {
    const v = (s: string) => param(`${spec.name}.bn.${s}`) as tf.Tensor1D;
    if (ctx.training && onWebgpu() && webgpuKernelSettings.batchNorm) {
      // Fused BN + ReLU kernels with an analytic gradient (see bn_webgpu.ts).
      const { y: out, stats } = batchNormReluTrainWebgpu(y, v("weight"), v("bias"));
      ctx.onBatchStats(stats);
      return out;
    }
    if (ctx.training) {
      const { y: out, stats } = batchNormTrain(y, v("weight"), v("bias"));
      ctx.onBatchStats(stats);
      y = out;
    } else {
      y = batchNormEval(y, v("running_mean"), v("running_var"), v("weight"), v("bias"));
    }
  }
  return tf.relu(y);
}

/** What the graph needs from a network. */
export interface GraphContext {
  /** The stage blocks. */
  blocks: NetworkBlocks;
  /** Parameter lookup (side and fuse convs). */
  param: ParamLookup;
  /** The network's conv → BN → ReLU layer. */
  layer: ConvLayerFn;
  /** Train mode. */
  training: boolean;
}

/** The seven logit maps `[fused, side1 … side6]` at the input's size. */
export function u2netLogits(x: tf.Tensor4D, ctx: GraphContext): tf.Tensor4D[] {
  const [, height, width] = x.shape;
  const { param, layer } = ctx;
  // Eval on wasm/cpu: our concat, side-conv and fuse kernels (see fast_eval.ts).
  const fast = !ctx.training && fastEvalActive();
  const cat = (xs: tf.Tensor4D[]) => fast ? concatChannels(xs) : tf.concat(xs, 3);
  const { sideChannels } = ctx.blocks;
  const dec = walkStages(ctx.blocks, x, tensorOps(layer, cat, resizeBilinear, maxPoolCeil));
  const sides: tf.Tensor4D[] = [];
  for (let k = 0; k < sideChannels.length; k++) {
    const f = dec.pop()!; // En6 first, De1 last
    const p = `side_modules.${k}`;
    const s = fast
      ? sideConv(f, param(`${p}.weight`) as tf.Tensor4D, param(`${p}.bias`)!)
      : conv(f, param, p, 1);
    sides.unshift(resizeBilinear(s, [height, width]));
  }
  const fused = fast
    ? fuseSides(sides, param("out_conv.weight")!, param("out_conv.bias")!)
    : conv(tf.concat(sides, 3), param, "out_conv", 1);
  return [fused, ...sides];
}

/** Runs one conv → BN → ReLU layer; supplied by the network. */
export type ConvLayerFn = (spec: ConvLayerSpec, x: tf.Tensor4D) => tf.Tensor4D;

/**
 * Forward pass of an RSU block: encoder stack, decoder with skips (deeper
 * input first, skip second), residual add of `conv_in`'s output.
 *
 * @example
 * ```ts ignore
 * const y = rsuForward(block, x, (spec, h) => convBnRelu(spec, h));
 * ```
 */
export function rsuForward(block: RsuBlock, x: tf.Tensor4D, run: ConvLayerFn): tf.Tensor4D {
  return walkRsu(block, x, tensorOps(run, (xs) => tf.concat(xs, 3), resizeBilinear, maxPoolCeil));
}

/**
 * The graph ops over tfjs tensors: `run` for the conv → BN → ReLU layer,
 * `cat` for decoder concats (tf.concat, or a faster kernel), and the two
 * resampling ops.
 */
export function tensorOps(
  run: ConvLayerFn,
  cat: (xs: tf.Tensor4D[]) => tf.Tensor4D,
  resize: (x: tf.Tensor4D, size: [number, number]) => tf.Tensor4D,
  pool: (x: tf.Tensor4D) => tf.Tensor4D,
): GraphOps<tf.Tensor4D> {
  return {
    layer: (spec, x, skip, residual) => {
      const y = run(spec, skip ? cat([x, skip]) : x);
      return residual ? tf.add(y, residual) as tf.Tensor4D : y;
    },
    pool,
    resizeTo: (x, like) => resize(x, [like.shape[1], like.shape[2]]),
  };
}
