/**
 * The stride-1 "same" conv of the training graph (forward, and the input
 * gradient as a conv with the flipped filter) on tfjs' WebGPU backend as our
 * vec4 implicit-GEMM kernel (`_conv_wgsl.ts`, shared with the recorded
 * inference engine): one dispatch per conv at every size, where tfjs runs
 * im2col + a matrix product (two dispatches) when the map is small.
 * Channel counts must be multiples of 4 (`convFits`); others keep tf.conv2d.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { convShaderVec4 } from "./_conv_wgsl.ts";
import { registerWebgpuKernels, runWgsl } from "./_webgpu.ts";

/** Kernel name. */
export const CONV_KERNEL = "U2NetConv2D";

/** Pixel side of the tiles (64: fewer, larger workgroups). */
const TILE_ROWS = 64;

/** True when `x` [N,H,W,C] and a square odd filter [k,k,C,Co] suit the kernel. */
export function convFits(x: readonly number[], w: readonly number[]): boolean {
  return x[3] % 4 === 0 && w[3] % 4 === 0 && w[0] === w[1] && w[0] % 2 === 1;
}

function tileN(co: number): number {
  return co <= 16 ? 16 : co <= 32 ? 32 : 64;
}

function convKernel(
  { inputs, backend, attrs }: { inputs: tf.NamedTensorMap; backend: unknown; attrs?: unknown },
): tf.TensorInfo {
  const { x, w } = inputs as unknown as Record<string, tf.TensorInfo>;
  const { dilation } = attrs as { dilation: number };
  const [n, h, wd, c] = x.shape;
  const [k, , , co] = w.shape;
  const m = n * h * wd, tn = tileN(co);
  const i32 = (v: number) => ({ type: "int32" as const, data: [v] });
  return runWgsl(
    backend,
    {
      key: `u2netConv2D_${TILE_ROWS}x${tn}`,
      outputShape: [n, h, wd, co],
      inputs: ["A", "Wt"],
      components: { inputs: [4, 4], output: 4 },
      workgroupSize: [tn / 4, TILE_ROWS / 4, 1],
      dispatch: [Math.ceil(co / tn), Math.ceil(m / TILE_ROWS), 1],
      uniforms:
        "M : i32, H : i32, W : i32, C1 : i32, C2 : i32, Co : i32, k : i32, dil : i32, relu : i32, res : i32, K : i32, pad : i32,",
      code: convShaderVec4(TILE_ROWS, tn, { tfjs: true }),
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
  registerWebgpuKernels({ [CONV_KERNEL]: convKernel as unknown as tf.KernelFunc });
  return tf.engine().runKernel(CONV_KERNEL, { x, w }, { dilation }) as tf.Tensor4D;
}
