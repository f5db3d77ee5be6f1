/**
 * The foreground colours under an alpha matte, as pymatting's
 * `estimate_foreground_ml` (Germer et al. 2020, multilevel): start from the
 * mean colours of alpha > 0.9 and alpha < 0.1, then from 1x1 up to the full
 * size (sizes `round(side^(level/levels))`, nearest-neighbour resizes), sweep
 * each pixel's 2x2 solve for F and B in place (10 sweeps up to 32x32, then
 * 2). Its numba kernel's float32 storage and mixed float32/float64
 * arithmetic are followed (`Math.fround` where it rounds), so the colours
 * agree with pymatting's to a few float32 ulps.
 *
 * @module
 */

import type { Steps } from "./_steps.ts";

const REGULARIZATION = Math.fround(1e-5);
const SMALL_ITERATIONS = 10;
const BIG_ITERATIONS = 2;
const SMALL_SIZE = 32;
const f32 = Math.fround;

/** Python's `round` (half to even). */
function pyRound(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numba's nearest resize: source index `dst·src_size // dst_size`. */
function resizeNearest(
  src: Float32Array,
  size: [number, number],
  to: [number, number],
  depth: number,
): Float32Array {
  const [ws, hs] = size, [wd, hd] = to;
  const out = new Float32Array(wd * hd * depth);
  for (let y = 0; y < hd; y++) {
    const ys = Math.min(hs - 1, Math.floor((y * hs) / hd));
    for (let x = 0; x < wd; x++) {
      const xs = Math.min(ws - 1, Math.floor((x * ws) / wd));
      for (let c = 0; c < depth; c++) {
        out[(y * wd + x) * depth + c] = src[(ys * ws + xs) * depth + c];
      }
    }
  }
  return out;
}

/**
 * The foreground (h·w·3, float32, 0..1) of `image` (h·w·3, 0..1) under
 * `alpha` (h·w, 0..1).
 */
export function* estimateForeground(
  image: Float32Array,
  alpha: Float32Array,
  size: { width: number; height: number },
): Steps<Float32Array> {
  const { width: w0, height: h0 } = size, D = 3;
  const fMean = new Float32Array(D), bMean = new Float32Array(D);
  let fCount = 0, bCount = 0;
  for (let i = 0; i < w0 * h0; i++) {
    if (alpha[i] > 0.9) {
      for (let c = 0; c < D; c++) fMean[c] = f32(fMean[c] + image[i * D + c]);
      fCount++;
    }
    if (alpha[i] < 0.1) {
      for (let c = 0; c < D; c++) bMean[c] = f32(bMean[c] + image[i * D + c]);
      bCount++;
    }
  }
  for (let c = 0; c < D; c++) {
    fMean[c] = fMean[c] / (fCount + 1e-5);
    bMean[c] = bMean[c] / (bCount + 1e-5);
  }
  let F: Float32Array = Float32Array.from(fMean), B: Float32Array = Float32Array.from(bMean);
  let prev: [number, number] = [1, 1];
  const levels = Math.ceil(Math.log2(Math.max(w0, h0)));
  for (let level = 0; level <= levels; level++) {
    const w = levels ? pyRound(w0 ** (level / levels)) : w0;
    const h = levels ? pyRound(h0 ** (level / levels)) : h0;
    const img = resizeNearest(image, [w0, h0], [w, h], D);
    const a = resizeNearest(alpha, [w0, h0], [w, h], 1);
    F = resizeNearest(F, prev, [w, h], D);
    B = resizeNearest(B, prev, [w, h], D);
    const iterations = w <= SMALL_SIZE && h <= SMALL_SIZE ? SMALL_ITERATIONS : BIG_ITERATIONS;
    for (let it = 0; it < iterations; it++) yield* sweep(img, a, F, B, w, h);
    prev = [w, h];
  }
  return F;
}

const DX = [-1, 1, 0, 0], DY = [0, 0, -1, 1];

/** One in-place sweep of the 2x2 solves, rows then columns (numba's order). */
function* sweep(
  img: Float32Array,
  a: Float32Array,
  F: Float32Array,
  B: Float32Array,
  w: number,
  h: number,
): Steps<void> {
  const b0 = new Float32Array(3), b1 = new Float32Array(3);
  for (let y = 0; y < h; y++) {
    if (y % 64 === 63) yield;
    for (let x = 0; x < w; x++) {
      const i = y * w + x, a0 = a[i], a1 = 1 - a0;
      let a00 = f32(a0 * a0), a11 = a1 * a1;
      const a01 = a0 * a1;
      for (let c = 0; c < 3; c++) {
        b0[c] = a0 * img[i * 3 + c];
        b1[c] = a1 * img[i * 3 + c];
      }
      for (let d = 0; d < 4; d++) {
        const x2 = Math.max(0, Math.min(w - 1, x + DX[d]));
        const y2 = Math.max(0, Math.min(h - 1, y + DY[d]));
        const j = y2 * w + x2;
        const da = f32(REGULARIZATION + f32(Math.abs(f32(a0 - a[j]))));
        a00 = f32(a00 + da);
        a11 += da;
        for (let c = 0; c < 3; c++) {
          b0[c] = b0[c] + f32(da * F[j * 3 + c]);
          b1[c] = b1[c] + f32(da * B[j * 3 + c]);
        }
      }
      const inv = 1 / (a00 * a11 - a01 * a01);
      const m00 = inv * a11, m01 = inv * -a01, m11 = inv * a00;
      for (let c = 0; c < 3; c++) {
        const fc = m00 * b0[c] + m01 * b1[c], bc = m01 * b0[c] + m11 * b1[c];
        F[i * 3 + c] = Math.max(0, Math.min(1, fc));
        B[i * 3 + c] = Math.max(0, Math.min(1, bc));
      }
    }
  }
}
