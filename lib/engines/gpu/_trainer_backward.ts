/**
 * The backward pass of the training-step planner (`trainer_plan.ts`): every
 * op of the forward tape in reverse (BN and conv gradients, pool, resize,
 * concat, residual add, side conv), gradients of maps used twice summed.
 *
 * @module
 */
import type { WgslCall } from "../../kernels/webgpu.ts";
import {
  flatCall,
  partialCall,
  partialPlan,
  reduceCall,
} from "../../kernels/bn/bn_webgpu_kernels.ts";
import { filterGradCalls } from "../../kernels/conv/conv_grad_webgpu.ts";
import { flipFilterCall, resizeGradCall } from "../../kernels/resize/resize_webgpu.ts";
import { oneChannelCall } from "../../kernels/conv/conv_webgpu.ts";
import * as K from "../../kernels/trainer_wgsl.ts";
import type { Seg, TrainPlanBuilder } from "./trainer_builder.ts";
import { type MapRef, mapSize as size, type PlanConv, type TapeOp } from "./_trainer_tape.ts";

/** What the backward pass needs of the planner. */
export interface BackwardContext {
  /** The plan being built. */
  b: TrainPlanBuilder;
  /** Gradients by map id (the criterion's and the fuse conv's already in). */
  grads: Map<string, MapRef>;
  /** A new planned map of shape `s`. */
  alloc: (s: readonly number[]) => MapRef;
  /** The whole of a map as a segment. */
  seg: (m: MapRef) => Seg;
  /** A map as a dispatch input. */
  io: (m: MapRef) => { seg: Seg; shape: number[] };
  /** A dispatch of a tfjs-form program. */
  call: (c: WgslCall, out: Seg, inputs: { seg: Seg; shape: number[] }[], label: string) => void;
  /** The planner's 3x3 engine conv. */
  conv: PlanConv;
  /**
   * The input gradient of a 3x3 conv whose input was `c1 ‖ c2` channels
   * (`wt` its forward filter), written as the two parts' maps.
   */
  convSplit: (dy: MapRef, wt: Seg, c1: number, c2: number, dil: number) => [MapRef, MapRef];
  /** The next buffer number (shared with `alloc`'s). */
  nextId: () => number;
}

/** Plans the backward pass of every op of `tape`, last first (reverses `tape`). */
export function planBackward(ctx: BackwardContext, tape: TapeOp[]): void {
  const { b, grads, alloc, seg, io, call, conv } = ctx;
  const accumulate = (target: MapRef, g: MapRef) => {
    const have = grads.get(target.id);
    if (!have) return void grads.set(target.id, g);
    const sum = alloc(target.shape);
    call(K.sliceAddCall(sum.shape, 0, true), seg(sum), [io(g), io(have)], "grad.add");
    grads.set(target.id, sum);
  };
  const sliceInto = (target: MapRef, g: MapRef, off: number) => {
    const have = grads.get(target.id);
    const out = alloc(target.shape);
    call(K.sliceAddCall(out.shape, off, !!have), seg(out), [io(g), io(have ?? g)], "grad.slice");
    grads.set(target.id, out);
  };
  const colsum = (g: MapRef, out: Seg) => {
    const c = g.shape[3], rows = size(g) / c;
    const part = alloc([partialPlan(rows, c).parts, 2, c, 1]);
    call(
      partialCall("colsum", rows, c),
      seg(part),
      [{ seg: seg(g), shape: [rows, c] }],
      "bias.partial",
    );
    call(reduceCall("dbeta", partialPlan(rows, c).parts, c, rows), out, [{
      seg: seg(part),
      shape: [partialPlan(rows, c).parts, 2, c],
    }], "bias.reduce");
  };
  const filterGrad = (
    x: MapRef,
    dy: MapRef,
    key: string,
    k: number,
    dil: number,
    x2?: MapRef,
  ) => {
    const co = dy.shape[3], c2 = x2 ? x2.shape[3] : 0;
    const { gemm, sum } = filterGradCalls(x.shape, co, k, k, dil, c2);
    const inputs = x2 ? [io(x), io(x2), io(dy)] : [io(x), io(dy)];
    if (!sum) return void call(gemm, b.grad(key), inputs, "conv.filterGrad");
    const splits = gemm.spec.outputShape[0];
    const part = alloc([splits * k * k * (x.shape[3] + c2) * co, 1, 1, 1]);
    call(gemm, seg(part), inputs, "conv.filterGrad");
    call(
      sum,
      b.grad(key),
      [{ seg: seg(part), shape: [...gemm.spec.outputShape] }],
      "conv.sumSplits",
    );
  };
  const flipped = (key: string, wShape: readonly number[]): Seg => {
    const id = `f${ctx.nextId()}`;
    const len = wShape.reduce((a, c) => a * c, 1);
    b.buffer(id, len);
    const out = { buf: id, off: 0, len };
    call(flipFilterCall(wShape), out, [{ seg: b.param(key), shape: [...wShape] }], "conv.flip");
    return out;
  };

  for (const op of tape.reverse()) {
    if (op.op === "layer") {
      const dz = grads.get(op.z.id)!;
      const c = op.spec.outCh, rows = size(op.y) / c, p = op.spec.name;
      const parts = partialPlan(rows, c).parts;
      const part = alloc([parts, 2, c, 1]);
      const st = { seg: op.stats, shape: [2, c] };
      call(
        partialCall("grad", rows, c),
        seg(part),
        [io(dz), io(op.z), io(op.y), st],
        "bn.gradPartial",
      );
      const ps = { seg: seg(part), shape: [parts, 2, c] };
      const gamma = { seg: b.param(`${p}.bn.weight`), shape: [c] };
      const dy = alloc(op.y.shape);
      const [gw, gb] = [b.grad(`${p}.bn.weight`), b.grad(`${p}.bn.bias`)];
      if (gb.off > gw.off) {
        // dγ and dβ into one range of the flat gradients, dx straight from them.
        const sums = { ...gw, len: gb.off + gb.len - gw.off };
        const span = gb.off - gw.off;
        call(reduceCall("gradSums", parts, c, rows, span), sums, [ps, st], "bn.gradSums");
        call(flatCall("dxSums", op.y.shape, span), seg(dy), [
          io(dz),
          io(op.z),
          io(op.y),
          st,
          gamma,
          { seg: sums, shape: [sums.len] },
        ], "bn.dx");
      } else {
        call(reduceCall("dbeta", parts, c, rows), gb, [ps], "bn.dbeta");
        call(reduceCall("dgamma", parts, c, rows), gw, [ps, st], "bn.dgamma");
        const coef = alloc([3, c, 1, 1]);
        call(reduceCall("coef", parts, c, rows), seg(coef), [ps, st, gamma], "bn.coef");
        call(flatCall("dx", op.y.shape), seg(dy), [io(dz), io(op.z), io(op.y), st, {
          seg: seg(coef),
          shape: [3, c],
        }], "bn.dx");
      }
      if (b.hasParam(`${p}.conv.bias`)) colsum(dy, b.grad(`${p}.conv.bias`));
      filterGrad(op.x, dy, `${p}.conv.weight`, 3, op.spec.dilation, op.x2);
      if (!op.first) {
        const w = b.param(`${p}.conv.weight`), c1 = op.x.shape[3];
        const c2 = op.x2 ? op.x2.shape[3] : 0, dil = op.spec.dilation;
        if (op.x2 && !grads.has(op.x.id) && !grads.has(op.x2.id)) {
          // Both parts' first gradients: written apart by one conv.
          const [d1, d2] = ctx.convSplit(dy, w, c1, c2, dil);
          grads.set(op.x.id, d1);
          grads.set(op.x2.id, d2);
        } else {
          const dx = conv(dy, { wt: w, bias: b.zeros(c1 + c2), co: c1 + c2, dil, flipped: true });
          if (op.x2) {
            // The concat input's gradient, split between its parts.
            sliceInto(op.x, dx, 0);
            sliceInto(op.x2, dx, c1);
          } else accumulate(op.x, dx);
        }
      }
    } else if (op.op === "pool") {
      const dx = alloc(op.x.shape);
      call(K.poolGradCall(op.x.shape), seg(dx), [io(grads.get(op.out.id)!), io(op.x)], "pool.grad");
      accumulate(op.x, dx);
    } else if (op.op === "resize") {
      const dout = grads.get(op.out.id)!;
      const dx = alloc(op.x.shape);
      call(
        resizeGradCall(dout.shape, op.x.shape[1], op.x.shape[2]),
        seg(dx),
        [io(dout)],
        "resize.grad",
      );
      accumulate(op.x, dx);
    } else if (op.op === "add") {
      const g = grads.get(op.out.id)!;
      accumulate(op.a, g);
      accumulate(op.b, g);
    } else {
      const ds = grads.get(op.out.id)!;
      filterGrad(op.x, ds, `${op.key}.weight`, 3, 1);
      colsum(ds, b.grad(`${op.key}.bias`));
      const wShape = b.shapeOf(`${op.key}.weight`);
      const wf = flipped(`${op.key}.weight`, wShape);
      const dx = alloc(op.x.shape);
      call(oneChannelCall(ds.shape, [3, 3, 1, op.x.shape[3]], 1), seg(dx), [io(ds), {
        seg: wf,
        shape: [3, 3, 1, op.x.shape[3]],
      }], "side.inputGrad");
      accumulate(op.x, dx);
    }
  }
}
