/**
 * AdamW's per-parameter update on WebGPU as two fused element-wise kernels
 * instead of ~14 tfjs ops (cast, mul, add, sqrt, div, sub …). Both moments of
 * a parameter with `n` values live in ONE packed float32 tensor `mv` of shape
 * `[2·n]`: the first moment `m` in `mv[0, n)`, the second `v` in `mv[n, 2n)`.
 *
 *   m' = m·β1 + g·(1 − β1)      for i <  n        (U2NetAdamWMoments,
 *   v' = v·β2 + (g·g)·(1 − β2)  for i >= n         one dispatch over 2n)
 *   p' = p·(1 − lr·wd) − (m'·stepSize) / (sqrt(v')/bc2Sqrt + eps)
 *                                                   (U2NetAdamWParam)
 *
 * The second kernel reads the new moments written by the first, so every
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
import { tf } from "../../deps.ts";
import {
  f32,
  i32,
  registerWebgpuKernels,
  runCall,
  spreadGroups,
  type WgslCall,
} from "../webgpu.ts";

/** Kernel names (our own: no built-in tfjs kernel is replaced). */
export const ADAMW_KERNELS = {
  moments: "U2NetAdamWMoments",
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

/** Workgroup counts covering `n` elements, at most 65535 per dimension. */
const grid = (n: number) => spreadGroups(n, WG);

const MOMENTS_CODE = `
fn main() {
  let index = getGlobalIndex();
  let n = uniforms.count;
  if (index < n) {
    result[index] = mv[index] * uniforms.beta1 + g[index] * uniforms.oneMinusBeta1;
  } else if (index < 2 * n) {
    let gi = g[index - n];
    result[index] = mv[index] * uniforms.beta2 + (gi * gi) * uniforms.oneMinusBeta2;
  }
}`;

const PARAM_CODE = `
fn main() {
  let index = getGlobalIndex();
  if (index < uniforms.count) {
    let decayed = p[index] * uniforms.decay;
    let denom = sqrt(mv[index + uniforms.count]) / uniforms.bc2Sqrt + uniforms.eps;
    result[index] = decayed - (mv[index] * uniforms.stepSize) / denom;
  }
}`;

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
};

/** The moments program over packed `mv` `[2n]` and the gradient `g` `[n]`. */
export function momentsCall(n: number, s: AdamWStepScalars): WgslCall {
  return {
    spec: {
      key: "u2netAdamWMoments",
      outputShape: [2 * n],
      inputs: ["mv", "g"],
      workgroupSize: [WG, 1, 1],
      dispatch: grid(2 * n),
      uniforms: "count : i32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32,",
      code: MOMENTS_CODE,
    },
    uniforms: [i32(n), f32(s.beta1), f32(1 - s.beta1), f32(s.beta2), f32(1 - s.beta2)],
  };
}

/** The parameter program over `p` (`shape`) and the new packed moments. */
export function paramCall(shape: readonly number[], s: AdamWStepScalars): WgslCall {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    spec: {
      key: "u2netAdamWPackedParam",
      outputShape: [...shape],
      inputs: ["p", "mv"],
      workgroupSize: [WG, 1, 1],
      dispatch: grid(n),
      uniforms: "count : i32, decay : f32, stepSize : f32, bc2Sqrt : f32, eps : f32,",
      code: PARAM_CODE,
    },
    uniforms: [i32(n), f32(s.decay), f32(s.stepSize), f32(s.bc2Sqrt), f32(s.eps)],
  };
}

function momentsKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { mv, g } = inputs;
  const n = tf.util.sizeFromShape(g.shape);
  return runCall(backend, momentsCall(n, attrs as unknown as AdamWStepScalars), [mv, g]);
}

function paramKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { p, mv } = inputs;
  return runCall(backend, paramCall(p.shape, attrs as unknown as AdamWStepScalars), [p, mv]);
}

/** Registers the two kernels on the webgpu backend (idempotent). */
export function ensureAdamWKernels(): void {
  registerWebgpuKernels({
    [ADAMW_KERNELS.moments]: momentsKernel as unknown as tf.KernelFunc,
    [ADAMW_KERNELS.param]: paramKernel as unknown as tf.KernelFunc,
  });
}

/**
 * One AdamW step of one float32 parameter on the webgpu backend, in two
 * dispatches (plus a cast for a non-float32 gradient): assigns the new
 * parameter and returns the new packed moments; `mv` is not disposed.
 *
 * @param p The parameter (before weight decay).
 * @param g Its gradient, same shape.
 * @param mv The packed moments, shape `[2·p.size]` (m first, then v).
 * @param s The step's scalars.
 * @returns The new packed moments `mv'`.
 */
export function adamwStepWebgpu(
  p: tf.Variable,
  g: tf.Tensor,
  mv: tf.Tensor,
  s: AdamWStepScalars,
): tf.Tensor {
  ensureAdamWKernels();
  const engine = tf.engine();
  const attrs = { ...s };
  return tf.tidy(() => {
    const g32 = g.dtype === "float32" ? g : tf.cast(g, "float32");
    const newMv = engine.runKernel(ADAMW_KERNELS.moments, { mv, g: g32 }, attrs) as tf.Tensor;
    p.assign(engine.runKernel(ADAMW_KERNELS.param, { p, mv: newMv }, attrs) as tf.Tensor);
    return newMv;
  });
}

/** Packs moments shaped like a parameter into one `[2·size]` tensor (exact; any backend). */
export function packMoments(m: tf.Tensor, v: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.concat([tf.reshape(m, [-1]), tf.reshape(v, [-1])]));
}

/** Splits packed moments into `[m, v]` of `shape` (exact; any backend). */
export function unpackMoments(mv: tf.Tensor, shape: readonly number[]): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const [m, v] = tf.split(mv, 2);
    return [tf.reshape(m, [...shape]), tf.reshape(v, [...shape])];
  });
}

/** Host packing of `state()` moments: `[expAvg, expAvgSq]` in one new array. */
export function packHost(expAvg: ArrayLike<number>, expAvgSq: ArrayLike<number>): Float32Array {
  const data = new Float32Array(expAvg.length + expAvgSq.length);
  data.set(expAvg);
  data.set(expAvgSq, expAvg.length);
  return data;
}
