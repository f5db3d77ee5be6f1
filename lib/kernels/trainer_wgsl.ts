/**
 * Programs of the recorded training step (`gpu_trainer.ts`) that the tfjs
 * path does with tf ops: the split of a concat input's gradient, gradient
 * accumulation, the max-pool gradient, the fuse conv and the criterion's
 * gradient; the folds (the criterion's partial sums, the fuse conv's weight
 * gradient) are in `_trainer_folds.ts`. Each is a {@linkcode WgslCall} in
 * tfjs' program form (one `result`, named inputs, `uniforms`), made
 * standalone by `wgsl_standalone.ts`.
 *
 * @module
 */
import { f32, i32, type WgslCall } from "./webgpu.ts";
import { BCE_WGSL } from "./loss/loss_webgpu.ts";

const FLAT_WG: [number, number, number] = [64, 1, 1];

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
 * order (PyTorch's argmax), else 0. Inputs: dy, the pool input x, and with
 * `accumulate` the gradient x already has, `R`, added to the result (as a
 * separate sum would: `g + R`).
 */
export function poolGradCall(xShape: readonly number[], accumulate = false): WgslCall {
  return {
    spec: {
      key: accumulate ? "u2netTrainPoolGradAcc" : "u2netTrainPoolGrad",
      outputShape: [...xShape],
      inputs: accumulate ? ["dy", "x", "R"] : ["dy", "x"],
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
    result[index] = g${accumulate ? " + R[index]" : ""};
  }
}`,
    },
    uniforms: [],
  };
}

/** The six side maps' input names of the fuse programs. */
export const SIDES = ["S0", "S1", "S2", "S3", "S4", "S5"];

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
 * (`offW` ≥ 0) the fuse conv's share `w·dF`. Inputs: X, Y, dF, params;
 * `scaled` (mixed precision): the term times the loss scale, `amp[0]` of a
 * fifth input (dF is scaled already).
 */
export function bceGradCall(shape: readonly number[], offW: number, scaled = false): WgslCall {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    spec: {
      key: scaled ? "u2netTrainBceGradScaled" : "u2netTrainBceGrad",
      outputShape: [...shape],
      inputs: scaled ? ["X", "Y", "dF", "params", "amp"] : ["X", "Y", "dF", "params"],
      workgroupSize: FLAT_WG,
      uniforms: "count : f32, offW : i32,",
      code: `${BCE_WGSL}
fn main(index : i32) {
  if (index < uniforms.size) {
    var g = (stableSigmoid(X[index]) - Y[index]) * (1.0 / uniforms.count)${
        scaled ? " * amp[0]" : ""
      };
    if (uniforms.offW >= 0) { g = g + params[uniforms.offW] * dF[index]; }
    result[index] = g;
  }
}`,
    },
    uniforms: [f32(n), i32(offW)],
  };
}
