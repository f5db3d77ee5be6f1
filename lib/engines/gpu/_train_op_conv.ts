/**
 * The 3x3 layer conv of the training-step planner: forward (`x`, or a
 * concat `x ‖ x2` read in place), its bias and filter gradients, and its
 * input gradient (a flipped conv; written as the two parts of a concat
 * input by one split conv when neither part has a gradient yet).
 *
 * @module
 */
import type { GraphNode } from "../../net/graph.ts";
import { convShaderVec4, convTileN, convWideTile } from "../../kernels/conv/conv_wgsl.ts";
import { currentTuning } from "../../kernels/webgpu.ts";
import { scalarUnrolled } from "../../kernels/conv/scalar_tile_wgsl.ts";
import { convShader } from "../../kernels/engine_wgsl.ts";
import { partialCall, partialPlan, reduceCall } from "../../kernels/bn/bn_webgpu_kernels.ts";
import { filterGradCalls } from "../../kernels/conv/conv_grad_webgpu.ts";
import type { Seg } from "./trainer_builder.ts";
import { type MapRef, mapSize as size, type TrainLowering, type TrainOp } from "./_trainer_tape.ts";

/** What the planner's 3x3 engine conv takes besides its input. */
export interface PlanConvOptions {
  /** The filter's segment (HWIO). */
  wt: Seg;
  /** The bias segment (a zero segment for bias-free convs). */
  bias: Seg;
  /** Output channels. */
  co: number;
  /** Dilation (= padding). */
  dil: number;
  /** `wt` is the forward filter of the conv whose input gradient this is. @default false */
  flipped?: boolean;
  /** A second input read as channels after the first (a concat, in place). */
  x2?: MapRef;
  /**
   * A map added to the output in the conv's epilogue (`conv + bias + r`):
   * an input gradient summed into the gradient its input already has, with
   * no `grad.add` dispatch (the same sum in the same order, so the same bits).
   */
  residual?: MapRef;
}

/**
 * The engine conv (stride 1, "same"): `conv(x ‖ x2, wt) + bias`. A forward
 * conv of a mixed-precision step writes an f16 map (and reads its f16
 * input as such); an input gradient (`flipped`) reads and writes f32.
 */
export function planConv(l: TrainLowering, x: MapRef, o: PlanConvOptions): MapRef {
  const { wt, bias, co, dil, flipped = false, x2, residual } = o;
  const k = 3, { b, seg } = l;
  const half = l.half && !flipped;
  const out = l.alloc([x.shape[0], x.shape[1], x.shape[2], co], half);
  const [, hh, ww, c] = x.shape;
  const c2 = x2 ? x2.shape[3] : 0;
  const quads = c % 4 === 0 && c2 % 4 === 0 && co % 4 === 0, tm = currentTuning().convRows;
  const m = x.shape[0] * hh * ww, tn = convTileN(co);
  if ((flipped || x2) && !quads) {
    throw new RangeError(`Cannot plan a conv: current channels are ${c}+${c2} → ${co}`);
  }
  // A vec4 conv's maps are all f16 (its engine mode, with the f32 master filter) or all f32.
  const inHalf = !!x.half;
  if (quads && (inHalf !== half || (x2 && !!x2.half !== inHalf))) {
    throw new RangeError(
      `Cannot plan a conv: current maps are ${[x, x2].map((v) => v?.half ? "f16" : "f32")} → ${
        half ? "f16" : "f32"
      }`,
    );
  }
  const { convUnrolled: unrolled, convRegs, convPrefetch } = currentTuning();
  b.raw(
    quads
      ? convShaderVec4(tm, tn, {
        flipped,
        unrolled,
        ...(unrolled ? convWideTile(convRegs, tn) : {}),
        ...(unrolled && convPrefetch ? { prefetch: true } : {}),
        ...(half ? { half: true, halfFilter: false } : l.half ? { tiles16: true } : {}),
      })
      : convShader(tn, scalarUnrolled(unrolled), half || inHalf ? { inHalf, outHalf: half } : {}),
    [seg(out), seg(x), seg(x2 ?? x), seg(residual ?? x), wt, bias],
    [m, hh, ww, c, c2, co, k, dil, 0, residual ? 1 : 0, k * k * (c + c2), ((k - 1) / 2) * dil],
    [],
    [Math.ceil(co / tn), Math.ceil(m / (quads ? tm : 64)), 1],
    "conv",
  );
  return out;
}

/** The input gradient of a conv whose input was `c1 ‖ c2` channels, as the two parts' maps. */
function convSplit(l: TrainLowering, dy: MapRef, wt: Seg, c1: number, dil: number, c2: number) {
  const [nn, hh, ww, co] = dy.shape;
  const parts: [MapRef, MapRef] = [l.alloc([nn, hh, ww, c1]), l.alloc([nn, hh, ww, c2])];
  const m = nn * hh * ww, ci = c1 + c2, tn = convTileN(ci), { seg } = l;
  const { convRows, convUnrolled: unrolled, convRegs, convPrefetch } = currentTuning();
  if ([co, c1, c2].some((c) => c % 4 !== 0)) {
    throw new RangeError(`Cannot plan a split conv: current channels are ${co} → ${c1}+${c2}`);
  }
  l.b.raw(
    convShaderVec4(convRows, tn, {
      flipped: true,
      split: true,
      unrolled,
      ...(unrolled ? convWideTile(convRegs, tn) : {}),
      ...(unrolled && convPrefetch ? { prefetch: true } : {}),
      ...(l.half ? { tiles16: true } : {}),
    }),
    [seg(parts[0]), seg(dy), seg(dy), seg(dy), wt, l.b.zeros(ci), seg(parts[1])],
    [m, hh, ww, co, 0, ci, 3, dil, 0, 0, 9 * co, dil, c1],
    [],
    [Math.ceil(ci / tn), Math.ceil(m / convRows), 1],
    "conv",
    [6],
  );
  return parts;
}

/** The bias gradient: the column sums of `g` into `out`. */
export function colsum(l: TrainLowering, g: MapRef, out: Seg): void {
  const c = g.shape[3], rows = size(g) / c, { seg, call } = l;
  const part = l.alloc([partialPlan(rows, c).parts, 2, c, 1]);
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
}

/** The filter gradient of `key` (a `k`x`k` conv of `x ‖ x2`) from the output gradient `dy`. */
export function filterGrad(
  l: TrainLowering,
  x: MapRef,
  dy: MapRef,
  conv: { key: string; k: number; dil: number; x2?: MapRef },
): void {
  const { key, k, dil, x2 } = conv, { b, io, call } = l;
  const co = dy.shape[3], c2 = x2 ? x2.shape[3] : 0;
  const { gemm, sum } = filterGradCalls(x.shape, co, k, k, dil, c2, l.half);
  const inputs = x2 ? [io(x), io(x2), io(dy)] : [io(x), io(dy)];
  if (!sum) return void call(gemm, b.grad(key), inputs, "conv.filterGrad");
  const splits = gemm.spec.outputShape[0];
  const part = l.alloc([splits * k * k * (x.shape[3] + c2) * co, 1, 1, 1]);
  call(gemm, l.seg(part), inputs, "conv.filterGrad");
  call(
    sum,
    b.grad(key),
    [{ seg: l.seg(part), shape: [...gemm.spec.outputShape] }],
    "conv.sumSplits",
  );
}

/** The conv's input: `[x]`, or a concat's two parts `[x, x2]` (read in place). */
function convInputs(l: TrainLowering, node: GraphNode): { src: GraphNode; x: MapRef; x2?: MapRef } {
  const src = l.graph.nodes[node.inputs[0]];
  if (src.op !== "concat") return { src, x: l.maps[src.id] };
  if (src.inputs.length !== 2) {
    throw new RangeError(`Cannot plan a conv: current input concat has ${src.inputs.length} parts`);
  }
  return { src, x: l.maps[src.inputs[0]], x2: l.maps[src.inputs[1]] };
}

/** A conv → BN → ReLU layer's conv. */
export const LAYER_CONV: TrainOp = {
  forward(l, node) {
    const { b } = l, { x, x2 } = convInputs(l, node);
    const bias = b.hasParam(`${node.key}.bias`)
      ? b.param(`${node.key}.bias`)
      : b.zeros(node.channels);
    const wt = b.param(`${node.key}.weight`);
    l.maps[node.id] = planConv(l, x, { wt, bias, co: node.channels, dil: node.dilation!, x2 });
  },
  backward(l, node) {
    const { b, grads } = l, { src, x, x2 } = convInputs(l, node);
    const dy = grads.get(l.maps[node.id].id)!, key = node.key!, dil = node.dilation!;
    if (b.hasParam(`${key}.bias`)) colsum(l, dy, b.grad(`${key}.bias`));
    filterGrad(l, x, dy, { key: `${key}.weight`, k: 3, dil, x2 });
    if (src.op === "input") return;
    const wt = b.param(`${key}.weight`), c1 = x.shape[3], c2 = x2 ? x2.shape[3] : 0;
    if (x2 && !grads.has(x.id) && !grads.has(x2.id)) {
      // Both parts' first gradients: written apart by one conv.
      const [d1, d2] = convSplit(l, dy, wt, c1, dil, c2);
      grads.set(x.id, d1);
      grads.set(x2.id, d2);
      return;
    }
    // A concat input's gradient is split between its parts by the concat's backward.
    // When the input has a gradient already, the conv adds it in its epilogue.
    const target = l.maps[src.id], have = grads.get(target.id);
    const dx = planConv(l, dy, {
      wt,
      bias: b.zeros(c1 + c2),
      co: c1 + c2,
      dil,
      flipped: true,
      ...(have ? { residual: have } : {}),
    });
    grads.set(target.id, dx);
  },
};
