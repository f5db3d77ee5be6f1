/**
 * The mean BCE-with-logits of one logit map on tfjs' WebGPU backend, with
 * one WGSL kernel forward (plus tfjs' mean) and one backward, instead of ~10
 * tfjs kernels forward and ~20 autodiff kernels backward per map:
 *
 *   l = (1 − y)·x + m + log(exp(−m) + exp(−x − m)),  m = max(−x, 0)
 *                                                   (U2NetBceWithLogits)
 *   dx = (sigmoid(x) − y)·(dy / n)                  (U2NetBceWithLogitsGrad)
 *
 * The forward is PyTorch 1.13's stable form in the same float32 operation
 * order as `bceWithLogits`' tf ops (a GPU compiler may still contract a
 * multiply-add into an FMA); `tf.mean` then averages it as before. The
 * gradient folds the mean's `dy / n` into the analytic derivative, with a
 * stable sigmoid (`1/(1 + exp(−x))` for x ≥ 0, `exp(x)/(1 + exp(x))` else),
 * so it is exact where autodiff of the stable form cancels (|x| ≫ 1).
 *
 * Both are grid programs with a 1-D element index spread over x and y
 * workgroups, so a map of any size fits the 65535-workgroup limit.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import { i32, registerWebgpuKernels, runWgsl, spreadGroups } from "../webgpu.ts";

/** Kernel names (our own: no built-in tfjs kernel is replaced). */
const BCE_KERNELS = {
  forward: "U2NetBceWithLogits",
  backward: "U2NetBceWithLogitsGrad",
} as const;

const WG = 128;

/** Workgroup counts covering `n` elements, at most 65535 per dimension. */
const grid = (n: number) => spreadGroups(n, WG);

/** WGSL: PyTorch's stable BCE-with-logits term and a stable sigmoid (shared with the trainer). */
export const BCE_WGSL = `
fn bceTerm(xi : f32, yi : f32) -> f32 {
  let negX = -xi;
  let m = select(negX, 0.0, negX < 0.0);
  let linear = (1.0 - yi) * xi;
  let logTerm = log(exp(-m) + exp(negX - m));
  return (linear + m) + logTerm;
}

fn stableSigmoid(v : f32) -> f32 {
  if (v >= 0.0) {
    return 1.0 / (1.0 + exp(-v));
  }
  let e = exp(v);
  return e / (1.0 + e);
}`;

// Inputs are read through f32(): a float32 tensor cast from bool or int32
// keeps its i32 buffer on tfjs' WebGPU backend (`tf.cast` is an identity
// there), so the generated header may declare it array<i32>.
// relu(−x) as tfjs writes it: select(a, 0, a < 0).
const FORWARD_WGSL = `${BCE_WGSL}
fn main() {
  let index = getGlobalIndex();
  if (index < uniforms.count) {
    result[index] = bceTerm(f32(x[index]), f32(y[index]));
  }
}`;

const BACKWARD_WGSL = `${BCE_WGSL}
fn main() {
  let index = getGlobalIndex();
  if (index < uniforms.count) {
    let scale = dy[0] / f32(uniforms.count);
    result[index] = (stableSigmoid(f32(x[index])) - f32(y[index])) * scale;
  }
}`;

function program(key: string, code: string, shape: number[], inputs: string[]) {
  const n = tf.util.sizeFromShape(shape);
  const spec = {
    key,
    outputShape: [...shape],
    inputs,
    workgroupSize: [WG, 1, 1] as [number, number, number],
    dispatch: grid(n),
    uniforms: "count : i32,",
    code,
  };
  return { spec, uniforms: [i32(n)] };
}

let registered = false;

/** Registers both kernels on the webgpu backend (idempotent). */
function register(): void {
  if (registered) return;
  registerWebgpuKernels({
    [BCE_KERNELS.forward]: ({ inputs, backend }) => {
      const [x, y] = [inputs.x!, inputs.y!];
      const p = program("u2netBceWithLogits", FORWARD_WGSL, x.shape, ["x", "y"]);
      return runWgsl(backend, p.spec, [x, y], p.uniforms);
    },
    [BCE_KERNELS.backward]: ({ inputs, backend }) => {
      const [x, y, dy] = [inputs.x!, inputs.y!, inputs.dy!];
      const p = program("u2netBceWithLogitsGrad", BACKWARD_WGSL, x.shape, ["x", "y", "dy"]);
      return runWgsl(backend, p.spec, [x, y, dy], p.uniforms);
    },
  });
  registered = true;
}

type SaveFn = (tensors: tf.Tensor[]) => void;

/**
 * `tf.mean(bceWithLogits(x, y))` on the `webgpu` backend: one fused kernel
 * for the per-element loss, tfjs' mean, and one fused kernel for the
 * gradient w.r.t. `x`. The target is a constant: no gradient flows to it
 * (differentiating w.r.t. `y` through this function throws).
 *
 * @param x Logits, float32.
 * @param y Targets, float32, same shape as `x` (no broadcasting).
 * @returns The mean loss, a scalar differentiable in `x`.
 *
 * @example
 * ```ts
 * import { tf } from "../../deps.ts";
 * import { selectBackend } from "../../backend.ts";
 * await selectBackend("webgpu");
 * const l = meanBceWithLogitsWebgpu(tf.tensor1d([-3, 0, 2.5]), tf.tensor1d([0, 0.5, 1]));
 * console.log(await l.data()); // ≈ [0.2735414]
 * ```
 */
export function meanBceWithLogitsWebgpu(x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  register();
  const engine = tf.engine();
  const op = tf.customGrad(
    ((logits: tf.Tensor, save: SaveFn) => {
      const perElement = engine.runKernel(BCE_KERNELS.forward, { x: logits, y }) as tf.Tensor;
      // Saved tensors outlive the tidy scope the forward runs in.
      save([logits, y]);
      return {
        value: tf.mean(perElement),
        gradFunc: (dy: tf.Scalar, [xs, ys]: tf.Tensor[]) =>
          engine.runKernel(BCE_KERNELS.backward, { x: xs, y: ys, dy }) as tf.Tensor,
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op(x) as tf.Scalar;
}
