/**
 * WGSL of the conv filter-gradient kernel (`_conv_grad_webgpu.ts`): a scalar
 * shader for any channel counts, and a vec4 one for input and output channel
 * counts that are multiples of 4, where a thread owns a
 * 4x4 block of dW (4 input channels of one tap x 4 output channels) and, per
 * 16-pixel step, loads one vec4 of dy and one to four vec4 of x, keeping its
 * pixels' coordinates incrementally (no division in the loop).
 *
 * @module
 */

import { filterGradUnrolledCode } from "./_conv_grad_unrolled_wgsl.ts";

/**
 * What both shaders start with: the shapes, this workgroup's tile (`rows`
 * rows of dW from `m0`, `tn` channels from `n0`) and its split's pixel range.
 */
function prelude(tn: number, concat = false, rows = 64): string {
  return `let H = uniforms.xShape.y;
  let W = uniforms.xShape.z;
  let Ci = uniforms.xShape.w${concat ? " + uniforms.x2Shape.w" : ""};
  let N = uniforms.dyShape.w;
  let M = uniforms.m;
  let n0 = i32(workgroupId.x) * ${tn};
  let m0 = i32(workgroupId.y) * ${rows};
  let s = i32(workgroupId.z);
  let kBegin = s * uniforms.chunk;
  let kEnd = min(uniforms.k, kBegin + uniforms.chunk);`;
}

/** The scalar shader (any channel counts): 64 rows x `tn` columns per 16x16 workgroup. */
export function filterGradCode(tn: number): string {
  const rn = tn / 16;
  return `
var<workgroup> As : array<f32, 1024>;
var<workgroup> Bs : array<f32, ${16 * tn}>;
fn main() {
  ${prelude(tn)}
  let tx = i32(localId.x);
  let ty = i32(localId.y);
  let li = i32(localIndex);
  // acc[j][i]: row m0 + ty + 16·i, column n0 + tx + 16·j.
  var acc : array<vec4<f32>, ${rn}>;
  for (var j = 0; j < ${rn}; j++) { acc[j] = vec4<f32>(0.0); }
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
      for (var j = 0; j < ${rn}; j++) {
        acc[j] = fma(a, vec4<f32>(Bs[kk * ${tn} + tx + 16 * j]), acc[j]);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0; i < 4; i++) {
    let m = m0 + ty + 16 * i;
    for (var j = 0; j < ${rn}; j++) {
      let n = n0 + tx + 16 * j;
      if (m < M && n < N) { result[(s * M + m) * N + n] = acc[j][i]; }
    }
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
    px += 16;
    loop {
      if (px < W) { break; }
      px -= W;
      py += 1;
      if (py == H) { py = 0; pb += 1; }
    }
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
}

/**
 * The vec4 shader for a tile of `rows` dW rows x `tn` (16, 32 or 64) output
 * channels, 16 threads along y: a thread owns `rows / 64` quads of rows x 4
 * channels.
 */
export function filterGradVec4Code(tn: number, options: FilterGradShaderOptions = {}): string {
  const { concat = false, rows = 64, unrolled = false } = options;
  if (unrolled) {
    return filterGradUnrolledCode(tn, { concat, rows, prelude: prelude(tn, concat, rows) });
  }
  const nq = tn / 4; // threads along x (vec4 columns)
  const threads = nq * 16;
  const rq = rows / 4; // quads of rows per tile
  const own = rq / 16; // quads of rows per thread
  const per = (16 * rq) / threads; // x quads each thread loads per step
  const lanes = threads / rq; // pixels apart between one thread's loads
  const load = (r: string) =>
    concat
      ? `let c1q = uniforms.xShape.w / 4;
        let pix = (pb[${r}] * H + iy) * W + ix;
        if (ciq < c1q) {
          v = x[pix * c1q + ciq];
        } else {
          v = x2[pix * (uniforms.x2Shape.w / 4) + ciq - c1q];
        }`
      : `v = x[((pb[${r}] * H + iy) * W + ix) * (Ci / 4) + ciq];`;
  // Reads step k0's x quads into va and its dy quad into vb, then walks the pixels on.
  const fetch = `for (var r = 0; r < ${per}; r++) {
      var v = vec4<f32>(0.0);
      let k = k0 + li / ${rq} + ${lanes} * r;
      let iy = py[r] + offY;
      let ix = px[r] + offX;
      if (k < kEnd && mRow < M && iy >= 0 && iy < H && ix >= 0 && ix < W) {
        ${load("r")}
      }
      va[r] = v;
      px[r] += 16;
      loop {
        if (px[r] < W) { break; }
        px[r] -= W;
        py[r] += 1;
        if (py[r] == H) { py[r] = 0; pb[r] += 1; }
      }
    }
    {
      let k = k0 + li / ${nq};
      let n = n0 + 4 * (li % ${nq});
      vb = vec4<f32>(0.0);
      if (k < kEnd && n < N) { vb = dy[(k * N + n) / 4]; }
    }`;
  const store = `for (var r = 0; r < ${per}; r++) { As[li + ${threads} * r] = va[r]; }
    Bs[li] = vb;`;
  const math = Array.from({ length: own }, (_, j) =>
    `{
        let a = As[kk * ${rq} + ty + ${16 * j}];
        acc[${4 * j}] = fma(vec4<f32>(a.x), b, acc[${4 * j}]);
        acc[${4 * j + 1}] = fma(vec4<f32>(a.y), b, acc[${4 * j + 1}]);
        acc[${4 * j + 2}] = fma(vec4<f32>(a.z), b, acc[${4 * j + 2}]);
        acc[${4 * j + 3}] = fma(vec4<f32>(a.w), b, acc[${4 * j + 3}]);
      }`).join("\n      ");
  const loop = `for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    ${fetch}
    ${store}
    workgroupBarrier();
    for (var kk = 0; kk < 16; kk++) {
      let b = Bs[kk * ${nq} + tx];
      ${math}
    }
    workgroupBarrier();
  }`;
  return /* wgsl */ `
var<workgroup> As : array<vec4<f32>, ${16 * rq}>; // [16 pixels][${rq} quads of rows]
var<workgroup> Bs : array<vec4<f32>, ${16 * nq}>; // [16 pixels][${nq} quads of channels]
fn main() {
  ${prelude(tn, concat, rows)}
  let li = i32(localIndex);
  let tx = li % ${nq};
  let ty = li / ${nq};
  // Rows this thread loads: quad mq (4 channels of one tap), fixed for the whole loop.
  let mq = li % ${rq};
  let mRow = m0 + 4 * mq;
  let tap = mRow / Ci;
  let ciq = (mRow - tap * Ci) / 4;
  let offY = (tap / uniforms.kw) * uniforms.dil - uniforms.ph;
  let offX = (tap % uniforms.kw) * uniforms.dil - uniforms.pw;
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
  var va : array<vec4<f32>, ${per}>;
  var vb : vec4<f32>;
  var acc : array<vec4<f32>, ${4 * own}>;
  ${loop}
  let n = n0 + 4 * tx;
  for (var j = 0; j < ${own}; j++) {
    for (var r = 0; r < 4; r++) {
      let m = m0 + 4 * (ty + 16 * j) + r;
      if (m < M && n < N) { result[((s * M + m) * N + n) / 4] = acc[4 * j + r]; }
    }
  }
}`;
}
