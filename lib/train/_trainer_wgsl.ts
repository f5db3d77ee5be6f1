/**
 * Programs of the recorded training step (`gpu_trainer.ts`) that the tfjs
 * path does with tf ops: channel concat and its split, gradient
 * accumulation, the max-pool gradient, the fuse conv and its weight
 * gradient, and the criterion's partial sums. Each is a {@linkcode WgslCall}
 * in tfjs' program form (one `result`, named inputs, `uniforms`), made
 * standalone by `_wgsl_standalone.ts`. Sums are folded in a fixed order
 * (workgroup trees, then chunks in order): deterministic, no atomics.
 *
 * @module
 */
import { f32, i32, type WgslCall } from "../model/_webgpu.ts";
import { BCE_WGSL } from "./_loss_webgpu.ts";

const FLAT_WG: [number, number, number] = [64, 1, 1];
/** Threads of the folding programs. */
export const FOLD = 256;

/** `result = concat(A, B)` along channels (`[M, C1]`, `[M, C2]` → `[M, C1 + C2]`). */
export function concatCall(shape: readonly number[]): WgslCall {
  return {
    spec: {
      key: "u2netTrainConcat",
      outputShape: [...shape],
      inputs: ["A", "B"],
      workgroupSize: FLAT_WG,
      code: `fn main(index : i32) {
  if (index < uniforms.size) {
    let c1 = uniforms.aShape.w;
    let co = uniforms.outShape.w;
    let c = index % co;
    let m = index / co;
    if (c < c1) { result[index] = A[m * c1 + c]; } else { result[index] = B[m * (co - c1) + c - c1]; }
  }
}`,
    },
    uniforms: [],
  };
}

/**
 * `result[m, c] = G[m, off + c] (+ R[m, c])` for an `[M, C]` result: a
 * channel slice of a concat's gradient, a gradient sum, or a residual add.
 */
export function sliceAddCall(shape: readonly number[], off: number, addR: boolean): WgslCall {
  return {
    spec: {
      key: "u2netTrainSliceAdd",
      outputShape: [...shape],
      inputs: ["G", "R"],
      workgroupSize: FLAT_WG,
      uniforms: "off : i32, addR : i32,",
      code: `fn main(index : i32) {
  if (index < uniforms.size) {
    let c = index % uniforms.outShape.w;
    let m = index / uniforms.outShape.w;
    var v = G[m * uniforms.gShape.w + uniforms.off + c];
    if (uniforms.addR != 0) { v = v + R[index]; }
    result[index] = v;
  }
}`,
    },
    uniforms: [i32(off), i32(addR ? 1 : 0)],
  };
}

/**
 * Gradient of the 2x2 ceil-mode max pool: each input value gets its
 * window's output gradient when it is the window's first maximum in scan
 * order (PyTorch's argmax), else 0. Inputs: dy, the pool input x.
 */
export function poolGradCall(xShape: readonly number[]): WgslCall {
  return {
    spec: {
      key: "u2netTrainPoolGrad",
      outputShape: [...xShape],
      inputs: ["dy", "x"],
      workgroupSize: FLAT_WG,
      code: `fn main(index : i32) {
  if (index < uniforms.size) {
    let p = getCoordsFromIndex(index);
    let H = uniforms.xShape.y;
    let W = uniforms.xShape.z;
    let C = uniforms.xShape.w;
    let oy = p.y / 2;
    let ox = p.z / 2;
    var best = 0.0;
    var by = -1;
    var bx = -1;
    for (var dy2 = 0; dy2 < 2; dy2++) {
      for (var dx2 = 0; dx2 < 2; dx2++) {
        let iy = 2 * oy + dy2;
        let ix = 2 * ox + dx2;
        if (iy < H && ix < W) {
          let v = x[((p.x * H + iy) * W + ix) * C + p.w];
          if (by < 0 || v > best) { best = v; by = iy; bx = ix; }
        }
      }
    }
    var g = 0.0;
    if (by == p.y && bx == p.z) {
      g = dy[((p.x * uniforms.dyShape.y + oy) * uniforms.dyShape.z + ox) * C + p.w];
    }
    result[index] = g;
  }
}`,
    },
    uniforms: [],
  };
}

const SIDES = ["S0", "S1", "S2", "S3", "S4", "S5"];

/** The fuse conv's logits `b + Σ w_k·S_k` (weights read from the flat parameters). */
export function fuseCall(shape: readonly number[], offW: number, offB: number): WgslCall {
  return {
    spec: {
      key: "u2netTrainFuse",
      outputShape: [...shape],
      inputs: [...SIDES, "params"],
      workgroupSize: FLAT_WG,
      uniforms: "offW : i32, offB : i32,",
      code: `fn main(index : i32) {
  if (index < uniforms.size) {
    let w = uniforms.offW;
    var acc = S0[index] * params[w];
    acc = acc + S1[index] * params[w + 1];
    acc = acc + S2[index] * params[w + 2];
    acc = acc + S3[index] * params[w + 3];
    acc = acc + S4[index] * params[w + 4];
    acc = acc + S5[index] * params[w + 5];
    result[index] = acc + params[uniforms.offB];
  }
}`,
    },
    uniforms: [i32(offW), i32(offB)],
  };
}

/**
 * Gradient of one criterion term, `(sigmoid(x) − y)/n`, plus for a side map
 * (`offW` ≥ 0) the fuse conv's share `w·dF`. Inputs: X, Y, dF, params.
 */
export function bceGradCall(shape: readonly number[], offW: number): WgslCall {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    spec: {
      key: "u2netTrainBceGrad",
      outputShape: [...shape],
      inputs: ["X", "Y", "dF", "params"],
      workgroupSize: FLAT_WG,
      uniforms: "count : f32, offW : i32,",
      code: `${BCE_WGSL}
fn main(index : i32) {
  if (index < uniforms.size) {
    var g = (stableSigmoid(X[index]) - Y[index]) * (1.0 / uniforms.count);
    if (uniforms.offW >= 0) { g = g + params[uniforms.offW] * dF[index]; }
    result[index] = g;
  }
}`,
    },
    uniforms: [f32(n), i32(offW)],
  };
}

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
