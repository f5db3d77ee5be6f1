/**
 * BatchNorm's running-stat update on tfjs' WebGPU backend as one flat WGSL
 * kernel per buffer instead of three tfjs binary ops (mul, mul, add):
 *
 *   r' = r·(1 − m) + s·m                          (U2NetRunningStat)
 *
 * with `r` the running mean (or variance), `s` the batch mean (or unbiased
 * variance) and `m` the momentum. The two products and the sum are the same
 * float32 operations, in the same order, as the tf-op path
 * `tf.add(tf.mul(r, 1 − m), tf.mul(s, m))`; both factors are computed in
 * float64 on the host and rounded to f32 on upload, like that path's scalar
 * tensors (a GPU compiler may still contract the multiply-add into an FMA).
 *
 * @module
 */
import { tf } from "../deps.ts";
import { registerWebgpuKernels, runWgsl } from "./_webgpu.ts";

/** Kernel name (our own: no built-in tfjs kernel is replaced). */
const RUNNING_STAT_KERNEL = "U2NetRunningStat";

// f32(): a float32 tensor cast from bool/int32 keeps its i32 buffer in tfjs.
const RUNNING_STAT_WGSL = `
fn main(index : i32) {
  if (index < uniforms.size) {
    result[index] = f32(r[index]) * uniforms.keep + f32(s[index]) * uniforms.momentum;
  }
}
`;

interface RunningStatAttrs {
  momentum: number;
}

let registered = false;

/** Registers the kernel on the webgpu backend (idempotent). */
function register(): void {
  if (registered) return;
  registerWebgpuKernels({
    [RUNNING_STAT_KERNEL]: ({ inputs, backend, attrs }) => {
      const { momentum } = attrs as unknown as RunningStatAttrs;
      const r = inputs.r!;
      const s = inputs.s!;
      return runWgsl(
        backend,
        {
          key: "u2netRunningStat",
          outputShape: [...r.shape],
          inputs: ["r", "s"],
          workgroupSize: [64, 1, 1],
          uniforms: "keep : f32, momentum : f32,",
          code: RUNNING_STAT_WGSL,
        },
        [r, s],
        [
          { type: "float32", data: [1 - momentum] },
          { type: "float32", data: [momentum] },
        ],
      );
    },
  });
  registered = true;
}

/**
 * One running-stat update `r·(1 − momentum) + s·momentum` on the `webgpu`
 * backend, in one dispatch. Nothing is assigned or disposed: the caller
 * assigns the result to the running buffer.
 *
 * @param running The running buffer (float32, e.g. `bn.running_mean`).
 * @param batch The batch statistic, same shape and dtype.
 * @param momentum PyTorch's BatchNorm momentum (weight of the batch statistic).
 * @returns A new tensor shaped like `running`.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { selectBackend } from "../backend.ts";
 * await selectBackend("webgpu");
 * const r = runningStatWebgpu(tf.zeros([4]), tf.ones([4]), 0.1);
 * console.log(await r.data()); // ≈ [0.1, 0.1, 0.1, 0.1]
 * ```
 */
export function runningStatWebgpu(
  running: tf.Tensor,
  batch: tf.Tensor,
  momentum: number,
): tf.Tensor {
  if (!tf.util.arraysEqual(running.shape, batch.shape)) {
    throw new RangeError(
      `Cannot update running stat: current value is a batch statistic shaped [${batch.shape}] ` +
        `for a running buffer shaped [${running.shape}]`,
    );
  }
  register();
  const inputs = { r: running, s: batch };
  return tf.engine().runKernel(RUNNING_STAT_KERNEL, inputs, { momentum }) as tf.Tensor;
}
