/**
 * WGSL of the recorded inference engine (`gpu_engine.ts`), NHWC float32
 * throughout. The vec4 conv and the conv to one channel (side outputs) are
 * shared with the training kernels in `lib/kernels/conv/conv_wgsl.ts`; here:
 *
 * - `conv`: the scalar conv (the RGB input layer): k x k conv (k = 1 or 3, any dilation, "same" padding) + bias +
 *   optional ReLU + optional residual add, reading its input as the channel
 *   concat of two buffers (A then B) so decoder concats cost no copy. An
 *   implicit GEMM: M = N·H·W pixels, N = Co, K = k²·(C1 + C2), 64 x TN tiles
 *   (TN = 16, 32 or 64 by Co) per 16x16 workgroup, 16 k per shared step.
 * - `pool`: 2x2 max pool, stride 2, ceil mode.
 * - `resize`: bilinear, PyTorch's align_corners=False (half-pixel) rule.
 * - `fuse`: sigmoid(b + Σ w_i·s_i) over the six resized side maps.
 * - `splitsum`: finishes a split-K conv: its parts summed in order, + bias,
 *   optional ReLU, optional residual add.
 *
 * @module
 */

import { scalarTileAccs } from "./conv/scalar_tile_wgsl.ts";
import { halfStore, halfStore4 } from "./conv/conv_wgsl.ts";

/** Element types of a mixed-precision shader's maps (f16 needs `shader-f16`). */
export interface HalfMaps {
  /** The inputs (A, B; the residual follows the output) are f16. @default false */
  inHalf?: boolean;
  /** The output (and the residual) is f16, rounded once from f32. @default false */
  outHalf?: boolean;
}

/** `enable f16;` where a shader declares an f16 map. */
function enableF16({ inHalf = false, outHalf = false }: HalfMaps): string {
  return inHalf || outHalf ? "\nenable f16;" : "";
}

/**
 * The conv shader for a tile width (16, 32 or 64); `unrolled` writes the
 * per-thread accumulators as scalars and their loops out (the same sums in
 * the same order, so the same bits).
 */
export function convShader(tn: number, unrolled = false, half: HalfMaps = {}): string {
  const accs = scalarTileAccs(tn, unrolled);
  const inT = half.inHalf ? "f16" : "f32", outT = half.outHalf ? "f16" : "f32";
  const storeOne = (j: string, acc: string) =>
    `let n = n0 + tx + ${j};
      if (m < p.M && n < p.Co) {
        var v = ${acc}[i] + bias[n];
        if (p.relu != 0) { v = max(v, 0.0); }
        if (p.res != 0) { v = v + ${half.outHalf ? "f32(R[m * p.Co + n])" : "R[m * p.Co + n]"}; }
        dst[m * p.Co + n] = ${half.outHalf ? halfStore("v") : "v"};
      }`;
  const read = (x: string) => half.inHalf ? `f32(${x})` : x;
  return /* wgsl */ `${enableF16(half)}
struct P { M : i32, H : i32, W : i32, C1 : i32, C2 : i32, Co : i32,
  k : i32, dil : i32, relu : i32, res : i32, K : i32, pad : i32 };
@group(0) @binding(0) var<storage, read_write> dst : array<${outT}>;
@group(0) @binding(1) var<storage, read> A : array<${inT}>;
@group(0) @binding(2) var<storage, read> B : array<${inT}>;
@group(0) @binding(3) var<storage, read> R : array<${outT}>;
@group(0) @binding(4) var<storage, read> Wt : array<f32>;
@group(0) @binding(5) var<storage, read> bias : array<f32>;
@group(0) @binding(6) var<uniform> p : P;
var<workgroup> As : array<f32, 1024>; // [64 pixels][16 k]
var<workgroup> Bs : array<f32, ${16 * tn}>; // [16 k][${tn} channels]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>,
        @builtin(local_invocation_index) li : u32) {
  let n0 = i32(wid.x) * ${tn};
  let m0 = i32(wid.y) * 64;
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let cin = p.C1 + p.C2;
  ${accs.decl}
  for (var k0 = 0; k0 < p.K; k0 += 16) {
    for (var idx = i32(li); idx < 1024; idx += 256) {
      let m = m0 + idx / 16;
      let kq = k0 + idx % 16;
      var v = 0.0;
      if (m < p.M && kq < p.K) {
        let tap = kq / cin;
        let ci = kq - tap * cin;
        let px = m % p.W;
        let rest = m / p.W;
        let py = rest % p.H;
        let b = rest / p.H;
        let iy = py + (tap / p.k) * p.dil - p.pad;
        let ix = px + (tap % p.k) * p.dil - p.pad;
        if (iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) {
          let pix = (b * p.H + iy) * p.W + ix;
          if (ci < p.C1) { v = ${read("A[pix * p.C1 + ci]")}; } else { v = ${
    read("B[pix * p.C2 + ci - p.C1]")
  }; }
        }
      }
      As[idx] = v;
    }
    for (var idx = i32(li); idx < ${16 * tn}; idx += 256) {
      let kq = k0 + idx / ${tn};
      let n = n0 + idx % ${tn};
      var v = 0.0;
      if (kq < p.K && n < p.Co) { v = Wt[kq * p.Co + n]; }
      Bs[idx] = v;
    }
    workgroupBarrier();
    for (var kk = 0; kk < 16; kk++) {
      let a = vec4<f32>(As[ty * 16 + kk], As[(ty + 16) * 16 + kk], As[(ty + 32) * 16 + kk],
                        As[(ty + 48) * 16 + kk]);
      ${accs.step}
    }
    workgroupBarrier();
  }
  for (var i = 0; i < 4; i++) {
    let m = m0 + ty + 16 * i;
    ${accs.each(storeOne)}
  }
}`;
}

/** Entry point of the one-invocation-per-value shaders (64 wide, 2-D grid past the limit). */
const FLAT_ENTRY = `@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nw : vec3<u32>) {`;

/** FLAT_ENTRY plus the output value's NHWC coordinates (b, oy, ox, c) for `p.size` values. */
const NHWC_OUTPUT = `${FLAT_ENTRY}
  let idx = i32(gid.x + gid.y * nw.x * 64u);
  if (idx >= p.size) { return; }
  let c = idx % p.C;
  let r = idx / p.C;
  let ox = r % p.OW;
  let r2 = r / p.OW;
  let oy = r2 % p.OH;
  let b = r2 / p.OH;`;

/**
 * The end of a split-K conv (`convShaderVec4(…, { splitK: true })`): for
 * each output quad, the `S` parts `[S, M, Co]` summed in order, then the
 * conv's epilogue (bias, ReLU, residual), one invocation per quad.
 */
export function splitsumShader(half = false): string {
  const t = half ? "vec4<f16>" : "vec4<f32>";
  return /* wgsl */ `${half ? "\nenable f16;" : ""}
struct P { size : i32, Co4 : i32, S : i32, relu : i32, res : i32 };
@group(0) @binding(0) var<storage, read_write> dst : array<${t}>;
@group(0) @binding(1) var<storage, read> parts : array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> R : array<${t}>;
@group(0) @binding(3) var<storage, read> bias : array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p : P;
${FLAT_ENTRY}
  let idx = i32(gid.x + gid.y * nw.x * 64u);
  if (idx >= p.size) { return; }
  var v = parts[idx];
  for (var s = 1; s < p.S; s++) { v = v + parts[s * p.size + idx]; }
  v = v + bias[idx % p.Co4];
  if (p.relu != 0) { v = max(v, vec4<f32>(0.0)); }
  if (p.res != 0) { v = v + ${half ? "vec4<f32>(R[idx])" : "R[idx]"}; }
  dst[idx] = ${half ? halfStore4("v") : "v"};
}`;
}

/** {@linkcode splitsumShader} in f32. */
export const SPLITSUM_SHADER: string = splitsumShader();

/** 2x2 max pool, ceil mode: one invocation per output value (f16 maps with `half`). */
export function poolShader(half = false): string {
  const t = half ? "f16" : "f32";
  return /* wgsl */ `${half ? "\nenable f16;" : ""}
struct P { size : i32, H : i32, W : i32, C : i32, OH : i32, OW : i32 };
@group(0) @binding(0) var<storage, read_write> dst : array<${t}>;
@group(0) @binding(1) var<storage, read> X : array<${t}>;
@group(0) @binding(2) var<uniform> p : P;
${NHWC_OUTPUT}
  var v = ${half ? "f16(-65504.0)" : "-3.4028235e38"};
  for (var dy = 0; dy < 2; dy++) {
    for (var dx = 0; dx < 2; dx++) {
      let iy = 2 * oy + dy;
      let ix = 2 * ox + dx;
      if (iy < p.H && ix < p.W) { v = max(v, X[((b * p.H + iy) * p.W + ix) * p.C + c]); }
    }
  }
  dst[idx] = v;
}`;
}

/** {@linkcode poolShader} in f32. */
export const POOL_SHADER: string = poolShader();

/**
 * Bilinear resize (half-pixel centres, no antialias): one invocation per
 * output value; with `half`, f16 maps (the weights and sums in f32, one
 * rounding at the store).
 */
export function resizeShader(half = false): string {
  const t = half ? "f16" : "f32";
  const x = (i: string) => half ? `f32(X[${i}])` : `X[${i}]`;
  return /* wgsl */ `${half ? "\nenable f16;" : ""}
struct P { size : i32, H : i32, W : i32, C : i32, OH : i32, OW : i32, sy : f32, sx : f32 };
@group(0) @binding(0) var<storage, read_write> dst : array<${t}>;
@group(0) @binding(1) var<storage, read> X : array<${t}>;
@group(0) @binding(2) var<uniform> p : P;
${NHWC_OUTPUT}
  let fy = max(p.sy * (f32(oy) + 0.5) - 0.5, 0.0);
  let fx = max(p.sx * (f32(ox) + 0.5) - 0.5, 0.0);
  let y0 = min(i32(floor(fy)), p.H - 1);
  let x0 = min(i32(floor(fx)), p.W - 1);
  let y1 = min(y0 + 1, p.H - 1);
  let x1 = min(x0 + 1, p.W - 1);
  let ly = fy - f32(y0);
  let lx = fx - f32(x0);
  let row0 = (b * p.H + y0) * p.W;
  let row1 = (b * p.H + y1) * p.W;
  let top = ${x("(row0 + x0) * p.C + c")} * (1.0 - lx) + ${x("(row0 + x1) * p.C + c")} * lx;
  let bottom = ${x("(row1 + x0) * p.C + c")} * (1.0 - lx) + ${x("(row1 + x1) * p.C + c")} * lx;
  dst[idx] = ${half ? "f16(top * (1.0 - ly) + bottom * ly)" : "top * (1.0 - ly) + bottom * ly"};
}`;
}

/** {@linkcode resizeShader} in f32. */
export const RESIZE_SHADER: string = resizeShader();

/** The 1x1 fuse conv over six one-channel maps, then the sigmoid. */
export const FUSE_SHADER = /* wgsl */ `
struct P { size : i32, w0 : f32, w1 : f32, w2 : f32, w3 : f32, w4 : f32, w5 : f32, b : f32 };
@group(0) @binding(0) var<storage, read_write> dst : array<f32>;
@group(0) @binding(1) var<storage, read> S0 : array<f32>;
@group(0) @binding(2) var<storage, read> S1 : array<f32>;
@group(0) @binding(3) var<storage, read> S2 : array<f32>;
@group(0) @binding(4) var<storage, read> S3 : array<f32>;
@group(0) @binding(5) var<storage, read> S4 : array<f32>;
@group(0) @binding(6) var<storage, read> S5 : array<f32>;
@group(0) @binding(7) var<uniform> p : P;
${FLAT_ENTRY}
  let i = i32(gid.x + gid.y * nw.x * 64u);
  if (i >= p.size) { return; }
  let z = p.b + p.w0 * S0[i] + p.w1 * S1[i] + p.w2 * S2[i] + p.w3 * S3[i] + p.w4 * S4[i] +
    p.w5 * S5[i];
  dst[i] = 1.0 / (1.0 + exp(-z));
}`;
