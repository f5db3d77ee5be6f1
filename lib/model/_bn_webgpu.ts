/**
 * Train-mode BatchNorm + ReLU as fused WGSL kernels on tfjs' WebGPU backend,
 * with an analytic gradient, replacing ~14 forward and ~25 autodiff tfjs
 * kernels per layer of the tf-op path (`batchNormTrain` + `tf.relu`).
 *
 * Forward, 6 dispatches in two tfjs kernels:
 * `U2NetBnReluStats` (x → batch mean, unbiased variance) runs the partial
 * sums of x, the rough mean, the partial sums of d = x − rough and d², then
 * mean = rough + Σd/R and var = Σd²/R − (Σd/R)² (the same two-pass scheme
 * as `batchNormTrain`, against float32 cancellation); `U2NetBnReluForward`
 * writes y = max(0, (x − mean)·γ·rsqrt(var + eps) + β).
 *
 * Backward, 5 dispatches in `U2NetBnReluBackward`: with g = dy·(y > 0) and
 * x̂ = (x − mean)·rstd, partial sums of g and g·(x − mean); dβ = Σg,
 * dγ = Σg·x̂, per-channel coefficients; then
 * dx = γ·rstd·(g − Σg/R − x̂·Σ(g·x̂)/R) in one pass.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { BatchStats } from "./_ops.ts";
import { registerWebgpuKernels } from "./_webgpu.ts";
import { runFlat, runPartial, runReduce } from "./_bn_webgpu_kernels.ts";

type SaveFn = (tensors: tf.Tensor[]) => void;
type Info = tf.TensorInfo;

function rowsOf(shape: number[]): number {
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

/** A kernel's inputs, by name, in order. */
function take(inputs: Parameters<tf.KernelFunc>[0]["inputs"], names: string[]): Info[] {
  return names.map((name) => inputs[name] as Info);
}

/** Frees intermediate outputs of a kernel function. */
function release(backend: unknown, infos: Info[]): void {
  for (const info of infos) (backend as { disposeData(id: object): void }).disposeData(info.dataId);
}

const statsKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const [x] = take(inputs, ["x"]);
  const rows = rowsOf(x.shape);
  const channels = x.shape[x.shape.length - 1];
  const sums = runPartial(backend, "sum", [x], rows, channels);
  const rough = runReduce(backend, "rough", sums, [], rows);
  const devs = runPartial(backend, "dev", [x, rough], rows, channels);
  const mean = runReduce(backend, "mean", devs, [rough], rows);
  const varUnbiased = runReduce(backend, "varUnbiased", devs, [], rows);
  release(backend, [sums, rough, devs]);
  return [mean, varUnbiased];
};

const forwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const all = take(inputs, ["x", "mean", "varUnbiased", "gamma", "beta"]);
  return runFlat(backend, "normRelu", all, all[0].shape);
};

const backwardKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const [dy, y, x, mean, varUnbiased, gamma] = take(
    inputs,
    ["dy", "y", "x", "mean", "varUnbiased", "gamma"],
  );
  const rows = rowsOf(x.shape);
  const part = runPartial(backend, "grad", [dy, y, x, mean], rows, x.shape[x.shape.length - 1]);
  const dbeta = runReduce(backend, "dbeta", part, [], rows);
  const dgamma = runReduce(backend, "dgamma", part, [varUnbiased], rows);
  const coef = runReduce(backend, "coef", part, [varUnbiased, gamma], rows);
  const dx = runFlat(backend, "dx", [dy, y, x, mean, coef], x.shape);
  release(backend, [part, coef]);
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
 * Train-mode BatchNorm followed by ReLU on the `webgpu` backend, as fused
 * kernels: `y = relu(batchNorm(x))` with the batch mean and biased variance
 * over (N, H, W), differentiable in x, γ and β; `stats` (batch mean and
 * unbiased variance, for the running-stat update) are not differentiated.
 * Matches `relu(batchNormTrain(x, gamma, beta).y)` to float32 rounding.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { selectBackend } from "../backend.ts";
 * await selectBackend("webgpu");
 * const x = tf.randomNormal([2, 8, 8, 16]) as tf.Tensor4D;
 * const { y, stats } = batchNormReluTrainWebgpu(x, tf.ones([16]), tf.zeros([16]));
 * console.log(y.shape, stats.mean.shape); // [2, 8, 8, 16] [16]
 * ```
 */
export function batchNormReluTrainWebgpu(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): { y: tf.Tensor4D; stats: BatchStats } {
  register();
  const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs);
  // The stats kernel has no gradient: its outputs feed the forward kernel
  // only through the closure below, so the tape never differentiates it.
  const [mean, varUnbiased] = run("U2NetBnReluStats", { x }) as tf.Tensor1D[];
  const op = tf.customGrad(
    ((input: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, save: SaveFn) => {
      const y = run("U2NetBnReluForward", { x: input, mean, varUnbiased, gamma: g, beta: b });
      // Saved tensors outlive the tidy scopes the forward ran in.
      save([input, g, mean, varUnbiased, y as tf.Tensor]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor4D, [xs, gs, ms, vs, ys]: tf.Tensor[]) =>
          run("U2NetBnReluBackward", { dy, y: ys, x: xs, mean: ms, varUnbiased: vs, gamma: gs }),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const y = op(x, gamma, beta) as tf.Tensor4D;
  return { y, stats: { mean, varUnbiased } };
}
