/**
 * The bilinear resize (to the second input's height and width) of the
 * training-step planner: forward and its gradient; the identity (no
 * dispatch, the input's map) when the sizes are equal.
 *
 * @module
 */
import { resizeShader } from "../../kernels/engine_wgsl.ts";
import { resizeGradCall } from "../../kernels/resize/resize_webgpu.ts";
import { flatGroups } from "./engine_plan.ts";
import { mapSize as size, type TrainOp } from "./_trainer_tape.ts";

/** A resize node. */
export const RESIZE: TrainOp = {
  forward(l, node) {
    const x = l.maps[node.inputs[0]], like = l.maps[node.inputs[1]];
    const [nn, hh, ww, c] = x.shape, [, oh, ow] = like.shape;
    if (hh === oh && ww === ow) return void (l.maps[node.id] = x);
    const out = l.alloc([nn, oh, ow, c], x.half);
    const s = size(out), f = Math.fround;
    l.b.raw(
      resizeShader(x.half),
      [l.seg(out), l.seg(x)],
      [s, hh, ww, c, oh, ow, f(hh / oh), f(ww / ow)],
      [6, 7],
      [...flatGroups(s), 1],
      "resize",
    );
    l.maps[node.id] = out;
  },
  backward(l, node) {
    const x = l.maps[node.inputs[0]], out = l.maps[node.id];
    if (out === x) return;
    const dout = l.grads.get(out.id)!;
    const dx = l.alloc(x.shape);
    // A gradient x has already is added in the same dispatch (no grad.add).
    const have = l.grads.get(x.id);
    l.call(
      resizeGradCall(dout.shape, x.shape[1], x.shape[2], !!have),
      l.seg(dx),
      [l.io(dout), ...(have ? [l.io(have)] : [])],
      "resize.grad",
    );
    l.grads.set(x.id, dx);
  },
};
