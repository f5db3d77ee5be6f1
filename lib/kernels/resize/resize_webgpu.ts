/**
 * WGSL kernels for two backward-pass helpers of `ops.ts` on tfjs' WebGPU
 * backend, each one dispatch with no host work:
 *
 * - the gradient of PyTorch's bilinear resize (`align_corners=False`), in
 *   gather form: every input pixel sums the output gradient over the output
 *   pixels whose interpolation touches it, with the weights of
 *   `bilinearMatrix()` recomputed in float32 on the GPU (instead of two host
 *   matrices uploaded per call, three transposes and two matrix products);
 * - the flipped, channel-transposed filter of the conv input gradient
 *   (instead of `tf.reverse` + `tf.transpose`).
 *
 * @module
 */
import { tf } from "../../deps.ts";
import { f32, registerWebgpuKernels, runCall, type WgslCall } from "../webgpu.ts";

// Weight of input `i` in output `o`'s interpolation along one axis: entry
// [o, i] of bilinearMatrix(n, outSize), the same float32 operations. `span`
// bounds the outputs that can touch input `i` (i0(o) ∈ {i−1, i}, i.e.
// i − 1 ≤ src(o) < i + 1, solved for o with `inv` = out/in and widened by
// one against rounding), then trims to the first and last nonzero weight.
const RESIZE_GRAD_WGSL = `
fn tap(o : i32, i : i32, scale : f32, n : i32) -> f32 {
  let src = max(scale * (f32(o) + 0.5) - 0.5, 0.0);
  let i0 = min(i32(floor(src)), n - 1);
  let i1 = select(i0, i0 + 1, i0 < n - 1);
  let l1 = src - f32(i0);
  var w = 0.0;
  if (i0 == i) { w = w + (1.0 - l1); }
  if (i1 == i) { w = w + l1; }
  return w;
}

fn span(i : i32, scale : f32, inv : f32, n : i32, outSize : i32) -> vec2<i32> {
  var lo = max(i32(floor((f32(i) - 0.5) * inv - 0.5)) - 1, 0);
  var hi = min(i32(ceil((f32(i) + 1.5) * inv - 0.5)) + 1, outSize - 1);
  while (lo <= hi && tap(lo, i, scale, n) == 0.0) { lo = lo + 1; }
  while (hi > lo && tap(hi, i, scale, n) == 0.0) { hi = hi - 1; }
  return vec2<i32>(lo, hi);
}

fn main(index : i32) {
  if (index < uniforms.size) {
    let p = getCoordsFromIndex(index); // b, i, j, c of dX
    let n = uniforms.outShape;
    let oh = uniforms.dyShape.y;
    let ow = uniforms.dyShape.z;
    let ry = span(p.y, uniforms.scaleH, uniforms.invH, n.y, oh);
    let rx = span(p.z, uniforms.scaleW, uniforms.invW, n.z, ow);
    var acc = 0.0;
    for (var oy = ry.x; oy <= ry.y; oy = oy + 1) {
      let wy = tap(oy, p.y, uniforms.scaleH, n.y);
      let row = (p.x * oh + oy) * ow;
      var s = 0.0;
      for (var ox = rx.x; ox <= rx.y; ox = ox + 1) {
        s = s + tap(ox, p.z, uniforms.scaleW, n.z) * dy[(row + ox) * n.w + p.w];
      }
      acc = acc + wy * s;
    }
    result[index] = acc;
  }
}
`;

// w'[ky,kx,co,ci] = w[kh−1−ky, kw−1−kx, ci, co]: a pure copy, exact.
const FLIP_FILTER_WGSL = `
fn main(index : i32) {
  if (index < uniforms.size) {
    let p = getCoordsFromIndex(index); // ky, kx, co, ci
    let s = uniforms.wShape; // kh, kw, ci, co
    let tapIndex = (s.x - 1 - p.x) * s.y + (s.y - 1 - p.y);
    result[index] = w[(tapIndex * s.z + p.w) * s.w + p.z];
  }
}
`;

interface ResizeGradAttrs {
  inH: number;
  inW: number;
}

/**
 * The resize-gradient program: dy `[B,OH,OW,C]` → dx `[B,inH,inW,C]`; with
 * `accumulate`, a second input `R` (the gradient the input already has) is
 * added to each value, as a separate sum would (`dx + R`).
 */
export function resizeGradCall(
  dyShape: readonly number[],
  inH: number,
  inW: number,
  accumulate = false,
): WgslCall {
  const [b, oh, ow, c] = dyShape;
  const f = Math.fround;
  return {
    spec: {
      key: accumulate ? "u2netResizeBilinearGradAcc" : "u2netResizeBilinearGrad",
      outputShape: [b, inH, inW, c],
      inputs: accumulate ? ["dy", "R"] : ["dy"],
      workgroupSize: [64, 1, 1],
      uniforms: "scaleH : f32, scaleW : f32, invH : f32, invW : f32,",
      code: accumulate
        ? RESIZE_GRAD_WGSL.replace("result[index] = acc;", "result[index] = acc + R[index];")
        : RESIZE_GRAD_WGSL,
    },
    uniforms: [f32(f(inH / oh)), f32(f(inW / ow)), f32(f(oh / inH)), f32(f(ow / inW))],
  };
}

/** The filter flip program: w `[kh,kw,ci,co]` → `[kh,kw,co,ci]` flipped in space. */
export function flipFilterCall(wShape: readonly number[]): WgslCall {
  const [kh, kw, ci, co] = wShape;
  return {
    spec: {
      key: "u2netFlipFilter",
      outputShape: [kh, kw, co, ci],
      inputs: ["w"],
      workgroupSize: [64, 1, 1],
      code: FLIP_FILTER_WGSL,
    },
    uniforms: [],
  };
}

registerWebgpuKernels({
  U2NetResizeBilinearGrad: ({ inputs, backend, attrs }) => {
    const { inH, inW } = attrs as unknown as ResizeGradAttrs;
    const dy = inputs.dy!;
    return runCall(backend, resizeGradCall(dy.shape, inH, inW), [dy]);
  },
  U2NetFlipFilter: ({ inputs, backend }) => {
    const w = inputs.w!;
    return runCall(backend, flipFilterCall(w.shape), [w]);
  },
});

/**
 * Gradient of `resizeBilinear()` (PyTorch semantics, `align_corners=False`)
 * from `[b, oh, ow, c]` back to `[b, inH, inW, c]`, as one WebGPU dispatch.
 * WebGPU backend only.
 *
 * @example
 * ```ts
 * import { tf } from "../../deps.ts";
 * import { resizeBilinearGradWebgpu } from "./resize_webgpu.ts";
 * const dy = tf.ones([1, 18, 18, 4]) as tf.Tensor4D; // on the webgpu backend
 * const dx = resizeBilinearGradWebgpu(dy, 9, 9); // [1, 9, 9, 4]
 * ```
 */
export function resizeBilinearGradWebgpu(
  dy: tf.Tensor4D,
  inH: number,
  inW: number,
): tf.Tensor4D {
  return tf.engine().runKernel("U2NetResizeBilinearGrad", { dy }, { inH, inW }) as tf.Tensor4D;
}

/**
 * The conv input gradient's filter, `[kh, kw, ci, co]` → `[kh, kw, co, ci]`
 * flipped in space: `tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])` as
 * one WebGPU dispatch. WebGPU backend only.
 *
 * @example
 * ```ts
 * import { tf } from "../../deps.ts";
 * import { flipFilterWebgpu } from "./resize_webgpu.ts";
 * const w = tf.ones([3, 3, 8, 16]) as tf.Tensor4D; // on the webgpu backend
 * const flipped = flipFilterWebgpu(w); // [3, 3, 16, 8]: then tf.conv2d(dy, flipped, …)
 * ```
 */
export function flipFilterWebgpu(w: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().runKernel("U2NetFlipFilter", { w }) as tf.Tensor4D;
}
