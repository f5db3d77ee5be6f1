/**
 * The scalar tile shared by the scalar conv (`convShader`, the RGB input
 * layer in the engine and the trainer) and the scalar filter gradient
 * (`filterGradCode`): its accumulators, looped or unrolled, and the knob
 * that picks between them.
 *
 * @module
 */

import { currentTuning } from "../webgpu.ts";

/**
 * Whether a scalar shader (the RGB input layer: `convShader`,
 * `filterGradCode`) is unrolled when its caller asks for `unrolled`: also
 * needs `scalarUnrolled` of the tuning in force (`--tiling scalarlooped`).
 */
export function scalarUnrolled(unrolled: boolean): boolean {
  return unrolled && currentTuning().scalarUnrolled;
}

/**
 * The accumulators of a scalar tile (`convShader`, `filterGradCode`): `tn / 16`
 * vec4 columns 16 apart, an array walked by loops or (`unrolled`) scalars.
 * `decl` declares them, `step` adds one k's products (`a` times row `kk` of
 * `Bs`), `each(body)` writes `body(column offset, accumulator)` for each.
 */
export function scalarTileAccs(tn: number, unrolled: boolean): {
  decl: string;
  step: string;
  each: (body: (j: string, acc: string) => string) => string;
} {
  const rn = tn / 16;
  const J = [...Array(rn).keys()];
  if (!unrolled) {
    return {
      decl: `var acc : array<vec4<f32>, ${rn}>;`,
      step: `for (var j = 0; j < ${rn}; j++) {
        acc[j] = fma(a, vec4<f32>(Bs[kk * ${tn} + tx + 16 * j]), acc[j]);
      }`,
      each: (body) =>
        `for (var j = 0; j < ${rn}; j++) {
      ${body("16 * j", "acc[j]")}
    }`,
    };
  }
  return {
    decl: J.map((j) => `var acc${j} = vec4<f32>(0.0);`).join("\n  "),
    step: J.map((j) => `acc${j} = fma(a, vec4<f32>(Bs[kk * ${tn} + tx + ${16 * j}]), acc${j});`)
      .join("\n      "),
    each: (body) =>
      J.map((j) =>
        `{
      ${body(String(16 * j), `acc${j}`)}
    }`
      ).join("\n    "),
  };
}
