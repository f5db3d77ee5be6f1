/**
 * Train-mode BatchNorm + ReLU as fused WGSL kernels on tfjs' WebGPU backend,
 * with an analytic gradient, replacing ~14 forward and ~25 autodiff tfjs
 * kernels per layer of the tf-op path (`batchNormTrain` + `tf.relu`).
 *
 * Forward, 3 dispatches in two tfjs kernels:
 * `U2NetBnReluStats` (x → packed `[2, C]` batch mean and unbiased variance)
 * runs one partial pass giving each (chunk of rows, channel) its count, mean
 * and M2 (Welford's update per row lane, Chan et al.'s merge of the lanes),
 * then one merge of the P chunks per channel with Chan's formula in chunk
 * order (deterministic; stable for offset means and large R, where Σx² −
 * (Σx)²/R would cancel); `U2NetBnReluForward` writes
 * y = max(0, (x − mean)·γ·rsqrt(var + eps) + β) reading the packed stats.
 * The running-stat update reads the packed stats in place (2 dispatches, see
 * `running_stats_webgpu.ts`).
 *
 * Backward, 5 dispatches in `U2NetBnReluBackward`: with g = dy·(y > 0) and
 * x̂ = (x − mean)·rstd (from the packed stats), partial sums of g and
 * g·(x − mean); dβ = Σg, dγ = Σg·x̂, per-channel coefficients; then
 * dx = γ·rstd·(g − Σg/R − x̂·Σ(g·x̂)/R) in one pass.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import { disposeInfos, registerWebgpuKernels } from "../webgpu.ts";
import { runFlat, runPartial, runReduce } from "./bn_webgpu_kernels.ts";

type SaveFn = (tensors: tf.Tensor[]) => void;
type Info = tf.TensorInfo;

function rowsOf(shape: number[]): number {
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

/** A kernel's inputs, by name, in order. */
function take(inputs: Parameters<tf.KernelFunc>[0]["inputs"], names: string[]): Info[] {
  return names.map((name) => inputs[name] as Info);
}

const statsKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const [x] = take(inputs, ["x"]);
  const rows = rowsOf(x.shape);
  const moments = runPartial(backend, "moments", [x], rows, x.shape[x.shape.length - 1]);
  const stats = runReduce(backend, "stats", moments, [], rows);
  disposeInfos(backend, [moments]);
  return stats;
};

const forwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const all = take(inputs, ["x", "stats", "gamma", "beta"]);
  return runFlat(backend, "normRelu", all, all[0].shape);
};

const backwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const [dy, y, x, stats, gamma] = take(inputs, ["dy", "y", "x", "stats", "gamma"]);
  const rows = rowsOf(x.shape);
  const part = runPartial(backend, "grad", [dy, y, x, stats], rows, x.shape[x.shape.length - 1]);
  const dbeta = runReduce(backend, "dbeta", part, [], rows);
  const dgamma = runReduce(backend, "dgamma", part, [stats], rows);
  const coef = runReduce(backend, "coef", part, [stats, gamma], rows);
  const dx = runFlat(backend, "dx", [dy, y, x, stats, coef], x.shape);
  disposeInfos(backend, [part, coef]);
  return [dx, dgamma, dbeta];
};

let registered = false;
function register(): void {
  if (registered) return;
  registerWebgpuKernels({
    U2NetBnReluStats: statsKernel,
    U2NetBnReluForward: forwardKernel,
    U2NetBnReluBackward: backwardKernel,
  });
  registered = true;
}

/**
 * Batch statistics of the fused kernels: `packed` is `[2, C]` (row 0 the
 * batch mean, row 1 the unbiased variance), read in place by the fused
 * running-stat update; `mean` and `varUnbiased` are sliced from it on first
 * access (one dispatch each), in the tidy scope current at that access.
 */
/** Batch statistics of a train-mode BatchNorm, for the running-stat update. */
export interface BatchStats {
  /** Per-channel batch mean. */
  mean: tf.Tensor1D;
  /** Per-channel unbiased batch variance (n/(n-1)). */
  varUnbiased: tf.Tensor1D;
}

/** Batch statistics packed as the fused kernels write them. */
export interface PackedBatchStats extends BatchStats {
  /** `[2, C]`: mean, unbiased variance. */
  packed: tf.Tensor2D;
}

function packedBatchStats(packed: tf.Tensor2D): PackedBatchStats {
  const rows: tf.Tensor1D[] = [];
  const row = (k: number) => {
    if (rows[k] === undefined || rows[k].isDisposed) {
      rows[k] = tf.tidy(() => tf.reshape(tf.slice(packed, [k, 0], [1, -1]), [-1]));
    }
    return rows[k];
  };
  return {
    packed,
    get mean() {
      return row(0);
    },
    get varUnbiased() {
      return row(1);
    },
  };
}

/** The packed `[2, C]` statistics of `stats` when the fused kernels produced them. */
export function packedStatsOf(stats: BatchStats): tf.Tensor2D | undefined {
  return (stats as Partial<PackedBatchStats>).packed;
}

/**
 * Train-mode BatchNorm followed by ReLU on the `webgpu` backend, as fused
 * kernels: `y = relu(batchNorm(x))` with the batch mean and biased variance
 * over (N, H, W), differentiable in x, γ and β; `stats` (batch mean and
 * unbiased variance, for the running-stat update) are not differentiated and
 * come packed (see {@linkcode PackedBatchStats}).
 * Matches `relu(batchNormTrain(x, gamma, beta).y)` to float32 rounding.
 *
 * @example
 * ```ts
 * import { tf } from "../../deps.ts";
 * import { selectBackend } from "../../backend.ts";
 * await selectBackend("webgpu");
 * const x = tf.randomNormal([2, 8, 8, 16]) as tf.Tensor4D;
 * const { y, stats } = batchNormReluTrainWebgpu(x, tf.ones([16]), tf.zeros([16]));
 * console.log(y.shape, stats.packed.shape, stats.mean.shape); // [2, 8, 8, 16] [2, 16] [16]
 * ```
 */
export function batchNormReluTrainWebgpu(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): { y: tf.Tensor4D; stats: PackedBatchStats } {
  register();
  const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs);
  // The stats kernel has no gradient: its output feeds the forward kernel
  // only through the closure below, so the tape never differentiates it.
  const stats = run("U2NetBnReluStats", { x }) as tf.Tensor2D;
  const op = tf.customGrad(
    ((input: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, save: SaveFn) => {
      const y = run("U2NetBnReluForward", { x: input, stats, gamma: g, beta: b });
      // Saved tensors outlive the tidy scopes the forward ran in.
      save([input, g, stats, y as tf.Tensor]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor4D, [xs, gs, ss, ys]: tf.Tensor[]) =>
          run("U2NetBnReluBackward", { dy, y: ys, x: xs, stats: ss, gamma: gs }),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const y = op(x, gamma, beta) as tf.Tensor4D;
  return { y, stats: packedBatchStats(stats) };
}
