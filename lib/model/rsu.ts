/**
 * One RSU builder for every height (7, 6, 5, 4) and for the dilated RSU-4F.
 *
 * A block is data (its convs in state-dict order, with pooling, dilation and
 * upsampling flags); {@linkcode rsuForward} runs any block.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { type GraphOps, walkRsu } from "./_graph_walk.ts";
import type { StageConfig } from "./config.ts";
import { maxPoolCeil, resizeBilinear } from "./_ops.ts";

/** One conv → BN → ReLU layer of a block. */
export interface ConvLayerSpec {
  /** State-dict prefix, e.g. `encode_modules.0.encode_modules.1`. */
  name: string;
  /** Input channels. */
  inCh: number;
  /** Output channels. */
  outCh: number;
  /** Dilation (= padding) of the 3x3 conv. */
  dilation: number;
  /** Max-pool (2x2, ceil mode) the input first (encoder layers). */
  pool: boolean;
  /** Resize the deeper input to the skip's size before concatenating (decoder layers). */
  upsample: boolean;
}

/** An RSU block as data. */
export interface RsuBlock {
  /** `conv_in`: input channels to output channels. */
  convIn: ConvLayerSpec;
  /** Encoder layers, top to bottom. */
  encoders: ConvLayerSpec[];
  /** Decoder layers, bottom to top. */
  decoders: ConvLayerSpec[];
}

/**
 * Builds the layer table of one stage (RSU-L or RSU-4F) under a prefix.
 *
 * @example
 * ```ts
 * import { buildRsu } from "./rsu.ts";
 * import { U2NET_LITE } from "./config.ts";
 * const block = buildRsu("encode_modules.0", U2NET_LITE.encoder[0]);
 * block.encoders.length; // 7
 * ```
 */
export function buildRsu(prefix: string, stage: StageConfig): RsuBlock {
  const { height: L, inCh, midCh: mid, outCh: out, dilated } = stage;
  if (!Number.isInteger(L) || L < 2 || (dilated && L !== 4)) {
    throw new RangeError(`Cannot build RSU: current height is ${L}`);
  }
  const layer = (
    kind: string,
    j: number | null,
    i: number,
    o: number,
    dilation: number,
    pool = false,
    upsample = false,
  ): ConvLayerSpec => ({
    name: j === null ? `${prefix}.${kind}` : `${prefix}.${kind}.${j}`,
    inCh: i,
    outCh: o,
    dilation,
    pool,
    upsample,
  });
  const convIn = layer("conv_in", null, inCh, out, 1);
  const encoders: ConvLayerSpec[] = [];
  const decoders: ConvLayerSpec[] = [];
  if (dilated) {
    [1, 2, 4, 8].forEach((d, j) =>
      encoders.push(layer("encode_modules", j, j ? mid : out, mid, d))
    );
    [4, 2, 1].forEach((d, j) =>
      decoders.push(layer("decode_modules", j, 2 * mid, j < 2 ? mid : out, d))
    );
  } else {
    encoders.push(layer("encode_modules", 0, out, mid, 1));
    for (let j = 1; j < L - 1; j++) encoders.push(layer("encode_modules", j, mid, mid, 1, true));
    encoders.push(layer("encode_modules", L - 1, mid, mid, 2));
    decoders.push(layer("decode_modules", 0, 2 * mid, mid, 1));
    for (let j = 1; j < L - 1; j++) {
      decoders.push(layer("decode_modules", j, 2 * mid, j < L - 2 ? mid : out, 1, false, true));
    }
  }
  return { convIn, encoders, decoders };
}

/** Runs one conv → BN → ReLU layer; supplied by the network. */
export type ConvLayerFn = (spec: ConvLayerSpec, x: tf.Tensor4D) => tf.Tensor4D;

/**
 * Forward pass of an RSU block: encoder stack, decoder with skips (deeper
 * input first, skip second), residual add of `conv_in`'s output.
 *
 * @example
 * ```ts ignore
 * const y = rsuForward(block, x, (spec, h) => convBnRelu(spec, h));
 * ```
 */
export function rsuForward(block: RsuBlock, x: tf.Tensor4D, run: ConvLayerFn): tf.Tensor4D {
  return walkRsu(block, x, tensorOps(run, (xs) => tf.concat(xs, 3), resizeBilinear, maxPoolCeil));
}

/**
 * The graph ops over tfjs tensors: `run` for the conv → BN → ReLU layer,
 * `cat` for decoder concats (tf.concat, or a faster kernel), and the two
 * resampling ops.
 */
export function tensorOps(
  run: ConvLayerFn,
  cat: (xs: tf.Tensor4D[]) => tf.Tensor4D,
  resize: (x: tf.Tensor4D, size: [number, number]) => tf.Tensor4D,
  pool: (x: tf.Tensor4D) => tf.Tensor4D,
): GraphOps<tf.Tensor4D> {
  return {
    layer: (spec, x, skip, residual) => {
      const y = run(spec, skip ? cat([x, skip]) : x);
      return residual ? tf.add(y, residual) as tf.Tensor4D : y;
    },
    pool,
    resizeTo: (x, like) => resize(x, [like.shape[1], like.shape[2]]),
  };
}
