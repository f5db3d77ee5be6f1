/**
 * The 2x2 max pool (stride 2, ceil mode) of the training-step planner:
 * forward and its gradient.
 *
 * @module
 */
import { poolShader } from "../../kernels/engine_wgsl.ts";
import * as K from "../../kernels/trainer_wgsl.ts";
import { flatGroups } from "./engine_plan.ts";
import { mapSize as size, type TrainOp } from "./_trainer_tape.ts";

/** A pool node. */
export const POOL: TrainOp = {
  forward(l, node) {
    const x = l.maps[node.inputs[0]];
    const [nn, hh, ww, c] = x.shape;
    const oh = Math.ceil(hh / 2), ow = Math.ceil(ww / 2);
    const out = l.alloc([nn, oh, ow, c], x.half);
    const s = size(out);
    l.b.raw(poolShader(x.half), [l.seg(out), l.seg(x)], [s, hh, ww, c, oh, ow], [], [
      ...flatGroups(s),
      1,
    ], "pool");
    l.maps[node.id] = out;
  },
  backward(l, node) {
    const x = l.maps[node.inputs[0]], dout = l.grads.get(l.maps[node.id].id)!;
    const dx = l.alloc(x.shape);
    // A gradient x has already is added in the same dispatch (no grad.add).
    const have = l.grads.get(x.id);
    const inputs = [l.io(dout), l.io(x), ...(have ? [l.io(have)] : [])];
    l.call(K.poolGradCall(x.shape, !!have), l.seg(dx), inputs, "pool.grad");
    l.grads.set(x.id, dx);
  },
};
