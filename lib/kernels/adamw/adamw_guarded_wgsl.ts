/**
 * AdamW for a recorded training step (`GpuTrainer`) as ONE fused, in-place,
 * guarded dispatch per range of parameters (a chunk of one optimizer group:
 * many parameter tensors packed in a flat buffer, so one dispatch updates
 * them all). Per value, in the float32 operation order of the two kernels
 * of `adamw_webgpu.ts` (the moments, then the parameter from the new
 * moments):
 *
 *   m' = m·β1 + g·(1 − β1)
 *   v' = v·β2 + (g·g)·(1 − β2)
 *   p' = p·(1 − lr·wd) − (m'·stepSize) / (sqrt(v')/bc2Sqrt + eps)
 *
 * The moments `mv` (m in `[0, n)`, v in `[n, 2n)`) and the parameters are
 * updated in place, so no copy follows. The dispatch does nothing when the
 * step's loss is not finite or the latch of `loss_guard_wgsl.ts` is set (an
 * earlier step's loss was not finite), and sets the latch in the first case.
 *
 * Bindings: `p` (read-write), `mv` (read-write), `g`, `loss` (its bits as
 * `u32`), `guard` (read-write, atomic), then the uniforms
 * ({@linkcode guardedAdamWUniform}).
 *
 * @module
 */
import type { AdamWStepScalars } from "./adamw_webgpu.ts";
import { FLAT_INDEX_WGSL, GUARD_WORKGROUP, NON_FINITE_WGSL } from "../loss/loss_guard_wgsl.ts";

/**
 * WGSL: one value's AdamW update from its gradient `gi` (in scope with
 * `index`, `n`, `p`, `mv` and the uniforms), the moments then the parameter,
 * given WGSL expressions for the step size and `sqrt(1 − β2^t)`; shared by
 * this dispatch and the loss-scaled one (`adamw_amp_wgsl.ts`).
 *
 * @example
 * ```ts
 * import { adamWUpdateWgsl } from "./adamw_guarded_wgsl.ts";
 * console.log(adamWUpdateWgsl("s", "b").includes("(m * s) / denom")); // true
 * ```
 */
export function adamWUpdateWgsl(stepSize: string, bc2Sqrt: string): string {
  return `  let m = mv[index] * uniforms.beta1 + gi * uniforms.oneMinusBeta1;
  let v = mv[index + n] * uniforms.beta2 + (gi * gi) * uniforms.oneMinusBeta2;
  mv[index] = m;
  mv[index + n] = v;
  let decayed = p[index] * uniforms.decay;
  let denom = sqrt(v) / ${bc2Sqrt} + uniforms.eps;
  p[index] = decayed - (m * ${stepSize}) / denom;`;
}

/**
 * The WGSL of the fused, guarded, in-place AdamW dispatch.
 *
 * @example
 * ```ts
 * import { GUARDED_ADAMW_WGSL } from "./adamw_guarded_wgsl.ts";
 * console.log(GUARDED_ADAMW_WGSL.includes("atomicStore")); // true
 * ```
 */
export const GUARDED_ADAMW_WGSL = `
struct Uniforms {
  count : u32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32,
  oneMinusBeta2 : f32, decay : f32, stepSize : f32, bc2Sqrt : f32,
  eps : f32, pad0 : u32, pad1 : u32, pad2 : u32,
}
@group(0) @binding(0) var<storage, read_write> p : array<f32>;
@group(0) @binding(1) var<storage, read_write> mv : array<f32>;
@group(0) @binding(2) var<storage, read> g : array<f32>;
@group(0) @binding(3) var<storage, read> loss : array<u32>;
@group(0) @binding(4) var<storage, read_write> guard : array<atomic<u32>>;
@group(0) @binding(5) var<uniform> uniforms : Uniforms;
${NON_FINITE_WGSL}
${FLAT_INDEX_WGSL}

@compute @workgroup_size(${GUARD_WORKGROUP})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>,
        @builtin(local_invocation_index) local : u32) {
  // Every invocation sees the same loss: when it is not finite, they all
  // skip, so the (benign, atomic) race on the latch cannot change a value.
  if (nonFinite(loss[0])) {
    atomicStore(&guard[0], 1u);
    return;
  }
  let index = flatIndex(wg, groups, local);
  let n = uniforms.count;
  if (atomicLoad(&guard[0]) != 0u || index >= n) {
    return;
  }
  let gi = g[index];
${adamWUpdateWgsl("uniforms.stepSize", "uniforms.bc2Sqrt")}
}`;

/**
 * The uniform bytes of {@linkcode GUARDED_ADAMW_WGSL} for `n` values and one
 * step's scalars (each rounded to f32, `1 − β` computed in float64 first,
 * as the tf-op path and `adamw_webgpu.ts` round them).
 *
 * @example
 * ```ts
 * import { guardedAdamWUniform } from "./adamw_guarded_wgsl.ts";
 * const s = { beta1: 0.9, beta2: 0.999, decay: 1, stepSize: 1e-3, bc2Sqrt: 0.03, eps: 1e-8 };
 * console.log(guardedAdamWUniform(10, s).byteLength); // 48
 * ```
 */
export function guardedAdamWUniform(n: number, s: AdamWStepScalars): ArrayBuffer {
  const out = new ArrayBuffer(48);
  new Uint32Array(out, 0, 1)[0] = n;
  new Float32Array(out, 4, 8).set([
    s.beta1,
    1 - s.beta1,
    s.beta2,
    1 - s.beta2,
    s.decay,
    s.stepSize,
    s.bc2Sqrt,
    s.eps,
  ]);
  return out;
}
