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

/**
 * What both shaders start with: the shapes, this workgroup's tile (64 rows
 * of dW from `m0`, `tn` channels from `n0`) and its split's pixel range.
 */
function prelude(tn: number, concat = false): string {
  return `let H = uniforms.xShape.y;
  let W = uniforms.xShape.z;
  let Ci = uniforms.xShape.w${concat ? " + uniforms.x2Shape.w" : ""};
  let N = uniforms.dyShape.w;
  let M = uniforms.m;
  let n0 = i32(workgroupId.x) * ${tn};
  let m0 = i32(workgroupId.y) * 64;
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
 * The vec4 shader for a tile of 64 rows x `tn` (16, 32 or 64) output
 * channels. `concat`: the conv's input is the channel concat of inputs `x`
 * and `x2` (read in place: the recorded training step keeps no concat).
 */
export function filterGradVec4Code(tn: number, concat = false): string {
  const nq = tn / 4; // threads along x (vec4 columns)
  const threads = nq * 16; // 16 threads along y, 4 rows each
  const per = 256 / threads; // x quads each thread loads per step
  return /* wgsl */ `
var<workgroup> As : array<vec4<f32>, 256>; // [16 pixels][16 quads of rows]
var<workgroup> Bs : array<vec4<f32>, ${16 * nq}>; // [16 pixels][${nq} quads of channels]
fn main() {
  ${prelude(tn, concat)}
  let li = i32(localIndex);
  let tx = li % ${nq};
  let ty = li / ${nq};
  // Rows this thread loads: quad mq (4 channels of one tap), fixed for the whole loop.
  let mq = li % 16;
  let mRow = m0 + 4 * mq;
  let tap = mRow / Ci;
  let ciq = (mRow - tap * Ci) / 4;
  let offY = (tap / uniforms.kw) * uniforms.dil - uniforms.ph;
  let offX = (tap % uniforms.kw) * uniforms.dil - uniforms.pw;
  // Pixels this thread loads: kBegin + li/16 + ${threads / 16}·r, walked 16 at a time.
  var pb : array<i32, ${per}>;
  var py : array<i32, ${per}>;
  var px : array<i32, ${per}>;
  for (var r = 0; r < ${per}; r++) {
    let k = kBegin + li / 16 + ${threads / 16} * r;
    px[r] = k % W;
    let rest = k / W;
    py[r] = rest % H;
    pb[r] = rest / H;
  }
  var acc : array<vec4<f32>, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    for (var r = 0; r < ${per}; r++) {
      var v = vec4<f32>(0.0);
      let k = k0 + li / 16 + ${threads / 16} * r;
      let iy = py[r] + offY;
      let ix = px[r] + offX;
      if (k < kEnd && mRow < M && iy >= 0 && iy < H && ix >= 0 && ix < W) {
        ${
    concat
      ? `let c1q = uniforms.xShape.w / 4;
        let pix = (pb[r] * H + iy) * W + ix;
        if (ciq < c1q) {
          v = x[pix * c1q + ciq];
        } else {
          v = x2[pix * (uniforms.x2Shape.w / 4) + ciq - c1q];
        }`
      : "v = x[((pb[r] * H + iy) * W + ix) * (Ci / 4) + ciq];"
  }
      }
      As[li + ${threads} * r] = v;
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
      var v = vec4<f32>(0.0);
      if (k < kEnd && n < N) { v = dy[(k * N + n) / 4]; }
      Bs[li] = v;
    }
    workgroupBarrier();
    for (var kk = 0; kk < 16; kk++) {
      let a = As[kk * 16 + ty];
      let b = Bs[kk * ${nq} + tx];
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }
  let n = n0 + 4 * tx;
  for (var r = 0; r < 4; r++) {
    let m = m0 + 4 * ty + r;
    if (m < M && n < N) { result[((s * M + m) * N + n) / 4] = acc[r]; }
  }
}`;
}
