/**
 * One RSU builder for every height (7, 6, 5, 4) and for the dilated RSU-4F.
 *
 * A block is data (its convs in state-dict order, with pooling, dilation and
 * upsampling flags); `traceGraph` (graph.ts) turns blocks into the network graph.
 *
 * @module
 */
import type { StageConfig } from "./config.ts";

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
