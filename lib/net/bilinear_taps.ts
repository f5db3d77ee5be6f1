/**
 * The resize of the network (PyTorch's bilinear `align_corners=False`, no
 * antialias) as 1-D taps, in float32 arithmetic: the one definition the
 * tfjs reference (`bilinearMatrix`) and the CPU training kernels' reference
 * read.
 *
 * @module
 */

/**
 * For each output index of a 1-D resize from `inSize` to `outSize`: the two
 * input indices it reads and their weights, `[i0, i1, w0, w1]` (`i1 === i0`
 * at the last input).
 *
 * @example
 * ```ts
 * import { bilinearTaps } from "./bilinear_taps.ts";
 * bilinearTaps(2, 4)[0]; // [0, 1, 1, 0]
 * ```
 */
export function bilinearTaps(inSize: number, outSize: number): [number, number, number, number][] {
  const f = Math.fround, scale = f(inSize / outSize);
  const out: [number, number, number, number][] = [];
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const l1 = f(src - i0);
    out.push([i0, i0 < inSize - 1 ? i0 + 1 : i0, f(1 - l1), l1]);
  }
  return out;
}
