/**
 * The one-channel conv shader (the side outputs) shared by the recorded
 * inference engine, the recorded training step and the tfjs path.
 *
 * @module
 */
import type { ConvShaderOptions } from "./conv_wgsl.ts";

/**
 * A k x k conv from C channels (in fours) to one (the side outputs): one
 * invocation per pixel, vec4 over channels, + bias in engine mode. Buffers
 * `X`, `Wt` (vec4), `result`; in tfjs mode the output count is
 * `uniforms.size` and the filter uniforms are `k`, `dil`, `pad`.
 */
export function convToOneShader(options: ConvShaderOptions = {}): string {
  const tfjs = options.tfjs ?? false;
  // Mixed precision: f16 activations widened to f32; the filter, the sums and the output f32.
  const half = !tfjs && (options.half ?? false);
  const head = tfjs
    ? `fn main(index : i32) {
  let m = index;
  if (m >= uniforms.size) { return; }
  let H = uniforms.xShape.y;
  let W = uniforms.xShape.z;
  let cq = uniforms.xShape.w / 4;`
    : `${
      half ? "\nenable f16;\n" : ""
    }struct P { M : i32, H : i32, W : i32, C : i32, k : i32, dil : i32, pad : i32 };
@group(0) @binding(0) var<storage, read_write> result : array<f32>;
@group(0) @binding(1) var<storage, read> X : array<vec4<${half ? "f16" : "f32"}>>;
@group(0) @binding(2) var<storage, read> Wt : array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias : array<f32>;
@group(0) @binding(4) var<uniform> p : P;
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nw : vec3<u32>) {
  let m = i32(gid.x + gid.y * nw.x * 64u);
  if (m >= p.M) { return; }
  let H = p.H;
  let W = p.W;
  let cq = p.C / 4;`;
  const code = /* wgsl */ `${head}
  let x = m % W;
  let rest = m / W;
  let y = rest % H;
  let b = rest / H;
  var acc = vec4<f32>(0.0);
  for (var ky = 0; ky < p.k; ky++) {
    let iy = y + ky * p.dil - p.pad;
    if (iy < 0 || iy >= H) { continue; }
    for (var kx = 0; kx < p.k; kx++) {
      let ix = x + kx * p.dil - p.pad;
      if (ix < 0 || ix >= W) { continue; }
      let src = ((b * H + iy) * W + ix) * cq;
      let wb = (ky * p.k + kx) * cq;
      for (var c = 0; c < cq; c++) { acc = fma(${
    half ? "vec4<f32>(X[src + c])" : "X[src + c]"
  }, Wt[wb + c], acc); }
    }
  }
  result[m] = ${tfjs ? "" : "bias[0] + "}acc.x + acc.y + acc.z + acc.w;
}`;
  return tfjs ? code.replace(/\bp\./g, "uniforms.") : code;
}
