/**
 * WGSL of the conv filter-gradient kernel (`conv_grad_webgpu.ts`): a scalar
 * shader for any channel counts, and a vec4 one for input and output channel
 * counts that are multiples of 4, where a thread owns a
 * 4x4 block of dW (4 input channels of one tap x 4 output channels) and, per
 * 16-pixel step, loads one vec4 of dy and one to four vec4 of x, keeping its
 * pixels' coordinates incrementally (no division in the loop).
 *
 * @module
 */

import { filterGradUnrolledCode } from "./_conv_grad_unrolled_wgsl.ts";
import { fetchQuad, prelude, vec4TileHead, walk16 } from "./_conv_grad_parts_wgsl.ts";
import { scalarTileAccs } from "./scalar_tile_wgsl.ts";

/**
 * The scalar shader (any channel counts): 64 rows x `tn` columns per 16x16
 * workgroup; `unrolled` writes the per-thread accumulators as scalars and
 * their loops out (the same sums in the same order).
 */
export function filterGradCode(tn: number, unrolled = false): string {
  const rn = tn / 16;
  const accs = scalarTileAccs(tn, unrolled);
  const init = unrolled ? "" : `
  for (var j = 0; j < ${rn}; j++) { acc[j] = vec4<f32>(0.0); }`;
  const store = (j: string, acc: string) =>
    `let n = n0 + tx + ${j};
      if (m < M && n < N) { result[(s * M + m) * N + n] = ${acc}[i]; }`;
  return `
var<workgroup> As : array<f32, 1024>;
var<workgroup> Bs : array<f32, ${16 * tn}>;
fn main() {
  ${prelude(tn)}
  let tx = i32(localId.x);
  let ty = i32(localId.y);
  let li = i32(localIndex);
  // acc[j][i]: row m0 + ty + 16·i, column n0 + tx + 16·j.
  ${accs.decl}${init}
  for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    for (var idx = li; idx < 1024; idx += 256) {
      let kk = idx / 64;
      let m = m0 + idx % 64;
      let k = k0 + kk;
      var v = 0.0;
      if (m < M && k < kEnd) {
        let px = k % W;
        let rest = k / W;
        let py = rest % H;
        let b = rest / H;
        let tap = m / Ci;
        let ci = m - tap * Ci;
        let iy = py + (tap / uniforms.kw) * uniforms.dil - uniforms.ph;
        let ix = px + (tap % uniforms.kw) * uniforms.dil - uniforms.pw;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
          v = x[((b * H + iy) * W + ix) * Ci + ci];
        }
      }
      As[idx] = v;
    }
    for (var idx = li; idx < ${16 * tn}; idx += 256) {
      let k = k0 + idx / ${tn};
      let n = n0 + idx % ${tn};
      var v = 0.0;
      if (n < N && k < kEnd) { v = dy[k * N + n]; }
      Bs[idx] = v;
    }
    workgroupBarrier();
    for (var kk = 0; kk < 16; kk++) {
      let r = kk * 64 + ty;
      let a = vec4<f32>(As[r], As[r + 16], As[r + 32], As[r + 48]);
      ${accs.step}
    }
    workgroupBarrier();
  }
  for (var i = 0; i < 4; i++) {
    let m = m0 + ty + 16 * i;
    ${accs.each(store)}
  }
}`;
}

/**
 * The shader for one output channel (the side convs, whose filter gradient
 * in a 16-column tile wastes 15 of 16 columns): a 256-thread workgroup owns
 * 64 rows of dW (16 quads of one tap's channels) and its split's pixels; a
 * thread sums one quad over every 16th pixel (vec4 x times the scalar dy),
 * then the 16 pixel lanes are added in a fixed order.
 */
export function filterGradToOneCode(): string {
  return /* wgsl */ `
var<workgroup> red : array<vec4<f32>, 256>;
fn main() {
  ${prelude(16)}
  let li = i32(localIndex);
  let q = li % 16;
  let lane = li / 16;
  let mRow = m0 + 4 * q;
  let tap = mRow / Ci;
  let ciq = (mRow - tap * Ci) / 4;
  let offY = (tap / uniforms.kw) * uniforms.dil - uniforms.ph;
  let offX = (tap % uniforms.kw) * uniforms.dil - uniforms.pw;
  let k0 = kBegin + lane;
  var px = k0 % W;
  var py = (k0 / W) % H;
  var pb = k0 / W / H;
  var acc = vec4<f32>(0.0);
  for (var k = k0; k < kEnd; k += 16) {
    let iy = py + offY;
    let ix = px + offX;
    if (mRow < M && iy >= 0 && iy < H && ix >= 0 && ix < W) {
      acc = fma(x[((pb * H + iy) * W + ix) * (Ci / 4) + ciq], vec4<f32>(dy[k]), acc);
    }
    ${walk16("px", "py", "pb")}
  }
  red[li] = acc;
  workgroupBarrier();
  if (li < 16 && m0 + 4 * li < M) {
    var sum = vec4<f32>(0.0);
    for (var l = 0; l < 16; l++) { sum += red[l * 16 + li]; }
    result[(s * M + m0) / 4 + li] = sum;
  }
}`;
}

/** Options of {@linkcode filterGradVec4Code}. */
export interface FilterGradShaderOptions {
  /**
   * The conv's input is the channel concat of inputs `x` and `x2` (read in
   * place: the recorded training step keeps no concat). @default false
   */
  concat?: boolean;
  /** dW rows per workgroup tile: 64 (4 per thread) or 128 (8). @default 64 */
  rows?: 64 | 128;
  /**
   * Per-thread arrays and fixed loops unrolled when the WGSL is written
   * (`_conv_grad_unrolled_wgsl.ts`). @default false
   */
  unrolled?: boolean;
  /**
   * Mixed-precision training: f16 tiles (x and dy rounded as they are
   * loaded; past f16's range: ±inf, for the loss scaling to find), each
   * 16-pixel step's products summed in f16 and the steps in f32; needs
   * `shader-f16`. @default false
   */
  half?: boolean;
  /**
   * Unrolled only: vec4 column groups a thread owns (2: 8 channels, half
   * the workgroup-memory loads a product; the same sums). @default 1
   */
  cols?: 1 | 2;
  /**
   * Unrolled only: double buffering (the next 16 pixels loaded into
   * registers before this step's products, one barrier a step; the same
   * sums). @default false
   */
  prefetch?: boolean;
}

/**
 * The vec4 shader for a tile of `rows` dW rows x `tn` (16, 32 or 64) output
 * channels, 16 threads along y: a thread owns `rows / 64` quads of rows x 4
 * channels.
 */
export function filterGradVec4Code(tn: number, options: FilterGradShaderOptions = {}): string {
  const { concat = false, rows = 64, unrolled = false, half = false, cols = 1 } = options;
  const prefetch = options.prefetch ?? false;
  if (unrolled) return filterGradUnrolledCode(tn, { concat, rows, half, cols, prefetch });
  if (prefetch) throw new RangeError("Cannot double-buffer a looped filter gradient");
  if (cols !== 1) {
    throw new RangeError(`Cannot tile a looped filter gradient: current cols are ${cols}`);
  }
  const nq = tn / 4; // threads along x (vec4 columns)
  const threads = nq * 16;
  const rq = rows / 4; // quads of rows per tile
  const own = rq / 16; // quads of rows per thread
  const per = (16 * rq) / threads; // x quads each thread loads per step
  const lanes = threads / rq; // pixels apart between one thread's loads
  const fetch = fetchQuad({
    concat,
    k: `k0 + li / ${rq} + ${lanes} * r`,
    slot: `li + ${threads} * r`,
    w: { px: "px[r]", py: "py[r]", pb: "pb[r]" },
    half,
  });
  // f16: each 16-pixel step into f16 partial sums h, added to acc after it.
  const sum = half ? "h" : "acc", t = half ? "vec4<f16>" : "vec4<f32>";
  const math = Array.from({ length: own }, (_, j) =>
    `{
        let a = As[kk * ${rq} + ty + ${16 * j}];
        ${sum}[${4 * j}] = fma(${t}(a.x), b, ${sum}[${4 * j}]);
        ${sum}[${4 * j + 1}] = fma(${t}(a.y), b, ${sum}[${4 * j + 1}]);
        ${sum}[${4 * j + 2}] = fma(${t}(a.z), b, ${sum}[${4 * j + 2}]);
        ${sum}[${4 * j + 3}] = fma(${t}(a.w), b, ${sum}[${4 * j + 3}]);
      }`).join("\n      ");
  return /* wgsl */ `${vec4TileHead(tn, concat, rows, half)}
  // Pixels this thread loads: kBegin + li/${rq} + ${lanes}·r, walked 16 at a time.
  var pb : array<i32, ${per}>;
  var py : array<i32, ${per}>;
  var px : array<i32, ${per}>;
  for (var r = 0; r < ${per}; r++) {
    let k = kBegin + li / ${rq} + ${lanes} * r;
    px[r] = k % W;
    let rest = k / W;
    py[r] = rest % H;
    pb[r] = rest / H;
  }
  var acc : array<vec4<f32>, ${4 * own}>;
  for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    for (var r = 0; r < ${per}; r++) ${fetch}
    {
      let k = k0 + li / ${nq};
      let n = n0 + 4 * (li % ${nq});
      var v = vec4<f32>(0.0);
      if (k < kEnd && n < N) { v = dy[(k * N + n) / 4]; }
      Bs[li] = ${half ? "vec4<f16>(v)" : "v"};
    }
    workgroupBarrier();${
    half
      ? `
    var h : array<vec4<f16>, ${4 * own}>;
    for (var i = 0; i < ${4 * own}; i++) { h[i] = vec4<f16>(0.0); }`
      : ""
  }
    for (var kk = 0; kk < 16; kk++) {
      let b = Bs[kk * ${nq} + tx];
      ${math}
    }${
    half
      ? `
    for (var i = 0; i < ${4 * own}; i++) { acc[i] = acc[i] + vec4<f32>(h[i]); }`
      : ""
  }
    workgroupBarrier();
  }
  let n = n0 + 4 * tx;
  for (var j = 0; j < ${own}; j++) {
    for (var r = 0; r < 4; r++) {
      let m = m0 + 4 * (ty + 16 * j) + r;
      if (m < M && n < N) { result[((s * M + m) * N + n) / 4] = acc[4 * j + r]; }
    }
  }
}`;
}
