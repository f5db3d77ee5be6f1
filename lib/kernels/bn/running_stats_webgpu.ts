/**
 * BatchNorm's running-stat update on tfjs' WebGPU backend as one flat WGSL
 * kernel per buffer instead of three tfjs binary ops (mul, mul, add), reading
 * the batch statistic in place from the fused BatchNorm's packed `[2, C]`
 * stats (mean at `[0, C)`, unbiased variance at `[C, 2C)`) when given them:
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
import { tf } from "../../deps.ts";
import { f32, i32, registerWebgpuKernels, runCall, type WgslCall } from "../webgpu.ts";
import type { BatchStats } from "./bn_webgpu.ts";
import { packedStatsOf } from "./bn_webgpu.ts";

/** Kernel name (our own: no built-in tfjs kernel is replaced). */
const RUNNING_STAT_KERNEL = "U2NetRunningStat";

// f32(): a float32 tensor cast from bool/int32 keeps its i32 buffer in tfjs.
const RUNNING_STAT_WGSL = `
fn main(index : i32) {
  if (index < uniforms.size) {
    result[index] = f32(r[index]) * uniforms.keep + f32(s[uniforms.offset + index]) * uniforms.momentum;
  }
}
`;

interface RunningStatAttrs {
  momentum: number;
  /** Flat index of the batch statistic's first value in `s`. */
  offset: number;
}

/**
 * The running-stat program: `r·(1 − momentum) + s[offset + i]·momentum` for
 * each value i of a running buffer shaped `shape`.
 */
export function runningStatCall(
  shape: readonly number[],
  momentum: number,
  offset: number,
): WgslCall {
  return {
    spec: {
      key: "u2netRunningStat",
      outputShape: [...shape],
      inputs: ["r", "s"],
      workgroupSize: [64, 1, 1],
      uniforms: "keep : f32, momentum : f32, offset : i32,",
      code: RUNNING_STAT_WGSL,
    },
    uniforms: [f32(1 - momentum), f32(momentum), i32(offset)],
  };
}

let registered = false;

/** Registers the kernel on the webgpu backend (idempotent). */
function register(): void {
  if (registered) return;
  registerWebgpuKernels({
    [RUNNING_STAT_KERNEL]: ({ inputs, backend, attrs }) => {
      const { momentum, offset } = attrs as unknown as RunningStatAttrs;
      const r = inputs.r!;
      const s = inputs.s!;
      return runCall(backend, runningStatCall(r.shape, momentum, offset), [r, s]);
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
 * @param batch The batch statistic, same shape and dtype; or, with `row`,
 *   packed statistics `[K, running.size]` (e.g. the fused BatchNorm's
 *   `[2, C]` mean and unbiased variance) read in place at row `row`.
 * @param momentum PyTorch's BatchNorm momentum (weight of the batch statistic).
 * @param row The row of packed `batch` to read.
 * @returns A new tensor shaped like `running`.
 *
 * @example
 * ```ts
 * import { tf } from "../../deps.ts";
 * import { selectBackend } from "../../backend.ts";
 * await selectBackend("webgpu");
 * const r = runningStatWebgpu(tf.zeros([4]), tf.ones([4]), 0.1);
 * console.log(await r.data()); // ≈ [0.1, 0.1, 0.1, 0.1]
 * const v = runningStatWebgpu(tf.zeros([4]), tf.ones([2, 4]), 0.1, 1); // row 1
 * ```
 */
export function runningStatWebgpu(
  running: tf.Tensor,
  batch: tf.Tensor,
  momentum: number,
  row?: number,
): tf.Tensor {
  const fits = row === undefined
    ? tf.util.arraysEqual(running.shape, batch.shape)
    : batch.rank === 2 && batch.shape[1] === running.size && row >= 0 && row < batch.shape[0];
  if (!fits) {
    throw new RangeError(
      `Cannot update running stat: current value is a batch statistic shaped [${batch.shape}]` +
        `${
          row === undefined ? "" : ` (row ${row})`
        } for a running buffer shaped [${running.shape}]`,
    );
  }
  register();
  const inputs = { r: running, s: batch };
  const attrs = { momentum, offset: (row ?? 0) * running.size };
  return tf.engine().runKernel(RUNNING_STAT_KERNEL, inputs, attrs) as tf.Tensor;
}

/**
 * The update of the running mean (`row` 0) or variance (`row` 1) from a
 * layer's batch statistics with {@linkcode runningStatWebgpu}: the fused
 * BatchNorm's packed `[2, C]` stats are read in place (no slice), others
 * through `stats.mean` / `stats.varUnbiased`.
 *
 * @example
 * ```ts
 * import { tf } from "../../deps.ts";
 * import { selectBackend } from "../../backend.ts";
 * await selectBackend("webgpu");
 * const stats = { mean: tf.ones([4]), varUnbiased: tf.fill([4], 2) } as const;
 * const v = runningStatOfBatch(tf.zeros([4]), stats as never, 1, 0.1); // ≈ 0.2 each
 * ```
 */
export function runningStatOfBatch(
  running: tf.Tensor,
  stats: BatchStats,
  row: 0 | 1,
  momentum: number,
): tf.Tensor {
  const packed = packedStatsOf(stats);
  if (packed) return runningStatWebgpu(running, packed, momentum, row);
  return runningStatWebgpu(running, row ? stats.varUnbiased : stats.mean, momentum);
}
