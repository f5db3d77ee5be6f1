/**
 * Pillow's `Image.resize(size, Image.LANCZOS)` on 8-bit images, reproduced
 * bit for bit: Lanczos-3 taps widened by the downscale factor (so it
 * antialiases), coefficients in 22-bit fixed point, a horizontal then a
 * vertical pass, each rounded and clipped to 0..255 (Pillow's
 * `ImagingResample` 8-bit path). rembg resizes its input and its masks this way.
 *
 * @module
 */

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function sinc(x: number): number {
  if (x === 0) return 1;
  const p = Math.PI * x;
  return Math.sin(p) / p;
}

function lanczos(x: number): number {
  return x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

/** Taps of every output index: `ksize` integer weights each, from input index `start[o]`. */
interface Coefficients {
  start: Int32Array;
  count: Int32Array;
  ksize: number;
  k: Float64Array;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` (22-bit fixed point). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Float64Array(outSize * ksize);
  const ss = 1 / filterScale;
  const pre = new Float64Array(ksize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      pre[x] = lanczos((x + xmin - center + 0.5) * ss);
      sum += pre[x];
    }
    start[o] = xmin;
    count[o] = xmax;
    for (let x = 0; x < xmax; x++) {
      const v = sum !== 0 ? pre[x] / sum : pre[x];
      k[o * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
  }
  return { start, count, ksize, k };
}

function clip8(ss: number): number {
  if (ss <= 0) return 0;
  if (ss >= 256 * ONE) return 255;
  return Math.floor(ss / ONE);
}

/** Resamples every row of an HWC array (taps contiguous, channels interleaved). */
function horizontal(src: Float32Array, h: number, w: number, c: number, ow: number): Float32Array {
  const { start, count, ksize, k } = coefficients(w, ow);
  const out = new Float32Array(h * ow * c);
  const acc = new Float64Array(c);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let o = 0; o < ow; o++) {
      acc.fill(HALF);
      const n = count[o], kb = o * ksize;
      let i = row + start[o] * c;
      if (c === 3) {
        let a0 = HALF, a1 = HALF, a2 = HALF;
        for (let t = 0; t < n; t++, i += 3) {
          const kk = k[kb + t];
          a0 += src[i] * kk;
          a1 += src[i + 1] * kk;
          a2 += src[i + 2] * kk;
        }
        acc[0] = a0, acc[1] = a1, acc[2] = a2;
      } else {
        for (let t = 0; t < n; t++, i += c) {
          for (let ch = 0; ch < c; ch++) acc[ch] += src[i + ch] * k[kb + t];
        }
      }
      const ob = (y * ow + o) * c;
      for (let ch = 0; ch < c; ch++) out[ob + ch] = clip8(acc[ch]);
    }
  }
  return out;
}

/** Resamples every column, a whole output row at a time (rows read contiguously). */
function vertical(src: Float32Array, h: number, w: number, c: number, oh: number): Float32Array {
  const { start, count, ksize, k } = coefficients(h, oh);
  const line = w * c;
  const out = new Float32Array(oh * line);
  const acc = new Float64Array(line);
  for (let o = 0; o < oh; o++) {
    acc.fill(HALF);
    const n = count[o], kb = o * ksize;
    for (let t = 0; t < n; t++) {
      const kk = k[kb + t];
      const row = (start[o] + t) * line;
      for (let x = 0; x < line; x++) acc[x] += src[row + x] * kk;
    }
    const ob = o * line;
    for (let x = 0; x < line; x++) out[ob + x] = clip8(acc[x]);
  }
  return out;
}

/**
 * Resizes an HWC image of integer values 0..255 (as floats) like Pillow's
 * LANCZOS on an 8-bit image; returns integers 0..255. A dimension whose size
 * does not change is not resampled (as in Pillow).
 *
 * @example
 * ```ts
 * import { resizeLanczos8 } from "./pil_resize.ts";
 * resizeLanczos8(new Float32Array([0, 255]), 1, 2, 1, 1, 1); // Float32Array [128]
 * ```
 */
export function resizeLanczos8(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
): Float32Array {
  let out = src;
  if (outW !== w) out = horizontal(out, h, w, c, outW);
  if (outH !== h) out = vertical(out, h, outW, c, outH);
  return out === src ? src.slice() : out;
}
