/**
 * Dynamic loss scaling for the recorded training step in mixed precision
 * (`GpuTrainer` with `precision: "f16"`), on the GPU, as PyTorch's
 * `GradScaler` does it: the loss gradient is multiplied by a scale `S`
 * (so every gradient is `S` times the true one, and small ones survive the
 * f16 tiles); after the reverse pass one dispatch looks for a non-finite
 * gradient, the AdamW dispatches divide the gradients by `S` and skip the
 * whole update when one was found, and a last one-invocation dispatch halves
 * `S` after a skipped step, or counts a good one and doubles `S` after
 * `growthInterval` good steps in a row.
 *
 * The state lives in the buffer `amp` ({@linkcode AMP_WORDS} 32-bit
 * words): `[0]` the scale (f32; a power of two, so `g / S` is exact), `[1]`
 * good steps since the last change, `[2]` the overflow flag of the current
 * step, `[3]` the optimizer's step count (AdamW's bias corrections use it:
 * a skipped step does not advance it, as `optimizer.step()` is not called
 * under `GradScaler`), `[4]` skipped steps in all. The bias corrections
 * are therefore computed on the GPU (`pow` in f32) from `[3]`.
 *
 * @module
 */
import { FLAT_INDEX_WGSL, GUARD_WORKGROUP, NON_FINITE_WGSL } from "../loss/loss_guard_wgsl.ts";
import { adamWUpdateWgsl } from "./adamw_guarded_wgsl.ts";

/** The loss-scaling state's buffer name. */
export const AMP_BUFFER = "amp";

/** 32-bit words of the `amp` buffer (see the module doc). */
export const AMP_WORDS = 8;

/** Options of the loss scaling (PyTorch `GradScaler`'s defaults). */
export interface LossScaleOptions {
  /** The first scale (rounded to a power of two). @default 65536 */
  initScale?: number;
  /** Good steps in a row after which the scale doubles. @default 2000 */
  growthInterval?: number;
}

/** Defaults of {@linkcode LossScaleOptions}: `GradScaler(init_scale=2.**16, growth_interval=2000)`. */
export const DEFAULT_LOSS_SCALE_OPTIONS: Readonly<Required<LossScaleOptions>> = Object.freeze({
  initScale: 65536,
  growthInterval: 2000,
});

/** The largest scale: growth stops here (a scale of +inf would never recover). */
export const MAX_LOSS_SCALE = 2 ** 100;

/**
 * The `amp` buffer's first contents: `scale` rounded down to a power of two
 * (within [2^-100, {@linkcode MAX_LOSS_SCALE}]), no good steps, `step`
 * optimizer steps taken.
 *
 * @example
 * ```ts
 * import { ampStart } from "./adamw_amp_wgsl.ts";
 * const words = new Float32Array(ampStart(65536, 0)); // [65536, 0, …]
 * ```
 */
export function ampStart(scale: number, step: number): ArrayBuffer {
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new RangeError(`Cannot scale the loss: current initScale is ${scale}`);
  }
  const pow2 = 2 ** Math.min(100, Math.max(-100, Math.floor(Math.log2(scale))));
  const out = new ArrayBuffer(4 * AMP_WORDS);
  new Float32Array(out, 0, 1)[0] = pow2;
  new Uint32Array(out, 12, 1)[0] = step;
  return out;
}

/** The loss-scaling state read back from the `amp` buffer's bytes. */
export interface AmpState {
  /** The current loss scale. */
  scale: number;
  /** Good steps since the scale last changed. */
  goodSteps: number;
  /** Optimizer steps taken (skipped steps not counted). */
  step: number;
  /** Steps skipped because a gradient was not finite. */
  skipped: number;
}

/**
 * Decodes the `amp` buffer's bytes.
 *
 * @example
 * ```ts
 * import { ampStart, readAmpState } from "./adamw_amp_wgsl.ts";
 * readAmpState(ampStart(1024, 3)); // { scale: 1024, goodSteps: 0, step: 3, skipped: 0 }
 * ```
 */
export function readAmpState(bytes: ArrayBufferLike): AmpState {
  const words = new Uint32Array(bytes, 0, AMP_WORDS);
  return {
    scale: new Float32Array(bytes, 0, 1)[0],
    goodSteps: words[1],
    step: words[3],
    skipped: words[4],
  };
}

/**
 * WGSL: sets `amp[2]` when any of `count` gradients is not finite
 * (bindings `amp` read-write atomic, `g` as bits, then `{ count }`).
 *
 * @example
 * ```ts
 * import { AMP_CHECK_WGSL } from "./adamw_amp_wgsl.ts";
 * console.log(AMP_CHECK_WGSL.includes("atomicStore")); // true
 * ```
 */
export const AMP_CHECK_WGSL = `
struct Uniforms { count : u32, pad0 : u32, pad1 : u32, pad2 : u32 }
@group(0) @binding(0) var<storage, read_write> amp : array<atomic<u32>>;
@group(0) @binding(1) var<storage, read> g : array<u32>;
@group(0) @binding(2) var<uniform> uniforms : Uniforms;
${NON_FINITE_WGSL}
${FLAT_INDEX_WGSL}

@compute @workgroup_size(${GUARD_WORKGROUP})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>,
        @builtin(local_invocation_index) local : u32) {
  let index = flatIndex(wg, groups, local);
  if (index < uniforms.count && nonFinite(g[index])) {
    atomicStore(&amp[2], 1u);
  }
}`;

/**
 * WGSL: AdamW of `adamw_guarded_wgsl.ts` for loss-scaled gradients: skipped
 * (as there) on a non-finite loss or a set latch, and also when `amp[2]`
 * says a gradient overflowed; otherwise `g / amp[0]`, and the bias
 * corrections from the step count `amp[3] + 1`. Bindings: `p`, `mv`
 * (read-write), `g`, `loss` (bits), `guard` (read-write atomic), `amp`
 * (read), then the uniforms ({@linkcode ampAdamWUniform}).
 *
 * @example
 * ```ts
 * import { AMP_ADAMW_WGSL } from "./adamw_amp_wgsl.ts";
 * console.log(AMP_ADAMW_WGSL.includes("pow(uniforms.beta1")); // true
 * ```
 */
export const AMP_ADAMW_WGSL = `
struct Uniforms {
  count : u32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32,
  oneMinusBeta2 : f32, decay : f32, lr : f32, eps : f32,
}
@group(0) @binding(0) var<storage, read_write> p : array<f32>;
@group(0) @binding(1) var<storage, read_write> mv : array<f32>;
@group(0) @binding(2) var<storage, read> g : array<f32>;
@group(0) @binding(3) var<storage, read> loss : array<u32>;
@group(0) @binding(4) var<storage, read_write> guard : array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> amp : array<u32>;
@group(0) @binding(6) var<uniform> uniforms : Uniforms;
${NON_FINITE_WGSL}
${FLAT_INDEX_WGSL}

@compute @workgroup_size(${GUARD_WORKGROUP})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>,
        @builtin(local_invocation_index) local : u32) {
  if (nonFinite(loss[0])) {
    atomicStore(&guard[0], 1u);
    return;
  }
  let index = flatIndex(wg, groups, local);
  let n = uniforms.count;
  if (atomicLoad(&guard[0]) != 0u || amp[2] != 0u || index >= n) {
    return;
  }
  let t = f32(amp[3] + 1u);
  let stepSize = uniforms.lr / (1.0 - pow(uniforms.beta1, t));
  let bc2Sqrt = sqrt(1.0 - pow(uniforms.beta2, t));
  let gi = g[index] * (1.0 / bitcast<f32>(amp[0]));
${adamWUpdateWgsl("stepSize", "bc2Sqrt")}
}`;

/**
 * The uniform bytes of {@linkcode AMP_ADAMW_WGSL} for `n` values and one
 * group's hyper-parameters (f32; `1 − β` and `1 − lr·wd` in float64 first).
 *
 * @example
 * ```ts
 * import { ampAdamWUniform } from "./adamw_amp_wgsl.ts";
 * const s = { lr: 1e-3, weightDecay: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
 * console.log(ampAdamWUniform(10, s).byteLength); // 32
 * ```
 */
export function ampAdamWUniform(
  n: number,
  s: { lr: number; weightDecay: number; beta1: number; beta2: number; eps: number },
): ArrayBuffer {
  const out = new ArrayBuffer(32);
  new Uint32Array(out, 0, 1)[0] = n;
  new Float32Array(out, 4, 7).set([
    s.beta1,
    1 - s.beta1,
    s.beta2,
    1 - s.beta2,
    1 - s.lr * s.weightDecay,
    s.lr,
    s.eps,
  ]);
  return out;
}

/**
 * WGSL: the end of a loss-scaled step, one invocation (bindings `amp`
 * read-write, `guard` read, then `{ growthInterval }`): after a non-finite
 * loss (the latch; the host rolls back) nothing changes; after an overflow
 * the scale halves and the step counts as skipped; otherwise the step
 * counts, and the scale doubles after `growthInterval` good steps in a row
 * (up to {@linkcode MAX_LOSS_SCALE}). The overflow flag is cleared.
 *
 * @example
 * ```ts
 * import { AMP_UPDATE_WGSL } from "./adamw_amp_wgsl.ts";
 * console.log(AMP_UPDATE_WGSL.includes("growthInterval")); // true
 * ```
 */
export const AMP_UPDATE_WGSL = `
struct Uniforms { growthInterval : u32, pad0 : u32, pad1 : u32, pad2 : u32 }
@group(0) @binding(0) var<storage, read_write> amp : array<u32>;
@group(0) @binding(1) var<storage, read> guard : array<u32>;
@group(0) @binding(2) var<uniform> uniforms : Uniforms;

@compute @workgroup_size(1)
fn main() {
  let overflow = amp[2];
  amp[2] = 0u;
  if (guard[0] != 0u) {
    return;
  }
  var scale = bitcast<f32>(amp[0]);
  if (overflow != 0u) {
    amp[0] = bitcast<u32>(max(scale * 0.5, bitcast<f32>(0x0d800000u))); // 2^-100
    amp[1] = 0u;
    amp[4] = amp[4] + 1u;
    return;
  }
  amp[3] = amp[3] + 1u;
  amp[1] = amp[1] + 1u;
  if (amp[1] >= uniforms.growthInterval) {
    amp[0] = bitcast<u32>(min(scale * 2.0, bitcast<f32>(0x71800000u))); // 2^100
    amp[1] = 0u;
  }
}`;
