/**
 * Host-side preparation of a prediction for the metrics: reading the ground
 * truth and resizing the sigmoid map to its size with PyTorch's rounding.
 *
 * @module
 */
import { tf } from "../deps.ts";

const fr = Math.fround;

/** An 8-bit mask at its original size (0 background … 255 foreground), row-major. */
export interface MaskImage {
  /** `height·width` values in 0..255. */
  data: ArrayLike<number>;
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
}

/** Ground truth for `update`: a {@linkcode MaskImage}, or a 0..255 tensor `[h,w]`, `[h,w,1]` or `[1,h,w,1]`. */
export type GroundTruth = MaskImage | tf.Tensor;

/** Options of both metrics. */
export interface MetricOptions {
  /**
   * Min-max normalise each prediction, `(p − min)/(max − min)` at network
   * size, before resizing (the seed's commented-out post-norm; ORIG's
   * `normPRED`). A constant map is left unchanged instead of becoming NaN.
   * @default {false}
   */
  postNorm?: boolean;
}

/** Defaults of {@linkcode MetricOptions}. */
export const DEFAULT_METRIC_OPTIONS: Readonly<Required<MetricOptions>> = Object.freeze({
  postNorm: false,
});

/** Per output index along one axis: source indices and float32 weights. */
function axisWeights(inSize: number, outSize: number) {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l0 = new Float32Array(outSize);
  const l1 = new Float32Array(outSize);
  const scale = fr(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      [i0[o], i1[o], l0[o], l1[o]] = [o, o, 1, 0];
      continue;
    }
    const real = Math.max(scale * (o + 0.5) - 0.5, 0);
    i0[o] = Math.min(Math.trunc(real), inSize - 1);
    i1[o] = i0[o] + (i0[o] < inSize - 1 ? 1 : 0);
    l1[o] = Math.min(Math.max(real - i0[o], 0), 1);
    l0[o] = 1 - l1[o];
  }
  return { i0, i1, l0, l1 };
}

/**
 * Bilinear resize of a row-major single-channel float32 image on the host,
 * with PyTorch 1.13 CPU `interpolate(mode="bilinear", align_corners=False)`
 * rounding (half-pixel centres, no antialias, float32 lambdas and weights):
 * bit-exact where it matters for histogram bins, e.g. a constant-1 map comes
 * out slightly above 1 at some pixels and is then ignored by `histc`, as in
 * the seed. (`tf.image.resizeBilinear` agrees to ~1 ulp but not bit-exactly.)
 *
 * @example
 * ```ts
 * import { bilinearResize } from "./_prediction.ts";
 * console.log(bilinearResize([0, 1], [1, 2], [1, 4])); // [0, 0.25, 0.75, 1]
 * ```
 */
export function bilinearResize(
  src: ArrayLike<number>,
  [height, width]: readonly [number, number],
  [outHeight, outWidth]: readonly [number, number],
): Float32Array {
  if (src.length !== height * width || src.length === 0 || outHeight < 1 || outWidth < 1) {
    throw new RangeError(
      `Cannot resize: current value is ${src.length} values for ${height}x${width} -> ${outHeight}x${outWidth}`,
    );
  }
  const h = axisWeights(height, outHeight);
  const w = axisWeights(width, outWidth);
  const out = new Float32Array(outHeight * outWidth);
  for (let y = 0; y < outHeight; y++) {
    const r0 = h.i0[y] * width;
    const r1 = h.i1[y] * width;
    for (let x = 0; x < outWidth; x++) {
      const [c0, c1] = [w.i0[x], w.i1[x]];
      out[y * outWidth + x] = fr(h.l0[y] * w.l0[x]) * src[r0 + c0] +
        fr(h.l0[y] * w.l1[x]) * src[r0 + c1] +
        fr(h.l1[y] * w.l0[x]) * src[r1 + c0] +
        fr(h.l1[y] * w.l1[x]) * src[r1 + c1];
    }
  }
  return out;
}

/** Per-image min-max normalisation in float32; a constant map is returned unchanged. */
function minMaxNormalise(p: Float32Array): Float32Array {
  let [mi, ma] = [Infinity, -Infinity];
  for (const v of p) [mi, ma] = [Math.min(mi, v), Math.max(ma, v)];
  const range = fr(ma - mi);
  return range > 0 ? p.map((v) => fr(v - mi) / range) : p;
}

/**
 * Reads a `[1, H, W, 1]` sigmoid map and upsamples it to `height×width` on the
 * host with {@linkcode bilinearResize} (optionally min-max normalised first).
 * Does not dispose `pred`.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { resizePrediction } from "./_prediction.ts";
 * const p = tf.tensor4d([0, 1], [1, 1, 2, 1]);
 * console.log(await resizePrediction(p, 1, 4)); // [0, 0.25, 0.75, 1]
 * ```
 */
export async function resizePrediction(
  pred: tf.Tensor,
  height: number,
  width: number,
  options: MetricOptions = {},
): Promise<Float32Array> {
  const [b, h, w, c] = pred.shape;
  if (pred.rank !== 4 || b !== 1 || c !== 1) {
    throw new RangeError(
      `Cannot resize prediction: current value is shape [${pred.shape}], expected [1, H, W, 1]`,
    );
  }
  let data: Float32Array = Float32Array.from(await pred.data());
  if (options.postNorm ?? DEFAULT_METRIC_OPTIONS.postNorm) data = minMaxNormalise(data);
  return bilinearResize(data, [h, w], [height, width]);
}

/** Reads ground truth as an 8-bit mask image. */
export async function maskOf(gt: GroundTruth): Promise<MaskImage> {
  if (!(gt instanceof tf.Tensor)) {
    if (gt.data.length !== gt.width * gt.height) {
      throw new RangeError(
        `Cannot read mask: current value is ${gt.data.length} values for ${gt.width}x${gt.height}`,
      );
    }
    return gt;
  }
  const s = gt.shape;
  const ok = s.length === 2 || (s.length === 3 && s[2] === 1) ||
    (s.length === 4 && s[0] === 1 && s[3] === 1);
  if (!ok) {
    throw new RangeError(`Cannot read mask: current value is shape [${s}], expected [1, h, w, 1]`);
  }
  const [height, width] = s.length === 4 ? [s[1], s[2]] : [s[0], s[1]];
  return { data: await gt.data(), width, height };
}

/** The resized prediction and the mask values of one image. */
export async function prepare(
  pred: tf.Tensor,
  gt: GroundTruth,
  options: MetricOptions,
): Promise<[Float32Array, ArrayLike<number>]> {
  const mask = await maskOf(gt);
  return [await resizePrediction(pred, mask.height, mask.width, options), mask.data];
}
