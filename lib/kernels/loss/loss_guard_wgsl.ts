/**
 * The GPU side of a non-finite loss guard for a recorded training step
 * (`GpuTrainer`): a latch word in a small storage buffer (`guard[0]`, 0 or
 * 1) that the optimizer pass sets when the step's loss is NaN or infinite,
 * and that every later guarded dispatch reads, so that once a step's loss
 * is not finite every update queued after it is skipped too until the host
 * has read the bad loss and cleared the latch (a queued write of 0).
 *
 * Finiteness is tested on the loss's bits (exponent all ones), not with
 * `x != x` or comparisons: WGSL lets a compiler assume that floats are
 * finite and fold those away.
 *
 * @module
 */

/**
 * Invocations per workgroup of the guard's programs.
 *
 * @example
 * ```ts
 * import { GUARD_WORKGROUP } from "./loss_guard_wgsl.ts";
 * console.log(GUARD_WORKGROUP); // 256
 * ```
 */
export const GUARD_WORKGROUP = 256;

/**
 * WGSL: `nonFinite(bits)` is true when the f32 with these bits is NaN or ±infinity.
 *
 * @example
 * ```ts
 * import { NON_FINITE_WGSL } from "./loss_guard_wgsl.ts";
 * console.log(NON_FINITE_WGSL.includes("0x7f800000u")); // true
 * ```
 */
export const NON_FINITE_WGSL = `
fn nonFinite(bits : u32) -> bool {
  return (bits & 0x7f800000u) == 0x7f800000u;
}`;

/**
 * WGSL: `flatIndex(…)`, the element index of a 1-D grid spread over x and y workgroups.
 *
 * @example
 * ```ts
 * import { FLAT_INDEX_WGSL } from "./loss_guard_wgsl.ts";
 * console.log(FLAT_INDEX_WGSL.includes("fn flatIndex")); // true
 * ```
 */
export const FLAT_INDEX_WGSL = `
fn flatIndex(wg : vec3<u32>, groups : vec3<u32>, local : u32) -> u32 {
  return (wg.y * groups.x + wg.x) * ${GUARD_WORKGROUP}u + local;
}`;

/**
 * Workgroup counts `[x, y, 1]` covering `n` elements ({@linkcode GUARD_WORKGROUP} each, x ≤ 65535).
 *
 * @example
 * ```ts
 * import { guardGrid } from "./loss_guard_wgsl.ts";
 * console.log(guardGrid(1000)); // [4, 1, 1]
 * ```
 */
export function guardGrid(n: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / GUARD_WORKGROUP));
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * A copy of `n` values, `dst[i] = src[i]`, skipped while the latch is set
 * (a step queued after a non-finite loss): bindings `dst` (read-write),
 * `src`, `guard` (read-only `u32`), then the uniforms
 * ({@linkcode guardedCopyUniform}).
 *
 * @example
 * ```ts
 * import { GUARDED_COPY_WGSL } from "./loss_guard_wgsl.ts";
 * console.log(GUARDED_COPY_WGSL.includes("guard[0]")); // true
 * ```
 */
export const GUARDED_COPY_WGSL = `
struct Uniforms { count : u32, pad0 : u32, pad1 : u32, pad2 : u32 }
@group(0) @binding(0) var<storage, read_write> dst : array<f32>;
@group(0) @binding(1) var<storage, read> src : array<f32>;
@group(0) @binding(2) var<storage, read> guard : array<u32>;
@group(0) @binding(3) var<uniform> uniforms : Uniforms;
${FLAT_INDEX_WGSL}

@compute @workgroup_size(${GUARD_WORKGROUP})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>,
        @builtin(local_invocation_index) local : u32) {
  let index = flatIndex(wg, groups, local);
  if (guard[0] != 0u || index >= uniforms.count) {
    return;
  }
  dst[index] = src[index];
}`;

/**
 * The uniform bytes of {@linkcode GUARDED_COPY_WGSL} for `n` values.
 *
 * @example
 * ```ts
 * import { guardedCopyUniform } from "./loss_guard_wgsl.ts";
 * console.log(guardedCopyUniform(10).byteLength); // 16
 * ```
 */
export function guardedCopyUniform(n: number): ArrayBuffer {
  return new Uint32Array([n, 0, 0, 0]).buffer;
}
