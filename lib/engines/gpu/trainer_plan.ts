/**
 * Plans the recorded training step (`gpu_trainer.ts`) for a fixed batch
 * shape as a lowering of the traced train-mode graph (`traceGraph`): each
 * node's forward dispatches in order (conv → BN → ReLU layers, pools,
 * resizes, concats read in place, residual adds, side convs, the fuse
 * conv), the BN running-stat updates, the criterion over the seven logits,
 * then the reverse pass (`_trainer_backward.ts`: the nodes walked backwards,
 * each op's backward emitter next to its forward one in `_train_op_<op>.ts`;
 * gradients of maps used twice are summed, by the kernel that writes the
 * second where it can: the input-gradient conv's epilogue, the pool and
 * resize gradients; a `grad.add` dispatch otherwise). The AdamW update is not
 * planned here: the trainer records it after these (`_gpu_trainer_update.ts`).
 * Parameters, their gradients and the running statistics live in flat
 * buffers with 256-byte aligned segments, bound by range. No GPU calls here.
 *
 * @module
 */
import type { U2NetConfig } from "../../net/config.ts";
import { traceGraph } from "../../net/graph.ts";
import { type ParamInfo, TrainPlanBuilder } from "./trainer_builder.ts";
import { makeLowering } from "./_trainer_tape.ts";
import { planBackward, trainOp } from "./_trainer_backward.ts";
import { planRunningStats } from "./_train_op_bn_relu.ts";
import { planLoss } from "./_train_op_loss.ts";

export type { ParamInfo, Seg, TrainDispatch, TrainPlan } from "./trainer_builder.ts";

/**
 * Plans one training step of `config` on an `[n, h, w, 3]` batch;
 * `params` lists every trainable parameter (in optimizer-group order) and
 * `groups` the number of optimizer groups; `half`: mixed precision (f16
 * activations, f16 GEMM tiles, the loss gradient scaled by the loss scale
 * in buffer `amp`).
 */
export function planTrainer(
  config: U2NetConfig,
  shape: readonly [number, number, number],
  params: readonly ParamInfo[],
  groups: number,
  half = false,
) {
  const b = new TrainPlanBuilder(params, groups);
  const l = makeLowering(b, traceGraph(config), shape, { half });
  for (const node of l.graph.nodes) trainOp(node).forward(l, node);
  planRunningStats(l);
  planLoss(l);
  planBackward(l);
  return b.finish();
}
