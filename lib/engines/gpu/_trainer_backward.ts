/**
 * The op table of the training-step planner (`trainer_plan.ts`): each
 * traced graph node's emitters, forward and backward side by side in
 * `_train_op_<op>.ts`, and the reverse pass (the nodes walked backwards,
 * each dispatched to its op's backward emitter; gradients of maps used
 * twice are summed).
 *
 * @module
 */
import type { GraphNode } from "../../net/graph.ts";
import { NOTHING, type TrainLowering, type TrainOp } from "./_trainer_tape.ts";
import { LAYER_CONV } from "./_train_op_conv.ts";
import { BN_RELU, RELU } from "./_train_op_bn_relu.ts";
import { POOL } from "./_train_op_pool.ts";
import { RESIZE } from "./_train_op_resize.ts";
import { ADD } from "./_train_op_add.ts";
import { CONCAT } from "./_train_op_concat.ts";
import { FUSE_CONV, SIDE_CONV } from "./_train_op_side.ts";
import { planLossGrad } from "./_train_op_loss.ts";

/** The input: the image buffer `x`, no gradient. */
const INPUT: TrainOp = {
  forward(l, node) {
    l.maps[node.id] = l.image;
  },
  backward: NOTHING,
};

/** The sigmoids (inference outputs): not part of the training step. */
const SKIP: TrainOp = { forward: NOTHING, backward: NOTHING };

const CONVS = { layer: LAYER_CONV, side: SIDE_CONV, fuse: FUSE_CONV } as const;

/** The emitters of a node's op. */
export function trainOp(node: GraphNode): TrainOp {
  switch (node.op) {
    case "input":
      return INPUT;
    case "conv":
      return CONVS[node.role ?? "layer"];
    case "bn":
      return BN_RELU;
    case "relu":
      return RELU;
    case "add":
      return ADD;
    case "pool":
      return POOL;
    case "resize":
      return RESIZE;
    case "concat":
      return CONCAT;
    case "sigmoid":
      return SKIP;
  }
}

/** Plans the reverse pass: the criterion's gradients, then every node's backward, last first. */
export function planBackward(l: TrainLowering): void {
  planLossGrad(l);
  for (const node of [...l.graph.nodes].reverse()) trainOp(node).backward(l, node);
}
