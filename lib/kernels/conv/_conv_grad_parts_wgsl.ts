/**
 * WGSL pieces shared by the conv filter-gradient shaders
 * (`_conv_grad_wgsl.ts`, `_conv_grad_unrolled_wgsl.ts`): the tile's
 * prelude and opening, the 16-pixel walk, and the load of one x quad.
 *
 * @module
 */

/**
 * What every filter-gradient shader starts with: the shapes, this
 * workgroup's tile (`rows` rows of dW from `m0`, `tn` channels from `n0`)
 * and its split's pixel range.
 */
export function prelude(tn: number, concat = false, rows = 64): string {
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

/**
 * The opening of a vec4 tile (looped or unrolled): its shared memory, the
 * prelude, the thread's place (tx, ty; `wx` threads along x) and the row
 * quad it loads (mq: 4 channels of one tap, fixed for the whole loop, with
 * that tap's offsets); `copies` 2: each tile twice (double buffering).
 */
export function vec4TileHead(
  tn: number,
  concat: boolean,
  rows: number,
  half = false,
  wx = tn / 4,
  copies = 1,
): string {
  const nq = tn / 4, rq = rows / 4, t = half ? "vec4<f16>" : "vec4<f32>";
  const two = copies === 2 ? "[2]" : "";
  return `${half ? "enable f16;\n" : ""}
var<workgroup> As : array<${t}, ${copies * 16 * rq}>; // ${two}[16 pixels][${rq} quads of rows]
var<workgroup> Bs : array<${t}, ${copies * 16 * nq}>; // ${two}[16 pixels][${nq} quads of channels]
fn main() {
  ${prelude(tn, concat, rows)}
  let li = i32(localIndex);
  let tx = li % ${wx};
  let ty = li / ${wx};
  let mq = li % ${rq};
  let mRow = m0 + 4 * mq;
  let tap = mRow / Ci;
  let ciq = (mRow - tap * Ci) / 4;
  let offY = (tap / uniforms.kw) * uniforms.dil - uniforms.ph;
  let offX = (tap % uniforms.kw) * uniforms.dil - uniforms.pw;`;
}

/** Moves a walker (px, py, pb: column, row, image) 16 pixels on. */
export function walk16(px: string, py: string, pb: string): string {
  return `${px} += 16;
      loop {
        if (${px} < W) { break; }
        ${px} -= W;
        ${py} += 1;
        if (${py} == H) { ${py} = 0; ${pb} += 1; }
      }`;
}

/**
 * Loads pixel `k`'s x quad for this thread's row quad (zero outside the
 * map, past the split or past M) into `As[slot]` (or the register `into`),
 * then walks the pixel on. `w` names the walker's variables (e.g. `px[r]` or
 * `px0`); with `concat`, channels past x's come from x2; with `half`, the
 * tile is f16 (rounded here).
 */
export function fetchQuad(
  { concat, k, slot, w, half = false, into }: {
    concat: boolean;
    k: string;
    slot: string;
    w: { px: string; py: string; pb: string };
    half?: boolean;
    into?: string;
  },
): string {
  const load = concat
    ? `let c1q = uniforms.xShape.w / 4;
        let pix = (${w.pb} * H + iy) * W + ix;
        if (ciq < c1q) {
          v = x[pix * c1q + ciq];
        } else {
          v = x2[pix * (uniforms.x2Shape.w / 4) + ciq - c1q];
        }`
    : `v = x[((${w.pb} * H + iy) * W + ix) * (Ci / 4) + ciq];`;
  return `{
      var v = vec4<f32>(0.0);
      let k = ${k};
      let iy = ${w.py} + offY;
      let ix = ${w.px} + offX;
      if (k < kEnd && mRow < M && iy >= 0 && iy < H && ix >= 0 && ix < W) {
        ${load}
      }
      ${into ?? `As[${slot}]`} = ${half ? "vec4<f16>(v)" : "v"};
      ${walk16(w.px, w.py, w.pb)}
    }`;
}
