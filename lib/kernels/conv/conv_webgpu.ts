/**
 * The stride-1 "same" conv of the training graph (forward, and the input
 * gradient as a conv with the flipped filter) on tfjs' WebGPU backend as our
 * vec4 implicit-GEMM kernel (`conv_wgsl.ts`, shared with the recorded
 * inference engine): one dispatch per conv at every size, where tfjs runs
 * im2col + a matrix product (two dispatches) when the map is small.
 * Channel counts must be multiples of 4 (`convFits`); others keep tf.conv2d.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import { convShaderVec4, convTileN } from "./conv_wgsl.ts";
import { convToOneShader } from "./conv_one_wgsl.ts";
import {
  currentTuning,
  i32,
  registerWebgpuKernels,
  runCall,
  runWgsl,
  type WgslCall,
} from "../webgpu.ts";

/** Kernel names: the GEMM conv, and the conv to or from one channel. */
export const CONV_KERNEL = "U2NetConv2D";
/** See {@linkcode CONV_KERNEL}. */
export const ONE_CHANNEL_KERNEL = "U2NetConvOneChannel";

/** Pixel side of the tiles (64: fewer, larger workgroups). */
const TILE_ROWS = 64;

/**
 * True when `x` [N,H,W,C] and a square odd filter [k,k,C,Co] suit our
 * kernels: channels in fours on both sides (the GEMM kernel), or one side
 * with a single channel and the other in fours (the side convs and their
 * input gradients: a per-pixel dot product / broadcast).
 */
export function convFits(x: readonly number[], w: readonly number[]): boolean {
  const [c, co] = [x[3], w[3]];
  const square = w[0] === w[1] && w[0] % 2 === 1;
  return square && (c % 4 === 0 || c === 1) && (co % 4 === 0 || co === 1) && !(c === 1 && co === 1);
}

/**
 * k x k conv from one channel to Co (in fours): one invocation per pixel and
 * 4 channels (`result` is vec4, `uniforms.size` counts vec4s).
 */
const FROM_ONE = /* wgsl */ `
fn main(index : i32) {
  if (index >= uniforms.size) { return; }
  let H = uniforms.xShape.y;
  let W = uniforms.xShape.z;
  let co = uniforms.outShape.w;
  let q = index % (co / 4);
  let pix = index / (co / 4);
  let px = pix % W;
  let rest = pix / W;
  let py = rest % H;
  let b = rest / H;
  var acc = vec4<f32>(0.0);
  for (var ky = 0; ky < uniforms.k; ky++) {
    let iy = py + ky * uniforms.dil - uniforms.pad;
    if (iy < 0 || iy >= H) { continue; }
    for (var kx = 0; kx < uniforms.k; kx++) {
      let ix = px + kx * uniforms.dil - uniforms.pad;
      if (ix < 0 || ix >= W) { continue; }
      let wb = (ky * uniforms.k + kx) * co + 4 * q;
      acc = fma(vec4<f32>(x[(b * H + iy) * W + ix]),
                vec4<f32>(w[wb], w[wb + 1], w[wb + 2], w[wb + 3]), acc);
    }
  }
  result[index] = acc;
}`;

/**
 * The one-channel conv program: to one channel (`convToOneShader`, tfjs mode)
 * or from one channel to Co in fours (`FROM_ONE`), x `[N,H,W,C]`, filter
 * `[k,k,C,Co]`.
 */
export function oneChannelCall(
  xShape: readonly number[],
  wShape: readonly number[],
  dilation: number,
): WgslCall {
  const [n, h, wd] = xShape;
  const [k, , , co] = wShape;
  const toOne = co === 1;
  return {
    spec: {
      key: toOne ? "u2netConvToOne" : "u2netConvFromOne",
      outputShape: toOne ? [n, h, wd, 1] : [n, h, wd, co],
      inputs: toOne ? ["X", "Wt"] : ["x", "w"],
      workgroupSize: [64, 1, 1],
      uniforms: "k : i32, dil : i32, pad : i32,",
      code: toOne ? convToOneShader({ tfjs: true }) : FROM_ONE,
      // FROM_ONE runs one invocation per 4 output channels.
      ...(toOne ? { components: { inputs: [4, 4], output: 1 } } : {
        invocations: n * h * wd * (co / 4),
        components: { inputs: [1, 1], output: 4 },
      }),
    },
    uniforms: [i32(k), i32(dilation), i32(((k - 1) / 2) * dilation)],
  };
}

function oneChannelKernel(
  { inputs, backend, attrs }: { inputs: tf.NamedTensorMap; backend: unknown; attrs?: unknown },
): tf.TensorInfo {
  const { x, w } = inputs as unknown as Record<string, tf.TensorInfo>;
  const { dilation } = attrs as { dilation: number };
  return runCall(backend, oneChannelCall(x.shape, w.shape, dilation), [x, w]);
}

function convKernel(
  { inputs, backend, attrs }: { inputs: tf.NamedTensorMap; backend: unknown; attrs?: unknown },
): tf.TensorInfo {
  const { x, w } = inputs as unknown as Record<string, tf.TensorInfo>;
  const { dilation } = attrs as { dilation: number };
  const [n, h, wd, c] = x.shape;
  const [k, , , co] = w.shape;
  const m = n * h * wd, tn = convTileN(co), unrolled = currentTuning().convUnrolled;
  return runWgsl(
    backend,
    {
      key: `u2netConv2D_${TILE_ROWS}x${tn}${unrolled ? "u" : ""}`,
      outputShape: [n, h, wd, co],
      inputs: ["A", "Wt"],
      components: { inputs: [4, 4], output: 4 },
      workgroupSize: [tn / 4, TILE_ROWS / 4, 1],
      dispatch: [Math.ceil(co / tn), Math.ceil(m / TILE_ROWS), 1],
      uniforms:
        "M : i32, H : i32, W : i32, C1 : i32, C2 : i32, Co : i32, k : i32, dil : i32, relu : i32, res : i32, K : i32, pad : i32,",
      code: convShaderVec4(TILE_ROWS, tn, { tfjs: true, unrolled }),
    },
    [x, w],
    [m, h, wd, c, 0, co, k, dilation, 0, 0, k * k * c, ((k - 1) / 2) * dilation].map(i32),
  );
}

/**
 * conv2d(x, w), stride 1, "same" padding with `dilation`, on our kernel
 * (call only on webgpu, when {@linkcode convFits}).
 */
export function conv2dWebgpu(x: tf.Tensor4D, w: tf.Tensor4D, dilation: number): tf.Tensor4D {
  registerWebgpuKernels({
    [CONV_KERNEL]: convKernel as unknown as tf.KernelFunc,
    [ONE_CHANNEL_KERNEL]: oneChannelKernel as unknown as tf.KernelFunc,
  });
  const name = x.shape[3] === 1 || w.shape[3] === 1 ? ONE_CHANNEL_KERNEL : CONV_KERNEL;
  return tf.engine().runKernel(name, { x, w }, { dilation }) as tf.Tensor4D;
}
