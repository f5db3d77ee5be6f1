/**
 * The tfjs forward: the traced network graph (`lib/net/graph.ts`) lowered
 * node by node onto tfjs ops, with the conv → BN → ReLU layer's kernel
 * choices (spec §1.4), so that the network class only holds state.
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
import type { U2NetConfig } from "../../net/config.ts";
import type { ConvLayerSpec } from "../../net/rsu.ts";
import { type GraphNode, type NetGraph, traceGraph } from "../../net/graph.ts";
import { fuseLayers, pruneTo } from "../../net/graph_passes.ts";
import { batchNormReluTrainWebgpu } from "../../kernels/bn/bn_webgpu.ts";
import { currentTuning, onWebgpu } from "../../kernels/webgpu.ts";
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

/** Folded-BN eval conv + bias + ReLU: one fused conv, or im2col for the RGB input on wasm/cpu. */
function convRelu(x: tf.Tensor4D, param: ParamLookup, prefix: string, dilations: number) {
  const filter = param(`${prefix}.weight`) as tf.Tensor4D;
  const bias = param(`${prefix}.bias`)!;
  if (x.shape[3] <= FEW_CHANNELS && dilations === 1 && fastEvalActive()) {
    return convReluFewChannels(x, filter, bias); // the RGB input conv (wasm/cpu)
  }
  const activation = "relu";
  return tf.fused.conv2d({ x, filter, bias, strides: 1, pad: "same", dilations, activation });
}

/**
 * BatchNorm of a layer's conv output `y` (batch statistics in train mode);
 * `relu: true` when the ReLU is already applied (webgpu's fused train kernel).
 */
function batchNorm(
  y: tf.Tensor4D,
  layer: string,
  ctx: LayerContext,
): { y: tf.Tensor4D; relu: boolean } {
  const v = (s: string) => ctx.param(`${layer}.bn.${s}`) as tf.Tensor1D;
  if (ctx.training && onWebgpu() && currentTuning().batchNorm) {
    // Fused BN + ReLU kernels with an analytic gradient (see bn_webgpu.ts).
    const { y: out, stats } = batchNormReluTrainWebgpu(y, v("weight"), v("bias"));
    ctx.onBatchStats(stats);
    return { y: out, relu: true };
  }
  if (ctx.training) {
    const { y: out, stats } = batchNormTrain(y, v("weight"), v("bias"));
    ctx.onBatchStats(stats);
    return { y: out, relu: false };
  }
  const out = batchNormEval(y, v("running_mean"), v("running_var"), v("weight"), v("bias"));
  return { y: out, relu: false };
}

/** One conv → BN → ReLU layer (conv + bias + ReLU fused for folded-BN inference). */
export function convBnRelu(spec: ConvLayerSpec, x: tf.Tensor4D, ctx: LayerContext): tf.Tensor4D {
  if (!ctx.batchNorm && !ctx.training) {
    return convRelu(x, ctx.param, `${spec.name}.conv`, spec.dilation);
  }
  const y = conv(x, ctx.param, `${spec.name}.conv`, spec.dilation);
  if (!ctx.batchNorm) return tf.relu(y);
  const bn = batchNorm(y, spec.name, ctx);
  return bn.relu ? bn.y : tf.relu(bn.y);
}

/** What the forward needs from a network. */
export interface GraphContext {
  /** The architecture. */
  config: U2NetConfig;
  /** BatchNorm layers present (false: folded-BN inference network). */
  batchNorm: boolean;
  /** Conv bias in the conv → BN → ReLU layers. */
  convBias: boolean;
  /** Parameter and buffer lookup. */
  param: ParamLookup;
  /** Train mode. */
  training: boolean;
  /** Receives a train-mode layer's batch statistics. */
  onBatchStats(layer: string, stats: BatchStats): void;
}

/** Lowered graphs, with the concats only the fuse conv reads (skipped by `fuseSides`). */
const graphs = new WeakMap<
  U2NetConfig,
  Map<string, { graph: NetGraph; fuseInputs: ReadonlySet<number> }>
>();

/**
 * The graph the forward lowers, traced once per (config, batchNorm,
 * convBias): up to the logits; layers fused (conv + bias + ReLU [+ add],
 * `[deep, skip]` inputs) for folded-BN eval.
 */
function forwardGraph(config: U2NetConfig, batchNorm: boolean, convBias: boolean, fused: boolean) {
  let cache = graphs.get(config);
  if (!cache) graphs.set(config, cache = new Map());
  const key = `${batchNorm} ${convBias} ${fused}`;
  let out = cache.get(key);
  if (!out) {
    const traced = traceGraph(config, { batchNorm, convBias });
    const pruned = pruneTo(traced, traced.logits).graph;
    const graph = fused ? fuseLayers(pruned) : pruned;
    const readers = graph.nodes.map(() => [] as GraphNode[]);
    for (const n of graph.nodes) for (const i of n.inputs) readers[i].push(n);
    const fuseInputs = new Set(
      graph.nodes.filter((n) =>
        n.op === "concat" && readers[n.id].every((r) => r.op === "conv" && r.role === "fuse")
      ).map((n) => n.id),
    );
    cache.set(key, out = { graph, fuseInputs });
  }
  return out;
}

/**
 * The seven logit maps `[fused, side1 … side6]` at the input's size: the
 * traced graph run node by node. Eval on wasm/cpu uses our concat, side-conv
 * and fuse kernels (see fast_eval.ts); folded-BN eval fuses conv + bias + ReLU.
 *
 * @example
 * ```ts ignore
 * const logits = u2netLogits(x, { config, batchNorm: true, convBias: false, param, training: false, onBatchStats: () => {} });
 * ```
 */
export function u2netLogits(x: tf.Tensor4D, ctx: GraphContext): tf.Tensor4D[] {
  const { param, training } = ctx;
  const fast = !training && fastEvalActive();
  const foldedEval = !ctx.batchNorm && !training;
  const { graph, fuseInputs } = forwardGraph(ctx.config, ctx.batchNorm, ctx.convBias, foldedEval);
  const cat = (xs: tf.Tensor4D[]) => fast ? concatChannels(xs) : tf.concat(xs, 3);
  const v: tf.Tensor4D[] = [];
  const activated = new Set<number>(); // BN nodes whose kernel applied the ReLU
  const convNode = (n: GraphNode): tf.Tensor4D => {
    const key = n.key!;
    const xs = n.inputs.map((i) => v[i]);
    const [w, b] = [param(`${key}.weight`) as tf.Tensor4D, param(`${key}.bias`)!];
    if (n.relu) return convRelu(xs.length > 1 ? cat(xs) : xs[0], param, key, n.dilation!);
    if (fast && n.role === "side") return sideConv(xs[0], w, b);
    if (fast && fuseInputs.has(n.inputs[0])) {
      return fuseSides(graph.nodes[n.inputs[0]].inputs.map((i) => v[i]), w, b);
    }
    return conv(xs[0], param, key, n.dilation!);
  };
  for (const n of graph.nodes) {
    const xs = n.inputs.map((i) => v[i]);
    switch (n.op) {
      case "input":
        v[n.id] = x;
        break;
      case "conv":
        v[n.id] = convNode(n);
        if (n.residual !== undefined) v[n.id] = tf.add(v[n.id], v[n.residual]) as tf.Tensor4D;
        break;
      case "bn": {
        const layerCtx = { ...ctx, onBatchStats: (s: BatchStats) => ctx.onBatchStats(n.layer!, s) };
        const bn = batchNorm(xs[0], n.layer!, layerCtx);
        if (bn.relu) activated.add(n.id);
        v[n.id] = bn.y;
        break;
      }
      case "relu":
        v[n.id] = activated.has(n.inputs[0]) ? xs[0] : tf.relu(xs[0]);
        break;
      case "add":
        v[n.id] = tf.add(xs[0], xs[1]) as tf.Tensor4D;
        break;
      case "pool":
        v[n.id] = maxPoolCeil(xs[0]);
        break;
      case "resize":
        v[n.id] = resizeBilinear(xs[0], [xs[1].shape[1], xs[1].shape[2]]);
        break;
      case "concat":
        if (!(fast && fuseInputs.has(n.id))) v[n.id] = cat(xs);
        break;
        // No sigmoid nodes: the graph is pruned to the logits.
    }
  }
  return graph.logits.map((id) => v[id]);
}
