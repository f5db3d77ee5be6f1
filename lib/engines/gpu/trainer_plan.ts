/**
 * Plans the recorded training step (`gpu_trainer.ts`) for a fixed batch
 * shape: the train-mode forward (conv → BN → ReLU layers, pools, resizes,
 * concats, residual adds, side convs, fuse conv), the criterion, the
 * backward pass of every op in reverse (`_trainer_backward.ts`; gradients of
 * maps used twice are summed), the BN running-stat updates and the AdamW
 * dispatches. Parameters, their gradients and the running statistics live
 * in flat buffers with 256-byte aligned segments, bound by range. No GPU
 * calls here.
 *
 * @module
 */
import { buildBlocks } from "../../net/state_dict.ts";
import type { U2NetConfig } from "../../net/config.ts";
import type { ConvLayerSpec } from "../../net/rsu.ts";
import { walkStages } from "../../net/graph_walk.ts";
import { convShaderVec4, convTileN, convTuning } from "../../kernels/conv/conv_wgsl.ts";
import { scalarUnrolled } from "../../kernels/conv/scalar_tile_wgsl.ts";
import { convToOneShader } from "../../kernels/conv/conv_one_wgsl.ts";
import { convShader, POOL_SHADER, RESIZE_SHADER } from "../../kernels/engine_wgsl.ts";
import { flatGroups } from "./engine_plan.ts";
import type { WgslCall } from "../../kernels/webgpu.ts";
import {
  flatCall,
  partialCall,
  partialPlan,
  reduceCall,
} from "../../kernels/bn/bn_webgpu_kernels.ts";
import { runningStatCall } from "../../kernels/bn/running_stats_webgpu.ts";
import { BN_MOMENTUM } from "../../net/config.ts";
import * as K from "../../kernels/trainer_wgsl.ts";
import {
  bcePartialCall,
  foldParts,
  fuseGradPartialCall,
  fuseGradReduceCall,
  lossSumCall,
} from "./_trainer_folds.ts";
import { type ParamInfo, type Seg, TrainPlanBuilder } from "./trainer_builder.ts";
import { type MapRef, mapSize as size, type PlanConv, type TapeOp } from "./_trainer_tape.ts";
import { planBackward } from "./_trainer_backward.ts";

export type { ParamInfo, Seg, TrainDispatch, TrainPlan } from "./trainer_builder.ts";
export { adamUniform } from "./trainer_builder.ts";

/**
 * Plans one training step of `config` on an `[n, h, w, 3]` batch;
 * `params` lists every trainable parameter (in optimizer-group order) and
 * `groups` the number of optimizer groups.
 */
export function planTrainer(
  config: U2NetConfig,
  shape: readonly [number, number, number],
  params: readonly ParamInfo[],
  groups: number,
) {
  const [n, h, w] = shape;
  const b = new TrainPlanBuilder(params, groups, buildBlocks(config));
  const blocks = b.blocks;
  let next = 0;
  const alloc = (s: readonly number[]): MapRef => {
    const m: MapRef = { id: `a${next++}`, shape: [s[0], s[1], s[2], s[3]] };
    b.buffer(m.id, size(m));
    return m;
  };
  const seg = (m: MapRef): Seg => ({ buf: m.id, off: 0, len: size(m) });
  const io = (m: MapRef) => ({ seg: seg(m), shape: m.shape as number[] });
  const call = (c: WgslCall, out: Seg, inputs: { seg: Seg; shape: number[] }[], label: string) =>
    b.call(c, out, inputs, label);
  const tape: TapeOp[] = [];
  const image: MapRef = { id: "x", shape: [n, h, w, 3] };
  const mask: MapRef = { id: "y", shape: [n, h, w, 1] };
  b.buffer("x", n * h * w * 3);
  b.buffer("y", n * h * w);

  // Engine conv (stride 1, "same"): out = conv(x ‖ x2, Wt) + bias, the
  // input read as the channel concat of x and x2 (when given) in place.
  const conv: PlanConv = (x, { wt, bias, co, dil, flipped = false, x2 }) => {
    const k = 3;
    const out = alloc([x.shape[0], x.shape[1], x.shape[2], co]);
    const [, hh, ww, c] = x.shape;
    const c2 = x2 ? x2.shape[3] : 0;
    const quads = c % 4 === 0 && c2 % 4 === 0 && co % 4 === 0, tm = convTuning.rows;
    const m = x.shape[0] * hh * ww, tn = convTileN(co);
    if ((flipped || x2) && !quads) {
      throw new RangeError(`Cannot plan a conv: current channels are ${c}+${c2} → ${co}`);
    }
    b.raw(
      quads
        ? convShaderVec4(tm, tn, { flipped, unrolled: convTuning.unrolled })
        : convShader(tn, scalarUnrolled(convTuning.unrolled)),
      [seg(out), seg(x), seg(x2 ?? x), seg(x), wt, bias],
      [m, hh, ww, c, c2, co, k, dil, 0, 0, k * k * (c + c2), ((k - 1) / 2) * dil],
      [],
      [Math.ceil(co / tn), Math.ceil(m / (quads ? tm : 64)), 1],
      "conv",
    );
    return out;
  };

  // conv → BN → ReLU of x, or of the channel concat x ‖ x2 (decoders; no concat is stored).
  const layer = (spec: ConvLayerSpec, x: MapRef, first: boolean, x2?: MapRef): MapRef => {
    const p = spec.name;
    const bias = b.hasParam(`${p}.conv.bias`) ? b.param(`${p}.conv.bias`) : b.zeros(spec.outCh);
    const w = b.param(`${p}.conv.weight`);
    const y = conv(x, { wt: w, bias, co: spec.outCh, dil: spec.dilation, x2 });
    const rows = size(y) / spec.outCh, c = spec.outCh;
    const parts = partialPlan(rows, c).parts;
    const part = alloc([parts, 2, c, 1]);
    call(partialCall("moments", rows, c), seg(part), [io(y)], "bn.moments");
    // Batch stats laid out like the running ones: one update for every layer at the end.
    const stats = { ...b.state(p, c), buf: "bnStats" };
    const ps = { seg: seg(part), shape: [parts, 2, c] };
    call(reduceCall("stats", parts, c, rows), stats, [ps], "bn.stats");
    const z = alloc(y.shape);
    call(flatCall("normRelu", y.shape), seg(z), [
      io(y),
      { seg: stats, shape: [2, c] },
      { seg: b.param(`${p}.bn.weight`), shape: [c] },
      { seg: b.param(`${p}.bn.bias`), shape: [c] },
    ], "bn.normRelu");
    tape.push({ op: "layer", spec, x, x2, y, z, stats, first });
    return z;
  };
  const pool = (x: MapRef): MapRef => {
    const [nn, hh, ww, c] = x.shape;
    const oh = Math.ceil(hh / 2), ow = Math.ceil(ww / 2);
    const out = alloc([nn, oh, ow, c]);
    const s = size(out);
    b.raw(
      POOL_SHADER,
      [seg(out), seg(x)],
      [s, hh, ww, c, oh, ow],
      [],
      [...flatGroups(s), 1],
      "pool",
    );
    tape.push({ op: "pool", x, out });
    return out;
  };
  const resize = (x: MapRef, oh: number, ow: number): MapRef => {
    const [nn, hh, ww, c] = x.shape;
    if (hh === oh && ww === ow) return x;
    const out = alloc([nn, oh, ow, c]);
    const s = size(out);
    const f = Math.fround;
    b.raw(
      RESIZE_SHADER,
      [seg(out), seg(x)],
      [s, hh, ww, c, oh, ow, f(hh / oh), f(ww / ow)],
      [6, 7],
      [
        ...flatGroups(s),
        1,
      ],
      "resize",
    );
    tape.push({ op: "resize", x, out });
    return out;
  };

  const add = (a: MapRef, c: MapRef): MapRef => {
    const out = alloc(a.shape);
    call(K.sliceAddCall(out.shape, 0, true), seg(out), [io(a), io(c)], "add");
    tape.push({ op: "add", a, b: c, out });
    return out;
  };
  // Forward.
  const dec = walkStages(blocks, image, {
    layer: (spec, x, skip, residual) => {
      const z = layer(spec, x, x === image, skip);
      return residual ? add(z, residual) : z;
    },
    pool,
    resizeTo: (x, like) => resize(x, like.shape[1], like.shape[2]),
  });
  const sides: MapRef[] = [];
  for (let k = 0; k < blocks.sideChannels.length; k++) {
    const x = dec.pop()!;
    const key = `side_modules.${k}`;
    const s = alloc([x.shape[0], x.shape[1], x.shape[2], 1]);
    const m = size(s);
    b.raw(
      convToOneShader(),
      [seg(s), seg(x), b.param(`${key}.weight`), b.param(`${key}.bias`)],
      [m, x.shape[1], x.shape[2], x.shape[3], 3, 1, 1],
      [],
      [...flatGroups(m), 1],
      "side",
    );
    tape.push({ op: "side", key, x, out: s });
    sides.unshift(resize(s, h, w));
  }
  if (sides.length !== 6) {
    throw new RangeError(`Cannot plan training: current value is ${sides.length} side outputs`);
  }
  // The fuse weights and bias: one short range of the flat parameters (offsets relative to it).
  const range = b.fuseRange();
  const offW = b.offset("out_conv.weight") - range.off,
    offB = b.offset("out_conv.bias") - range.off;
  const all = { seg: { buf: "params", ...range }, shape: [range.len] };
  const fused = alloc(mask.shape);
  call(K.fuseCall(fused.shape, offW, offB), seg(fused), [...sides.map(io), all], "fuse");

  [fused, ...sides].forEach((map, k) => b.named.set(`logit${k}`, map.id));
  // Every BN layer's running mean and var in one dispatch (padding stays 0).
  const all2 = { buf: "state", off: 0, len: b.stateLen };
  call(runningStatCall([b.stateLen], BN_MOMENTUM, 0), { ...all2, buf: "stateNext" }, [
    { seg: all2, shape: [b.stateLen] },
    { seg: { ...all2, buf: "bnStats" }, shape: [b.stateLen] },
  ], "bn.running");
  // Criterion: partial sums of the seven terms, then the loss.
  const m = n * h * w;
  const [parts] = foldParts(m);
  const lossPart = alloc([7 * parts, 1, 1, 1]);
  [fused, ...sides].forEach((map, k) => {
    call(
      bcePartialCall(m, k * parts, 7 * parts),
      seg(lossPart),
      [io(map), io(mask)],
      "loss.partial",
    );
  });
  b.buffer("loss", 4);
  call(lossSumCall(m, 7), { buf: "loss", off: 0, len: 1 }, [{
    seg: seg(lossPart),
    shape: [7 * parts],
  }], "loss.sum");

  // Backward: the criterion and the fuse conv.
  const grads = new Map<string, MapRef>();
  const dF = alloc(mask.shape);
  call(K.bceGradCall(mask.shape, -1), seg(dF), [io(fused), io(mask), io(fused), all], "loss.grad");
  sides.forEach((s, k) => {
    const g = alloc(mask.shape);
    call(K.bceGradCall(mask.shape, offW + k), seg(g), [io(s), io(mask), io(dF), all], "loss.grad");
    grads.set(s.id, g);
  });
  b.named.set("dlogit0", dF.id);
  sides.forEach((s, k) => b.named.set(`dlogit${k + 1}`, grads.get(s.id)!.id));
  const fusePart = alloc([foldParts(m)[0], 7, 1, 1]);
  call(fuseGradPartialCall(m), seg(fusePart), [io(dF), ...sides.map(io)], "fuse.grad");
  call(
    fuseGradReduceCall(m, range.len, offW, offB),
    { buf: "grads", ...range },
    [{ seg: seg(fusePart), shape: [parts, 7] }],
    "fuse.grad",
  );

  // Backward through the tape.
  // The input gradient of a concat-input conv, written as its two parts.
  const convSplit = (dy: MapRef, wt: Seg, c1: number, c2: number, dil: number) => {
    const [nn, hh, ww, co] = dy.shape;
    const parts: [MapRef, MapRef] = [alloc([nn, hh, ww, c1]), alloc([nn, hh, ww, c2])];
    const m = nn * hh * ww, ci = c1 + c2, tn = convTileN(ci);
    if ([co, c1, c2].some((c) => c % 4 !== 0)) {
      throw new RangeError(`Cannot plan a split conv: current channels are ${co} → ${c1}+${c2}`);
    }
    b.raw(
      convShaderVec4(convTuning.rows, tn, {
        flipped: true,
        split: true,
        unrolled: convTuning.unrolled,
      }),
      [seg(parts[0]), seg(dy), seg(dy), seg(dy), wt, b.zeros(ci), seg(parts[1])],
      [m, hh, ww, co, 0, ci, 3, dil, 0, 0, 9 * co, dil, c1],
      [],
      [Math.ceil(ci / tn), Math.ceil(m / convTuning.rows), 1],
      "conv",
      [6],
    );
    return parts;
  };
  planBackward({ b, grads, alloc, seg, io, call, conv, convSplit, nextId: () => next++ }, tape);
  return b.finish();
}
