/**
 * The U2-Net graph walk (spec §1.2-1.4), once, over any map type: the tfjs
 * forward (`rsu.ts`, `forward.ts`, `fast_eval.ts`), the recorded inference
 * engine's planner and the recorded training step's planner each supply the
 * ops. Decoder layers take their input as `x ‖ skip` (the deeper map first);
 * the last decoder layer of a block gets the block's residual (`conv_in`'s
 * output) to add after its ReLU.
 *
 * @module
 */
import type { ConvLayerSpec, RsuBlock } from "./rsu.ts";
import type { NetworkBlocks } from "./state_dict.ts";

/** What a walk needs: the layer and the two resampling ops. */
export interface GraphOps<M> {
  /**
   * conv → BN → ReLU of `x`, or of the channel concat `x ‖ skip`; plus
   * `residual` (after the ReLU) when given.
   */
  layer(spec: ConvLayerSpec, x: M, skip: M | undefined, residual: M | undefined): M;
  /** 2x2 max pool, stride 2, ceil mode. */
  pool(x: M): M;
  /** Bilinear resize of `x` to `like`'s height and width (the identity when equal). */
  resizeTo(x: M, like: M): M;
}

/** One RSU block on `x` (or on `x ‖ skip`, a decoder stage's input). */
export function walkRsu<M>(block: RsuBlock, x: M, ops: GraphOps<M>, skip?: M): M {
  const xIn = ops.layer(block.convIn, x, skip, undefined);
  const feats: M[] = [];
  let h = xIn;
  for (const spec of block.encoders) {
    h = ops.layer(spec, spec.pool ? ops.pool(h) : h, undefined, undefined);
    feats.push(h);
  }
  h = feats.pop()!;
  block.decoders.forEach((spec, i) => {
    const below = feats.pop()!;
    const deep = spec.upsample ? ops.resizeTo(h, below) : h;
    const last = i === block.decoders.length - 1;
    h = ops.layer(spec, deep, below, last ? xIn : undefined);
  });
  return h;
}

/** Every stage on the input; returns the side outputs' inputs `[De1, …, De5, En6]`. */
export function walkStages<M>(blocks: NetworkBlocks, x: M, ops: GraphOps<M>): M[] {
  const enc: M[] = [];
  let h = x;
  blocks.encoders.forEach((block, i) => {
    h = walkRsu(block, h, ops);
    enc.push(h);
    if (i !== blocks.encoders.length - 1) h = ops.pool(h);
  });
  h = enc.pop()!;
  const dec = [h];
  for (const block of blocks.decoders) {
    const skip = enc.pop()!;
    h = walkRsu(block, ops.resizeTo(h, skip), ops, skip);
    dec.unshift(h);
  }
  return dec;
}
