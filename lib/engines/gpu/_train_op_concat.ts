/**
 * The channel concat of the training-step planner: no dispatch forward (the
 * conv reading it takes its parts in place); backward, its gradient (when
 * the conv wrote one) split between the parts.
 *
 * @module
 */
import * as K from "../../kernels/trainer_wgsl.ts";
import type { MapRef, TrainOp } from "./_trainer_tape.ts";

/** A concat node (its map only names its gradient). */
export const CONCAT: TrainOp = {
  forward(l, node) {
    const first = l.maps[node.inputs[0]];
    const [n, h, w] = first.shape;
    l.maps[node.id] = { id: `concat${node.id}`, shape: [n, h, w, node.channels] };
  },
  backward(l, node) {
    const g = l.grads.get(l.maps[node.id].id);
    if (!g) return;
    let off = 0;
    for (const i of node.inputs) {
      const part: MapRef = l.maps[i];
      const have = l.grads.get(part.id);
      const out = l.alloc(part.shape);
      l.call(
        K.sliceAddCall(out.shape, off, !!have),
        l.seg(out),
        [l.io(g), l.io(have ?? g)],
        "grad.slice",
      );
      l.grads.set(part.id, out);
      off += part.shape[3];
    }
  },
};
