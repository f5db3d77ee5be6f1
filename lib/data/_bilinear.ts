/**
 * Host bilinear resize with the exact float32 semantics of PyTorch 1.13's CPU
 * `upsample_bilinear2d` (align_corners=False, explicit output size, no
 * antialias), spec §1.9.
 *
 * @module
 */

const f = Math.fround;

/** Per-output-index source rows/columns and weights along one axis. */
interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float32Array;
  l1: Float32Array;
}

function axis(inSize: number, outSize: number): Axis {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l0 = new Float32Array(outSize);
  const l1 = new Float32Array(outSize);
  // `static_cast<float>(input_size) / output_size`, in float.
  const scale = f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      // compute_source_index_and_lambda: same size copies.
      i0[o] = i1[o] = o;
      l0[o] = 1;
      l1[o] = 0;
      continue;
    }
    // area_pixel_compute_source_index: scale * (o + 0.5) - 0.5, clamped at 0.
    // Kept exact (double holds it exactly) rather than rounded to float: the
    // reference build contracts it with the later `src - index` into one FMA,
    // and this is what reproduces the fixtures bit for bit.
    let src = scale * (o + 0.5) - 0.5;
    if (src < 0) src = 0;
    // guard_index_and_lambda.
    const idx = Math.min(Math.floor(src), inSize - 1);
    const lambda = Math.min(Math.max(f(src - idx), 0), 1);
    i0[o] = idx;
    i1[o] = idx + (idx < inSize - 1 ? 1 : 0);
    l1[o] = lambda;
    l0[o] = f(1 - lambda);
  }
  return { i0, i1, l0, l1 };
}

/**
 * Bilinear resize of an HWC float32 image (any channel count) that reproduces
 * `F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=False)`
 * of PyTorch 1.13 on x86 CPU float32 **bit for bit** on the parity fixtures:
 * - `scale = in/out` rounded to float32; source index `scale·(o+0.5)−0.5`
 *   clamped at 0 (kept exact); `i0 = floor`, `i1 = i0+1` except at the edge;
 *   `λ1 = float(src − i0)`, `λ0 = float(1 − λ1)`; same-size axes copy.
 * - per output value `fma(λ0h, fma(λ0w, v00, λ1w·v01), λ1h·fma(λ0w, v10,
 *   λ1w·v11))` in float32 (the AVX2 build contracts `a*b + c*d` into an FMA;
 *   emulated with one exact product and one rounding, which can differ from
 *   a true FMA only through double rounding, ~2⁻²⁸ per value).
 * - no antialiasing, even when shrinking (torchvision ≤ 0.16 tensor resize).
 *
 * @example
 * ```ts
 * import { resizeBilinear } from "./transforms.ts";
 * const src = new Float32Array([0, 0.2, 0.4, 0.6, 0.8, 1]); // 2x3, 1 channel
 * resizeBilinear(src, 2, 3, 1, 4, 6).slice(0, 6); // ≈ [0, .05, .15, .25, .35, .4]
 * ```
 */
export function resizeBilinear(
  src: Float32Array,
  srcH: number,
  srcW: number,
  channels: number,
  outH: number,
  outW: number,
): Float32Array {
  for (
    const [name, v] of [["srcH", srcH], ["srcW", srcW], ["outH", outH], ["outW", outW]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot resize: current ${name} is ${v}`);
    }
  }
  if (src.length !== srcH * srcW * channels) {
    throw new RangeError(
      `Cannot resize: current data has ${src.length} values for ${srcH}x${srcW}x${channels}`,
    );
  }
  const out = new Float32Array(outH * outW * channels);
  const ya = axis(srcH, outH);
  const xa = axis(srcW, outW);
  const C = channels;
  const rowStride = srcW * C;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const r0 = ya.i0[y] * rowStride, r1 = ya.i1[y] * rowStride;
    const h0 = ya.l0[y], h1 = ya.l1[y];
    for (let x = 0; x < outW; x++) {
      const c0 = xa.i0[x] * C, c1 = xa.i1[x] * C;
      const w0 = xa.l0[x], w1 = xa.l1[x];
      for (let c = 0; c < C; c++) {
        // `t0 * w0 + t1 * w1` compiled as fma(t0, w0, t1 * w1): the first
        // product stays exact (24×24 bits fit a double), one rounding at the end.
        const top = f(src[r0 + c0 + c] * w0 + f(src[r0 + c1 + c] * w1));
        const bottom = f(src[r1 + c0 + c] * w0 + f(src[r1 + c1 + c] * w1));
        out[o++] = top * h0 + f(bottom * h1);
      }
    }
  }
  return out;
}
