/**
 * AdamW's per-parameter update on WebGPU as three fused element-wise kernels
 * instead of ~14 tfjs ops (cast, mul, add, sqrt, div, sub …):
 *
 *   m' = m·β1 + g·(1 − β1)                          (U2NetAdamWFirstMoment)
 *   v' = v·β2 + (g·g)·(1 − β2)                      (U2NetAdamWSecondMoment)
 *   p' = p·(1 − lr·wd) − (m'·stepSize) / (sqrt(v')/bc2Sqrt + eps)
 *                                                   (U2NetAdamWParam)
 *
 * The third kernel reads the new moments written by the first two, so every
 * value is computed once, in the same float32 operation order as the tf-op
 * path (a GPU compiler may still contract a multiply-add into an FMA). The
 * scalars are computed in float64 on the host and passed as f32 uniforms,
 * rounded exactly like the scalar tensors of the tf-op path.
 *
 * The programs are grid programs with a 1-D element index spread over x and
 * y workgroups, so a parameter of any size fits the 65535-workgroup limit.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { registerWebgpuKernels, runWgsl, type WgslUniform } from "../model/_webgpu.ts";

/** Kernel names (our own: no built-in tfjs kernel is replaced). */
export const ADAMW_KERNELS = {
  firstMoment: "U2NetAdamWFirstMoment",
  secondMoment: "U2NetAdamWSecondMoment",
  param: "U2NetAdamWParam",
} as const;

/** The float64 host scalars of one AdamW step (each is rounded to f32 on upload). */
export interface AdamWStepScalars {
  /** β1. */
  beta1: number;
  /** β2. */
  beta2: number;
  /** `1 − lr·weightDecay`. */
  decay: number;
  /** `lr / (1 − β1^t)`. */
  stepSize: number;
  /** `sqrt(1 − β2^t)`. */
  bc2Sqrt: number;
  /** Denominator epsilon. */
  eps: number;
}

const WG = 128;
const MAX_GROUPS = 65535;

/** Workgroup counts covering `n` elements, at most 65535 per dimension. */
function grid(n: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / WG));
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

const f32 = (...data: number[]): WgslUniform => ({ type: "float32", data });
const i32 = (n: number): WgslUniform => ({ type: "int32", data: [n] });

const MOMENT_UNIFORMS = "count : i32, beta : f32, oneMinusBeta : f32,";

const FIRST_MOMENT_CODE = `
fn main() {
  let index = getGlobalIndex();
  if (index < uniforms.count) {
    result[index] = m[index] * uniforms.beta + g[index] * uniforms.oneMinusBeta;
  }
}`;

const SECOND_MOMENT_CODE = `
fn main() {
  let index = getGlobalIndex();
  if (index < uniforms.count) {
    let gi = g[index];
    result[index] = v[index] * uniforms.beta + (gi * gi) * uniforms.oneMinusBeta;
  }
}`;

const PARAM_CODE = `
fn main() {
  let index = getGlobalIndex();
  if (index < uniforms.count) {
    let decayed = p[index] * uniforms.decay;
    let denom = sqrt(v[index]) / uniforms.bc2Sqrt + uniforms.eps;
    result[index] = decayed - (m[index] * uniforms.stepSize) / denom;
  }
}`;

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
};

function momentKernel(key: string, name: "m" | "v", code: string) {
  return ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo => {
    const [x, g] = [inputs[name], inputs.g];
    const n = tf.util.sizeFromShape(x.shape);
    const beta = (attrs as { beta: number }).beta;
    return runWgsl(
      backend,
      {
        key,
        outputShape: [...x.shape],
        inputs: [name, "g"],
        workgroupSize: [WG, 1, 1],
        dispatch: grid(n),
        uniforms: MOMENT_UNIFORMS,
        code,
      },
      [x, g],
      [i32(n), f32(beta), f32(1 - beta)],
    );
  };
}

function paramKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { p, m, v } = inputs;
  const n = tf.util.sizeFromShape(p.shape);
  const s = attrs as unknown as AdamWStepScalars;
  return runWgsl(
    backend,
    {
      key: "u2netAdamWParam",
      outputShape: [...p.shape],
      inputs: ["p", "m", "v"],
      workgroupSize: [WG, 1, 1],
      dispatch: grid(n),
      uniforms: "count : i32, decay : f32, stepSize : f32, bc2Sqrt : f32, eps : f32,",
      code: PARAM_CODE,
    },
    [p, m, v],
    [i32(n), f32(s.decay), f32(s.stepSize), f32(s.bc2Sqrt), f32(s.eps)],
  );
}

/** Registers the three kernels on the webgpu backend (idempotent). */
export function ensureAdamWKernels(): void {
  registerWebgpuKernels({
    [ADAMW_KERNELS.firstMoment]: momentKernel(
      "u2netAdamWFirstMoment",
      "m",
      FIRST_MOMENT_CODE,
    ) as unknown as tf.KernelFunc,
    [ADAMW_KERNELS.secondMoment]: momentKernel(
      "u2netAdamWSecondMoment",
      "v",
      SECOND_MOMENT_CODE,
    ) as unknown as tf.KernelFunc,
    [ADAMW_KERNELS.param]: paramKernel as unknown as tf.KernelFunc,
  });
}

/**
 * One AdamW step of one float32 parameter on the webgpu backend, in three
 * dispatches. Nothing is assigned or disposed: the caller assigns the new
 * parameter and swaps the moments.
 *
 * @param p The parameter (before weight decay).
 * @param g Its float32 gradient, same shape.
 * @param m The first moment, same shape.
 * @param v The second moment, same shape.
 * @param s The step's scalars.
 * @returns New tensors `[m', v', p']`.
 */
export function adamwStepWebgpu(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  s: AdamWStepScalars,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  ensureAdamWKernels();
  const engine = tf.engine();
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, number>) =>
    engine.runKernel(name, inputs, attrs) as tf.Tensor;
  const newM = run(ADAMW_KERNELS.firstMoment, { m, g }, { beta: s.beta1 });
  const newV = run(ADAMW_KERNELS.secondMoment, { v, g }, { beta: s.beta2 });
  const newP = run(ADAMW_KERNELS.param, { p, m: newM, v: newV }, { ...s });
  return [newM, newV, newP];
}
