/**
 * The residual add of the training-step planner: forward, and its gradient
 * passed to both inputs (summed with their other gradients).
 *
 * @module
 */
import * as K from "../../kernels/trainer_wgsl.ts";
import type { TrainOp } from "./_trainer_tape.ts";

/** An add node. */
export const ADD: TrainOp = {
  forward(l, node) {
    const [a, c] = node.inputs.map((i) => l.maps[i]);
    if (!!a.half !== !!c.half) {
      throw new RangeError(
        `Cannot plan an add: current maps are ${a.half ? "f16" : "f32"} and ${
          c.half ? "f16" : "f32"
        }`,
      );
    }
    const out = l.alloc(a.shape, a.half);
    l.call(K.sliceAddCall(out.shape, 0, true), l.seg(out), [l.io(a), l.io(c)], "add");
    l.maps[node.id] = out;
  },
  backward(l, node) {
    const g = l.grads.get(l.maps[node.id].id)!;
    for (const i of node.inputs) l.accumulate(l.maps[i], g);
  },
};
