/**
 * The side head of the training-step planner: a side conv (3x3 to one
 * channel, with bias) forward and its filter, bias and input gradients, and
 * the fuse conv (1x1 over the six resized sides' concat) forward and its
 * weight and bias gradient. The fuse conv's input gradients (the sides'
 * share of the fused term) are written with the criterion's (`_train_op_loss.ts`).
 *
 * @module
 */
import { convToOneShader } from "../../kernels/conv/conv_one_wgsl.ts";
import { flipFilterCall } from "../../kernels/resize/resize_webgpu.ts";
import { oneChannelCall } from "../../kernels/conv/conv_webgpu.ts";
import * as K from "../../kernels/trainer_wgsl.ts";
import type { GraphNode } from "../../net/graph.ts";
import { flatGroups } from "./engine_plan.ts";
import type { Seg, TrainPlanBuilder } from "./trainer_builder.ts";
import { foldParts, fuseGradPartialCall, fuseGradReduceCall } from "./_trainer_folds.ts";
import {
  type MapInput,
  mapSize as size,
  type TrainLowering,
  type TrainOp,
} from "./_trainer_tape.ts";
import { colsum, filterGrad } from "./_train_op_conv.ts";

/** A side conv node. */
export const SIDE_CONV: TrainOp = {
  forward(l, node) {
    const x = l.maps[node.inputs[0]], key = node.key!, { b, seg } = l;
    const s = l.alloc([x.shape[0], x.shape[1], x.shape[2], 1]);
    const m = size(s);
    b.raw(
      convToOneShader(x.half ? { half: true } : {}),
      [seg(s), seg(x), b.param(`${key}.weight`), b.param(`${key}.bias`)],
      [m, x.shape[1], x.shape[2], x.shape[3], 3, 1, 1],
      [],
      [...flatGroups(m), 1],
      "side",
    );
    l.maps[node.id] = s;
  },
  backward(l, node) {
    const x = l.maps[node.inputs[0]], key = node.key!, { b } = l;
    const ds = l.grads.get(l.maps[node.id].id)!;
    filterGrad(l, x, ds, { key: `${key}.weight`, k: 3, dil: 1 });
    colsum(l, ds, b.grad(`${key}.bias`));
    // The input gradient: a one-channel conv with the flipped filter.
    const wShape = b.shapeOf(`${key}.weight`);
    const id = `f${l.nextId()}`;
    const len = wShape.reduce((a, c) => a * c, 1);
    b.buffer(id, len);
    const wf = { buf: id, off: 0, len };
    l.call(
      flipFilterCall(wShape),
      wf,
      [{ seg: b.param(`${key}.weight`), shape: [...wShape] }],
      "conv.flip",
    );
    const dx = l.alloc(x.shape);
    const fShape = [3, 3, 1, x.shape[3]];
    l.call(
      oneChannelCall(ds.shape, fShape, 1),
      l.seg(dx),
      [l.io(ds), { seg: wf, shape: fShape }],
      "side.inputGrad",
    );
    l.accumulate(x, dx);
  },
};

/** The fuse conv's weight and bias: one short range of the flat parameters (offsets relative to it). */
export function fuseRange(
  b: TrainPlanBuilder,
): { range: Seg; offW: number; offB: number; all: MapInput } {
  const r = b.fuseRange();
  const range = { buf: "params", ...r };
  return {
    range,
    offW: b.offset("out_conv.weight") - r.off,
    offB: b.offset("out_conv.bias") - r.off,
    all: { seg: range, shape: [r.len] },
  };
}

/** The six resized side maps the fuse conv reads (its concat's parts). */
export function fuseSides(l: TrainLowering, node: GraphNode) {
  const cat = l.graph.nodes[node.inputs[0]];
  const sides = cat.inputs.map((i) => l.maps[i]);
  if (cat.op !== "concat" || sides.length !== 6) {
    throw new RangeError(`Cannot plan training: current value is ${sides.length} side outputs`);
  }
  return sides;
}

/** The fuse conv node. */
export const FUSE_CONV: TrainOp = {
  forward(l, node) {
    const sides = fuseSides(l, node);
    const { offW, offB, all } = fuseRange(l.b);
    const fused = l.alloc(l.mask.shape);
    l.call(K.fuseCall(fused.shape, offW, offB), l.seg(fused), [...sides.map(l.io), all], "fuse");
    l.maps[node.id] = fused;
  },
  backward(l, node) {
    const sides = fuseSides(l, node), dF = l.grads.get(l.maps[node.id].id)!;
    const { range, offW, offB } = fuseRange(l.b);
    const [n, h, w] = l.batch, m = n * h * w, [parts] = foldParts(m);
    const fusePart = l.alloc([parts, 7, 1, 1]);
    l.call(fuseGradPartialCall(m), l.seg(fusePart), [l.io(dF), ...sides.map(l.io)], "fuse.grad");
    l.call(
      fuseGradReduceCall(m, range.len, offW, offB),
      { ...range, buf: "grads" },
      [{ seg: l.seg(fusePart), shape: [parts, 7] }],
      "fuse.grad",
    );
  },
};
