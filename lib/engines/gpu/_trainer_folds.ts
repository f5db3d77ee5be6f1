/**
 * The folding programs of the recorded training step (`gpu_trainer.ts`):
 * the criterion's partial sums and their total, and the fuse conv's weight
 * and bias gradient. Each is a {@linkcode WgslCall} in tfjs' program form
 * (one `result`, named inputs, `uniforms`), made standalone by
 * `wgsl_standalone.ts`. Sums are folded in a fixed order (workgroup trees,
 * then chunks in order): deterministic, no atomics.
 *
 * @module
 */
import { f32, i32, type WgslCall } from "../../kernels/webgpu.ts";
import { BCE_WGSL } from "../../kernels/loss/loss_webgpu.ts";
import { SIDES } from "../../kernels/trainer_wgsl.ts";

/** Threads of the folding programs. */
export const FOLD = 256;

/** Chunks of the folds over `n` values: [parts, chunk]. */
export function foldParts(n: number): [number, number] {
  const parts = Math.min(1024, Math.max(1, Math.ceil(n / (FOLD * 16))));
  const chunk = Math.ceil(n / parts);
  return [Math.ceil(n / chunk), chunk];
}

/** Workgroup tree fold of `s` into `acc[0]` (every thread calls it). */
const TREE = `
  for (var w = ${FOLD / 2}u; w > 0u; w = w / 2u) {
    workgroupBarrier();
    if (localIndex < w) { acc[localIndex] = acc[localIndex] + acc[localIndex + w]; }
  }
  workgroupBarrier();`;

/**
 * Per-chunk sums of the BCE terms of map X (n values) into
 * `result[base + chunk]` of the `[7·parts]` loss partials.
 */
export function bcePartialCall(n: number, base: number, total: number): WgslCall {
  const [parts, chunk] = foldParts(n);
  return {
    spec: {
      key: "u2netTrainBcePartial",
      outputShape: [total],
      inputs: ["X", "Y"],
      workgroupSize: [FOLD, 1, 1],
      dispatch: [parts, 1, 1],
      uniforms: "n : i32, chunk : i32, base : i32,",
      code: `${BCE_WGSL}
var<workgroup> acc : array<f32, ${FOLD}>;
fn main() {
  let p = i32(workgroupId.x);
  let end = min(uniforms.n, (p + 1) * uniforms.chunk);
  var s = 0.0;
  for (var i = p * uniforms.chunk + i32(localIndex); i < end; i += ${FOLD}) {
    s = s + bceTerm(X[i], Y[i]);
  }
  acc[localIndex] = s;${TREE}
  if (localIndex == 0u) { result[uniforms.base + p] = acc[0]; }
}`,
    },
    uniforms: [i32(n), i32(chunk), i32(base)],
  };
}

/** The criterion: `Σ_k (Σ_p part[k·parts + p]) / n` over `maps` maps of n values. */
export function lossSumCall(n: number, maps: number): WgslCall {
  const [parts] = foldParts(n);
  return {
    spec: {
      key: "u2netTrainLossSum",
      outputShape: [1],
      inputs: ["part"],
      workgroupSize: [FOLD, 1, 1],
      dispatch: [1, 1, 1],
      uniforms: "parts : i32, maps : i32, count : f32,",
      code: `var<workgroup> acc : array<f32, ${FOLD}>;
fn main() {
  var total = 0.0;
  for (var k = 0; k < uniforms.maps; k++) {
    var s = 0.0;
    for (var p = i32(localIndex); p < uniforms.parts; p += ${FOLD}) {
      s = s + part[k * uniforms.parts + p];
    }
    acc[localIndex] = s;${TREE}
    total = total + acc[0] / uniforms.count;
    workgroupBarrier();
  }
  if (localIndex == 0u) { result[0] = total; }
}`,
    },
    uniforms: [i32(parts), i32(maps), f32(n)],
  };
}

/** Per-chunk sums `Σ dF·S_k` (k < 6) and `Σ dF` into `result[chunk·7 + k]`. */
export function fuseGradPartialCall(n: number): WgslCall {
  const [parts, chunk] = foldParts(n);
  return {
    spec: {
      key: "u2netTrainFuseGradPartial",
      outputShape: [parts, 7],
      inputs: ["dF", ...SIDES],
      workgroupSize: [FOLD, 1, 1],
      dispatch: [parts, 1, 1],
      uniforms: "n : i32, chunk : i32,",
      code: `var<workgroup> acc : array<f32, ${FOLD}>;
fn side(k : i32, i : i32) -> f32 {
  switch k {
    case 0: { return S0[i]; }
    case 1: { return S1[i]; }
    case 2: { return S2[i]; }
    case 3: { return S3[i]; }
    case 4: { return S4[i]; }
    case 5: { return S5[i]; }
    default: { return 1.0; }
  }
}
fn main() {
  let p = i32(workgroupId.x);
  let end = min(uniforms.n, (p + 1) * uniforms.chunk);
  for (var k = 0; k < 7; k++) {
    var s = 0.0;
    for (var i = p * uniforms.chunk + i32(localIndex); i < end; i += ${FOLD}) {
      s = s + dF[i] * side(k, i);
    }
    acc[localIndex] = s;${TREE}
    if (localIndex == 0u) { result[p * 7 + k] = acc[0]; }
    workgroupBarrier();
  }
}`,
    },
    uniforms: [i32(n), i32(chunk)],
  };
}

/**
 * Folds the fuse partials over the chunks in order and writes the weight
 * gradient at `result[offW + k]` and the bias gradient at `result[offB]`
 * (`result`: the flat gradient buffer, `size` values).
 */
export function fuseGradReduceCall(n: number, size: number, offW: number, offB: number): WgslCall {
  const [parts] = foldParts(n);
  return {
    spec: {
      key: "u2netTrainFuseGradReduce",
      outputShape: [size],
      inputs: ["part"],
      workgroupSize: [64, 1, 1],
      dispatch: [1, 1, 1],
      uniforms: "parts : i32, offW : i32, offB : i32,",
      code: `fn main() {
  let k = i32(localIndex);
  if (k < 7) {
    var s = 0.0;
    for (var p = 0; p < uniforms.parts; p++) { s = s + part[p * 7 + k]; }
    if (k < 6) { result[uniforms.offW + k] = s; } else { result[uniforms.offB] = s; }
  }
}`,
    },
    uniforms: [i32(parts), i32(offW), i32(offB)],
  };
}
