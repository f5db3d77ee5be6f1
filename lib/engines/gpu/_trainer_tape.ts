/**
 * The tape of the training-step planner (`trainer_plan.ts`): the planned
 * NHWC maps of the traced graph's nodes, and the lowering context every op
 * emitter (`_train_op_<op>.ts`) writes its forward and backward dispatches
 * through.
 *
 * @module
 */
import type { GraphNode, NetGraph } from "../../net/graph.ts";
import type { WgslCall } from "../../kernels/webgpu.ts";
import * as K from "../../kernels/trainer_wgsl.ts";
import type { Seg, TrainPlanBuilder } from "./trainer_builder.ts";

/** A planned NHWC map (an activation or a gradient). */
export interface MapRef {
  id: string;
  shape: [number, number, number, number];
  /** Stored in f16 (a mixed-precision activation). @default false */
  half?: boolean;
}

/** Values of a planned map. */
export const mapSize = (m: MapRef): number => m.shape.reduce((a, b) => a * b, 1);

/** 4-byte words of a planned map (two f16 values a word). */
export const mapWords = (m: MapRef): number => m.half ? Math.ceil(mapSize(m) / 2) : mapSize(m);

/** A map as a dispatch input. */
export interface MapInput {
  seg: Seg;
  shape: number[];
}

/** The lowering of a traced graph into the plan: the tape and the emitters' tools. */
export interface TrainLowering {
  /** The plan being built. */
  b: TrainPlanBuilder;
  /** The traced train-mode graph. */
  graph: NetGraph;
  /** The batch `[n, h, w]`. */
  batch: readonly [number, number, number];
  /** The image `x` (`[n, h, w, 3]`) and the mask `y` (`[n, h, w, 1]`). */
  image: MapRef;
  mask: MapRef;
  /**
   * The tape: each node's output map by node id (identity ops alias their
   * input's; a concat's is a name for its gradient, never bound).
   */
  maps: MapRef[];
  /** A BN node's batch statistics by node id. */
  stats: Seg[];
  /** Gradients by map id. */
  grads: Map<string, MapRef>;
  /** A new planned map of shape `s` (stored in f16 with `half`). */
  alloc: (s: readonly number[], half?: boolean) => MapRef;
  /** The whole of a map as a segment. */
  seg: (m: MapRef) => Seg;
  /** A map as a dispatch input. */
  io: (m: MapRef) => MapInput;
  /** A dispatch of a tfjs-form program. */
  call: (c: WgslCall, out: Seg, inputs: MapInput[], label: string) => void;
  /** Adds `g` to the gradient of `target` (a sum dispatch when it has one). */
  accumulate: (target: MapRef, g: MapRef) => void;
  /** The next buffer number (shared with `alloc`'s). */
  nextId: () => number;
  /**
   * Mixed precision: the activations (every forward map but the image and
   * the one-channel logits) are stored in f16, the gradients in f32; the
   * GEMM kernels (convs, their input and filter gradients) run f16 tiles and
   * the loss gradient is scaled by the loss scale (buffer `amp`).
   */
  half: boolean;
}

/** One op's emitters: its forward dispatches, and its backward ones (reverse walk). */
export interface TrainOp {
  forward(l: TrainLowering, node: GraphNode): void;
  backward(l: TrainLowering, node: GraphNode): void;
}

/** An op without dispatches in that direction. */
export const NOTHING = (): void => {};

/** Options of {@linkcode makeLowering}. */
export interface LoweringOptions {
  /** Mixed precision (`TrainLowering.half`). @default false */
  half?: boolean;
}

/** The lowering context of `graph` on an `[n, h, w]` batch (declares `x` and `y`). */
export function makeLowering(
  b: TrainPlanBuilder,
  graph: NetGraph,
  batch: readonly [number, number, number],
  options: LoweringOptions = {},
): TrainLowering {
  const [n, h, w] = batch;
  let next = 0;
  const nextId = () => next++;
  const alloc = (s: readonly number[], half = false): MapRef => {
    const m: MapRef = {
      id: `a${nextId()}`,
      shape: [s[0], s[1], s[2], s[3]],
      ...(half ? { half } : {}),
    };
    b.buffer(m.id, mapWords(m));
    return m;
  };
  const seg = (m: MapRef): Seg => ({
    buf: m.id,
    off: 0,
    len: mapWords(m),
    ...(m.half ? { half: true } : {}),
  });
  const io = (m: MapRef) => ({ seg: seg(m), shape: m.shape as number[] });
  const call = (c: WgslCall, out: Seg, inputs: MapInput[], label: string) =>
    b.call(c, out, inputs, label);
  const grads = new Map<string, MapRef>();
  const accumulate = (target: MapRef, g: MapRef) => {
    const have = grads.get(target.id);
    if (!have) return void grads.set(target.id, g);
    const sum = alloc(target.shape);
    call(K.sliceAddCall(sum.shape, 0, true), seg(sum), [io(g), io(have)], "grad.add");
    grads.set(target.id, sum);
  };
  const image: MapRef = { id: "x", shape: [n, h, w, 3] };
  const mask: MapRef = { id: "y", shape: [n, h, w, 1] };
  b.buffer("x", n * h * w * 3);
  b.buffer("y", n * h * w);
  return {
    b,
    graph,
    batch,
    image,
    mask,
    maps: [],
    stats: [],
    grads,
    alloc,
    seg,
    io,
    call,
    accumulate,
    nextId,
    half: options.half ?? false,
  };
}

/** The map read by a node's input `k`. */
export function inputMap(l: TrainLowering, node: GraphNode, k = 0): MapRef {
  return l.maps[node.inputs[k]];
}
