/**
 * BatchNorm (batch statistics) + ReLU of the training-step planner, one
 * emitter for the `bn` and `relu` nodes of a layer: forward (moments, batch
 * statistics, normalise + ReLU), backward (dγ, dβ and the input gradient),
 * and the running-statistics update of every layer at the end.
 *
 * @module
 */
import {
  flatCall,
  partialCall,
  partialPlan,
  reduceCall,
} from "../../kernels/bn/bn_webgpu_kernels.ts";
import { runningStatCall } from "../../kernels/bn/running_stats_webgpu.ts";
import { BN_MOMENTUM } from "../../net/config.ts";
import { mapSize as size, NOTHING, type TrainLowering, type TrainOp } from "./_trainer_tape.ts";

/** A layer's BN + ReLU (on the `bn` node; the `relu` node aliases its output). */
export const BN_RELU: TrainOp = {
  forward(l, node) {
    const { b, alloc, seg, io, call } = l;
    const y = l.maps[node.inputs[0]], c = node.channels, rows = size(y) / c;
    const parts = partialPlan(rows, c).parts;
    const part = alloc([parts, 2, c, 1]);
    call(partialCall("moments", rows, c), seg(part), [io(y)], "bn.moments");
    // Batch stats laid out like the running ones: one update for every layer at the end.
    const stats = { ...b.state(node.layer!, c), buf: "bnStats" };
    const ps = { seg: seg(part), shape: [parts, 2, c] };
    call(reduceCall("stats", parts, c, rows), stats, [ps], "bn.stats");
    const z = alloc(y.shape, y.half);
    call(flatCall("normRelu", y.shape), seg(z), [
      io(y),
      { seg: stats, shape: [2, c] },
      { seg: b.param(`${node.key}.weight`), shape: [c] },
      { seg: b.param(`${node.key}.bias`), shape: [c] },
    ], "bn.normRelu");
    l.maps[node.id] = z;
    l.stats[node.id] = stats;
  },
  backward(l, node) {
    const { b, alloc, seg, io, call } = l;
    const y = l.maps[node.inputs[0]], z = l.maps[node.id], dz = l.grads.get(z.id)!;
    const c = node.channels, rows = size(y) / c, p = node.key!;
    const parts = partialPlan(rows, c).parts;
    const part = alloc([parts, 2, c, 1]);
    const st = { seg: l.stats[node.id], shape: [2, c] };
    call(partialCall("grad", rows, c), seg(part), [io(dz), io(z), io(y), st], "bn.gradPartial");
    const ps = { seg: seg(part), shape: [parts, 2, c] };
    const gamma = { seg: b.param(`${p}.weight`), shape: [c] };
    const dy = alloc(y.shape);
    const [gw, gb] = [b.grad(`${p}.weight`), b.grad(`${p}.bias`)];
    if (gb.off > gw.off) {
      // dγ and dβ into one range of the flat gradients, dx straight from them.
      const sums = { ...gw, len: gb.off + gb.len - gw.off };
      const span = gb.off - gw.off;
      call(reduceCall("gradSums", parts, c, rows, span), sums, [ps, st], "bn.gradSums");
      call(flatCall("dxSums", y.shape, span), seg(dy), [
        io(dz),
        io(z),
        io(y),
        st,
        gamma,
        { seg: sums, shape: [sums.len] },
      ], "bn.dx");
    } else {
      call(reduceCall("dbeta", parts, c, rows), gb, [ps], "bn.dbeta");
      call(reduceCall("dgamma", parts, c, rows), gw, [ps, st], "bn.dgamma");
      const coef = alloc([3, c, 1, 1]);
      call(reduceCall("coef", parts, c, rows), seg(coef), [ps, st, gamma], "bn.coef");
      call(flatCall("dx", y.shape), seg(dy), [io(dz), io(z), io(y), st, {
        seg: seg(coef),
        shape: [3, c],
      }], "bn.dx");
    }
    l.grads.set(y.id, dy);
  },
};

/** The ReLU after a BN: applied by the BN's dispatches (its map is the BN's). */
export const RELU: TrainOp = {
  forward(l, node) {
    const src = l.graph.nodes[node.inputs[0]];
    if (src.op !== "bn") {
      throw new RangeError(`Cannot plan training: current ReLU ${node.id} follows a ${src.op}`);
    }
    l.maps[node.id] = l.maps[src.id];
  },
  backward: NOTHING,
};

/** Every BN layer's running mean and var in one dispatch (padding stays 0). */
export function planRunningStats(l: TrainLowering): void {
  const { b } = l;
  const all = { buf: "state", off: 0, len: b.stateLen };
  l.call(runningStatCall([b.stateLen], BN_MOMENTUM, 0), { ...all, buf: "stateNext" }, [
    { seg: all, shape: [b.stateLen] },
    { seg: { ...all, buf: "bnStats" }, shape: [b.stateLen] },
  ], "bn.running");
}
