/**
 * Mask clean-up as rembg's `post_process` (`rembg i -ppm`): an opening with a
 * 3x3 cross (OpenCV's 3x3 `MORPH_ELLIPSE`) removes specks and hairlines, a
 * 5x5 Gaussian blur (σ = 2, OpenCV's default border `BORDER_REFLECT_101`)
 * rounds the outline, and the result is thresholded: foreground where the
 * blurred 8-bit mask is ≥ {@linkcode POST_PROCESS_THRESHOLD}.
 *
 * @module
 */
import type { ProbabilityMap } from "./predictor.ts";

/** rembg's cut: blurred 8-bit values below this become 0, the rest 255 (`np.where(m < 127, 0, 255)`). */
export const POST_PROCESS_THRESHOLD = 127;

/** Side of the Gaussian kernel (rembg: `GaussianBlur(mask, (5, 5), 2)`). */
export const POST_PROCESS_BLUR_SIZE = 5;

/** σ of the Gaussian kernel. */
export const POST_PROCESS_SIGMA = 2;

function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

/** 3x3-cross min (erode) or max (dilate); outside pixels are ignored (OpenCV's default border). */
function cross(src: Uint8Array, w: number, h: number, max: boolean): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let v = src[i];
      const take = (j: number) => {
        v = max ? Math.max(v, src[j]) : Math.min(v, src[j]);
      };
      if (x > 0) take(i - 1);
      if (x < w - 1) take(i + 1);
      if (y > 0) take(i - w);
      if (y < h - 1) take(i + w);
      out[i] = v;
    }
  }
  return out;
}

function gaussianKernel(size: number, sigma: number): Float64Array {
  const k = new Float64Array(size), r = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) sum += k[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
  return k.map((v) => v / sum);
}

function blur(src: Uint8Array, w: number, h: number): Float64Array {
  const k = gaussianKernel(POST_PROCESS_BLUR_SIZE, POST_PROCESS_SIGMA);
  const r = (k.length - 1) / 2;
  const rows = new Float64Array(src.length), out = new Float64Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -r; t <= r; t++) s += k[t + r] * src[y * w + reflect101(x + t, w)];
      rows[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -r; t <= r; t++) s += k[t + r] * rows[reflect101(y + t, h) * w + x];
      out[y * w + x] = s;
    }
  }
  return out;
}

/**
 * rembg's mask post-processing on a probability map: the map is taken to 8
 * bits (`round(255·p)`, as the soft mask), opened with a 3x3 cross, blurred
 * (5x5, σ 2) and cut at {@linkcode POST_PROCESS_THRESHOLD}. Returns a map of
 * 0 and 1 (the mask is hard afterwards, as rembg's). The blur is computed in
 * float64 and rounded where OpenCV's 8-bit path uses fixed point; on the test
 * fixture (rembg's function run with OpenCV 4.6.0) every pixel matches.
 *
 * @example
 * ```ts
 * import { postProcessMask } from "./post_process.ts";
 * const data = new Float32Array(49);
 * data[24] = 1; // one foreground speck in a 7x7 background...
 * const out = postProcessMask({ width: 7, height: 7, data });
 * out.data[24]; // 0: ...is gone
 * ```
 */
export function postProcessMask(prob: ProbabilityMap): ProbabilityMap {
  const { width: w, height: h, data } = prob;
  if (!(w > 0 && h > 0 && data.length === w * h)) {
    throw new RangeError(
      `Cannot post-process mask: current data is ${data.length} values for ${w}x${h}`,
    );
  }
  const m8 = new Uint8Array(w * h);
  for (let i = 0; i < m8.length; i++) m8[i] = Math.round(Math.min(1, Math.max(0, data[i])) * 255);
  const opened = cross(cross(m8, w, h, false), w, h, true);
  const blurred = blur(opened, w, h);
  const out = new Float32Array(w * h);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.min(255, Math.round(blurred[i])) >= POST_PROCESS_THRESHOLD ? 1 : 0;
  }
  return { width: w, height: h, data: out };
}
