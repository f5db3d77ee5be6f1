/**
 * The U2-Net network as one traced graph of small ops (conv, BN, ReLU, add,
 * pool, resize, concat, sigmoid) that every engine lowers. The trace runs
 * the ops in exactly the order the tfjs forward and the engine planners run
 * them (spec §1.2-1.4), so lowerings keep their dispatch order and buffer
 * sharing.
 *
 * @module
 */
import type { U2NetConfig } from "./config.ts";
import type { ConvLayerSpec, RsuBlock } from "./rsu.ts";
import { buildBlocks } from "./state_dict.ts";

export type { ArchName, StageConfig, U2NetConfig } from "./config.ts";

/** The op of a graph node. */
export type OpKind =
  | "input"
  | "conv"
  | "bn"
  | "relu"
  | "add"
  | "pool"
  | "resize"
  | "concat"
  | "sigmoid";

/** One op of the graph; `id` is its index in {@linkcode NetGraph.nodes} (topological order). */
export interface GraphNode {
  /** Index in `graph.nodes`. */
  id: number;
  /** The op. */
  op: OpKind;
  /**
   * Node ids read. conv: `[x]`, or `[deep, skip]` (channel concat) after
   * {@linkcode fuseLayers}; concat: 2-6 ids; add: `[a, b]`; resize:
   * `[x, like]` (to `like`'s height and width).
   */
  inputs: number[];
  /** Output channels. */
  channels: number;
  /** Weight prefix of a conv (`side_modules.3`, `out_conv`, `….conv`) or a bn (`….bn`). */
  key?: string;
  /** Conv kernel size. */
  kernel?: 1 | 3;
  /** Conv dilation (= padding). */
  dilation?: number;
  /** The conv has `${key}.bias`. */
  bias?: boolean;
  /** Fused conv: ReLU applied after the bias. */
  relu?: boolean;
  /** Fused conv: node id added after the ReLU. */
  residual?: number;
  /** The {@linkcode ConvLayerSpec} name of a layer's concat/conv/bn/relu/add. */
  layer?: string;
  /** Conv role: a conv → BN → ReLU layer, a side conv or the fuse conv. */
  role?: "layer" | "side" | "fuse";
}

/** A traced network. */
export interface NetGraph {
  /** The architecture. */
  config: U2NetConfig;
  /** False: no BN nodes, layer convs with bias (a folded network). */
  batchNorm: boolean;
  /** Every node, in execution (topological) order. */
  nodes: readonly GraphNode[];
  /** Logit ids `[fused, side1 … side6]` at input size (side1 = De1's … side6 = En6's); -1 if pruned. */
  logits: readonly number[];
  /** Sigmoid ids in the same order; -1 if pruned. */
  probs: readonly number[];
}

/** Options for {@linkcode traceGraph}. */
export interface TraceOptions {
  /**
   * Trace BatchNorm nodes after the layer convs.
   * @default {true}
   */
  batchNorm?: boolean;
  /**
   * Bias on the layer convs.
   * @default {!batchNorm}
   */
  convBias?: boolean;
}

/** One feature map's shape, NHWC. */
export interface MapShape {
  /** Batch. */
  n: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
  /** Channels. */
  c: number;
}

/**
 * Traces a network into its graph: the stage walk (RSU blocks, pools between
 * encoder stages, resizes before decoder stages), then the side head (side
 * conv, resize to the input, En6 first), the fuse concat + 1x1 conv and the
 * seven sigmoids.
 *
 * @example
 * ```ts
 * import { traceGraph } from "./graph.ts";
 * import { U2NET_LITE } from "./config.ts";
 * const g = traceGraph(U2NET_LITE);
 * g.nodes[g.logits[0]].key; // "out_conv"
 * ```
 */
export function traceGraph(config: U2NetConfig, options: TraceOptions = {}): NetGraph {
  const batchNorm = options.batchNorm ?? true;
  const convBias = options.convBias ?? !batchNorm;
  const nodes: GraphNode[] = [];
  const add = (node: Omit<GraphNode, "id">): number =>
    nodes.push({ id: nodes.length, ...node }) - 1;
  const ch = (id: number) => nodes[id].channels;
  const pool = (x: number) => add({ op: "pool", inputs: [x], channels: ch(x) });
  const resize = (x: number, like: number) =>
    add({ op: "resize", inputs: [x, like], channels: ch(x) });
  const layer = (spec: ConvLayerSpec, x: number, skip?: number, residual?: number): number => {
    const name = spec.name;
    const src = skip === undefined
      ? x
      : add({ op: "concat", inputs: [x, skip], channels: ch(x) + ch(skip), layer: name });
    let h = add({
      op: "conv",
      inputs: [src],
      channels: spec.outCh,
      key: `${name}.conv`,
      kernel: 3,
      dilation: spec.dilation,
      bias: convBias,
      layer: name,
      role: "layer",
    });
    if (batchNorm) {
      h = add({ op: "bn", inputs: [h], channels: spec.outCh, key: `${name}.bn`, layer: name });
    }
    h = add({ op: "relu", inputs: [h], channels: spec.outCh, layer: name });
    if (residual !== undefined) {
      h = add({ op: "add", inputs: [h, residual], channels: spec.outCh, layer: name });
    }
    return h;
  };
  // One RSU block (its encoder, then its decoder with skips and the residual), then the stages.
  const rsu = (block: RsuBlock, x: number, skip?: number): number => {
    const xIn = layer(block.convIn, x, skip);
    const feats: number[] = [];
    let h = xIn;
    for (const spec of block.encoders) {
      h = layer(spec, spec.pool ? pool(h) : h);
      feats.push(h);
    }
    h = feats.pop()!;
    block.decoders.forEach((spec, i) => {
      const below = feats.pop()!;
      const deep = spec.upsample ? resize(h, below) : h;
      h = layer(spec, deep, below, i === block.decoders.length - 1 ? xIn : undefined);
    });
    return h;
  };
  const blocks = buildBlocks(config);
  const input = add({ op: "input", inputs: [], channels: 3 });
  const enc: number[] = [];
  let h = input;
  blocks.encoders.forEach((block, i) => {
    h = rsu(block, h);
    enc.push(h);
    if (i !== blocks.encoders.length - 1) h = pool(h);
  });
  const dec = [enc.pop()!];
  for (const block of blocks.decoders) {
    const skip = enc.pop()!;
    dec.unshift(rsu(block, resize(dec[0], skip), skip));
  }
  // The side head, as u2netLogits: En6 first, each side unshifted.
  const sides: number[] = [];
  for (let k = 0; k < blocks.sideChannels.length; k++) {
    const s = add({
      op: "conv",
      inputs: [dec.pop()!],
      channels: 1,
      key: `side_modules.${k}`,
      kernel: 3,
      dilation: 1,
      bias: true,
      role: "side",
    });
    sides.unshift(resize(s, input));
  }
  const cat = add({ op: "concat", inputs: [...sides], channels: sides.length });
  const fused = add({
    op: "conv",
    inputs: [cat],
    channels: 1,
    key: "out_conv",
    kernel: 1,
    dilation: 1,
    bias: true,
    role: "fuse",
  });
  const logits = [fused, ...sides];
  const probs = logits.map((l) => add({ op: "sigmoid", inputs: [l], channels: 1 }));
  return { config, batchNorm, nodes, logits, probs };
}

/**
 * Every node's output shape (NHWC) for an input `[n, h, w]` (3 channels):
 * pools halve with ceil, resizes take `like`'s size, other ops keep their
 * first input's size.
 *
 * @example
 * ```ts
 * import { graphShapes, traceGraph } from "./graph.ts";
 * import { U2NET_LITE } from "./config.ts";
 * const g = traceGraph(U2NET_LITE);
 * graphShapes(g, [1, 37, 45])[g.logits[0]]; // { n: 1, h: 37, w: 45, c: 1 }
 * ```
 */
export function graphShapes(graph: NetGraph, input: readonly [number, number, number]): MapShape[] {
  const [n, h, w] = input;
  const out: MapShape[] = [];
  for (const node of graph.nodes) {
    const c = node.channels;
    if (node.op === "input") {
      out.push({ n, h, w, c });
      continue;
    }
    const x = out[node.inputs[0]];
    if (node.op === "pool") out.push({ n, h: Math.ceil(x.h / 2), w: Math.ceil(x.w / 2), c });
    else if (node.op === "resize") {
      const like = out[node.inputs[1]];
      out.push({ n, h: like.h, w: like.w, c });
    } else out.push({ n, h: x.h, w: x.w, c });
  }
  return out;
}
