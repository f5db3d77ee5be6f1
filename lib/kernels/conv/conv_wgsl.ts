/**
 * The vec4 implicit-GEMM conv shader shared by the recorded inference
 * engine (`lib/engines/gpu/gpu_engine.ts`, its own bindings) and the training
 * forward/input-gradient conv on tfjs' WebGPU backend (`conv_webgpu.ts`,
 * tfjs' bindings).
 *
 * @module
 */

import type { ConvShaderOptions } from "./conv_tile.ts";
import { convWorkgroup, halfStore4 } from "./conv_tile.ts";

export {
  type ConvShaderOptions,
  convThreads,
  convTileN,
  convWideTile,
  convWorkgroup,
  F16_MAX,
  halfStore,
  halfStore4,
} from "./conv_tile.ts";

/**
 * The conv shader for channel counts that are multiples of 4 (every layer
 * but the RGB input conv and the one-channel side convs): vec4 loads along
 * channels, tiles of `tm` pixels x `tn` channels, a thread owns `rm` rows x
 * 4 columns, or 8 with `cols: 2` ({@linkcode convWorkgroup}); each thread
 * keeps its pixels' coordinates and walks (tap, channel) incrementally, so
 * the K loop does no division.
 */
export function convShaderVec4(tm: number, tn: number, options: ConvShaderOptions = {}): string {
  const tfjs = options.tfjs ?? false;
  const unrolled = options.unrolled ?? false;
  const prefetch = options.prefetch ?? false;
  if (
    (tfjs || !unrolled) &&
    ((options.cols ?? 1) !== 1 || options.threadRows !== undefined || prefetch)
  ) {
    throw new RangeError(
      "Cannot tile: current shader is tfjs or looped, with cols, threadRows or prefetch",
    );
  }
  const { rm, wx, wy, cols } = convWorkgroup(tm, tn, options);
  const flipped = !tfjs && (options.flipped ?? false);
  const split = !tfjs && (options.split ?? false);
  const splitK = !tfjs && !split && (options.splitK ?? false);
  const half = !tfjs && !flipped && !split && (options.half ?? false);
  const tiles16 = !tfjs && !half && (options.tiles16 ?? false);
  const sums16 = (half && (options.halfSums ?? true)) || tiles16;
  // Storage and tile element types: vec4<f16> for mixed precision.
  const v4 = half ? "vec4<f16>" : "vec4<f32>";
  const t4 = half || tiles16 ? "vec4<f16>" : "vec4<f32>";
  const toTile = (v: string) => tiles16 ? `vec4<f16>(${v})` : v;
  // The filter's storage type, and its tile conversion.
  const w4 = half && (options.halfFilter ?? true) ? "vec4<f16>" : "vec4<f32>";
  const wTile = (v: string) => tiles16 || (half && w4 !== v4) ? `vec4<f16>(${v})` : v;
  const u = tfjs ? "uniforms" : "p";
  const nq = tn / 4; // vec4 columns per tile
  const threads = wx * wy;
  const per = (4 * tm) / threads; // A-tile quads each thread loads per step
  if (!Number.isInteger(per) || per < 1) {
    throw new RangeError(`Cannot tile: current value is ${tm}x${tn}/${rm}`);
  }
  const lanes = threads / 4; // pixels apart between one thread's loads
  const header = tfjs ? "" : /* wgsl */ `${half || tiles16 ? "\nenable f16;" : ""}
struct P { M : i32, H : i32, W : i32, C1 : i32, C2 : i32, Co : i32,
  k : i32, dil : i32, relu : i32, res : i32, K : i32, pad : i32${
    split ? ", split : i32" : splitK ? ", chunk : i32" : ""
  } };
@group(0) @binding(0) var<storage, read_write> result : array<${splitK ? "vec4<f32>" : v4}>;
@group(0) @binding(1) var<storage, read> A : array<${v4}>;
@group(0) @binding(2) var<storage, read> B : array<${v4}>;
${splitK ? "" : `@group(0) @binding(3) var<storage, read> R : array<${v4}>;`}
@group(0) @binding(4) var<storage, read> Wt : array<${flipped ? "f32" : w4}>;
${splitK ? "" : "@group(0) @binding(5) var<storage, read> bias : array<vec4<f32>>;"}
${
    split
      ? `@group(0) @binding(6) var<storage, read_write> result2 : array<vec4<f32>>;
@group(0) @binding(7) var<uniform> p : P;`
      : "@group(0) @binding(6) var<uniform> p : P;"
  }`;
  // tfjs writes its own bindings and entry point, and sets the workgroup size.
  const entry = tfjs
    ? `fn main() {
  let wid = workgroupId;
  let lid = localId;
  let li = localIndex;`
    : `@compute @workgroup_size(${wx}, ${wy}, 1)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>,
        @builtin(local_invocation_index) li : u32) {`;
  // Without a second input (tfjs mode), no B read; without bias/residual, none added.
  const load = tfjs
    ? "v = A[(pix * p.C1 + ci) / 4];"
    : "if (ci < p.C1) { v = A[(pix * p.C1 + ci) / 4]; } else { v = B[(pix * p.C2 + ci - p.C1) / 4]; }";
  const epilogue = (acc: string) =>
    tfjs || splitK ? `var v = ${acc};` : `var v = ${acc} + bias[n / 4];`;
  const relu = splitK ? "" : "if (p.relu != 0) { v = max(v, vec4<f32>(0.0)); }";
  const residual = tfjs || splitK
    ? ""
    : `if (p.res != 0) { v = v + ${
      half ? "vec4<f32>(R[(row * p.Co + n) / 4])" : "R[(row * p.Co + n) / 4]"
    }; }`;
  // Flipped: w'[tap, c, n + j] = w[k² − 1 − tap, n + j, c], 4 values cin apart.
  const weightLoad = flipped
    ? `let tap = kq / cin;
        let base = ((p.k * p.k - 1 - tap) * p.Co + n) * cin + kq - tap * cin;
        w = vec4<f32>(Wt[base], Wt[base + cin], Wt[base + 2 * cin], Wt[base + 3 * cin]);`
    : "w = Wt[(kq * p.Co + n) / 4];";
  // Mixed precision: each 16-k step into f16 partial sums (h), added to acc after the step.
  // Column group j's names (none with one group: the shader text as before).
  const J = [...Array(cols).keys()], sfx = (j: number) => cols === 1 ? "" : `_${j}`;
  const part = (i: number | string, j = 0) =>
    sums16 ? (unrolled ? `h${i}${sfx(j)}` : `h[${i}]`) : "";
  const R = [...Array(per).keys()], I = [...Array(rm).keys()];
  const IJ = I.flatMap((i) => J.map((j) => [i, j] as const));
  // Pixels this thread loads: m0 + li/4 + lanes·r (pm), with their coordinates.
  const walkers = unrolled
    ? R.map((r) =>
      `let pm${r} = m0 + i32(li) / 4 + ${lanes * r};
  let px${r} = pm${r} % p.W;
  let py${r} = (pm${r} / p.W) % p.H;
  let pb${r} = pm${r} / p.W / p.H;`
    ).join("\n  ")
    : `var pm : array<i32, ${per}>;
  var py : array<i32, ${per}>;
  var px : array<i32, ${per}>;
  var pb : array<i32, ${per}>;
  for (var r = 0; r < ${per}; r++) {
    let m = m0 + i32(li) / 4 + ${lanes} * r;
    pm[r] = m;
    px[r] = m % p.W;
    let rest = m / p.W;
    py[r] = rest % p.H;
    pb[r] = rest / p.H;
  }`;
  const accs = unrolled
    ? IJ.map(([i, j]) => `var acc${i}${sfx(j)} = vec4<f32>(0.0);`).join("\n  ")
    : `var acc : array<vec4<f32>, ${rm}>;`;
  const partDecl = !sums16
    ? ""
    : unrolled
    ? IJ.map(([i, j]) => `var h${i}${sfx(j)} = vec4<f16>(0.0);`).join("\n    ")
    : `var h : array<vec4<f16>, ${rm}>;
    for (var i = 0; i < ${rm}; i++) { h[i] = vec4<f16>(0.0); }`;
  const partAdd = !sums16 ? "" : unrolled
    ? IJ.map(([i, j]) => {
      const [acc, h] = [`acc${i}${sfx(j)}`, `h${i}${sfx(j)}`];
      return `${acc} = ${acc} + vec4<f32>(${h});`;
    }).join("\n    ")
    : `for (var i = 0; i < ${rm}; i++) { acc[i] = acc[i] + vec4<f32>(h[i]); }`;
  const loadOne = (r: string, at: (a: string) => string) =>
    `{
      var v = ${v4}(0.0);
      let iy = ${at("py")} + ky * p.dil - p.pad;
      let ix = ${at("px")} + kx * p.dil - p.pad;
      if (${at("pm")} < p.M && ky < p.k && iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) {
        let pix = (${at("pb")} * p.H + iy) * p.W + ix;
        ${load}
      }
      As[i32(li) + ${threads} * ${r}] = ${toTile("v")};
    }`;
  // Walks (tap, channel) 16 k on.
  const ADVANCE = `ci += 16;
    loop {
      if (ci < cin) { break; }
      ci -= cin;
      kx += 1;
      if (kx == p.k) { kx = 0; ky += 1; }
    }`;
  const loads = unrolled
    ? R.map((r) => loadOne(String(r), (a) => `${a}${r}`)).join("\n    ")
    : `for (var r = 0; r < ${per}; r++) ${loadOne("r", (a) => `${a}[r]`)}`;
  // Double buffering: the half of As and Bs this step reads.
  const [aOff, bOff] = prefetch ? ["aOff + ", "bOff + "] : ["", ""];
  // One quad of k: four rows of B, then each owned row's A quad into its accumulator.
  const bw = (e: string) => half && !sums16 ? `vec4<f32>(${e})` : e;
  // Column group j of a thread: vec4 column tx + j·wx of the tile.
  const col = (j: number) => j === 0 ? "tx" : `tx + ${j * wx}`;
  const quad = (qq: string, rows: string) =>
    `${
      J.map((j) =>
        [0, 1, 2, 3].map((r) =>
          `let b${r}${sfx(j)} = ${
            bw(`Bs[${bOff}(4 * ${qq}${r ? ` + ${r}` : ""}) * ${nq} + ${col(j)}]`)
          };`
        ).join("\n      ")
      ).join("\n      ")
    }
      ${rows}`;
  const fmas = (i: number | string, qq: string, accOf: (i: number | string) => string) => {
    // f16 values summed in f32: widened first.
    const wide = half && !sums16;
    const av = wide
      ? "vec4<f32>(As[" + aOff + "(ty + " + wy + " * " + i + ") * 4 + " + qq + "])"
      : "";
    const t = sums16 ? "vec4<f16>" : "vec4<f32>";
    const sums = J.map((j) => {
      const acc = sums16 ? part(i, j) : cols === 1 ? accOf(i) : `acc${i}${sfx(j)}`;
      return ["x", "y", "z", "w"].map((c, r) =>
        `${acc} = fma(${t}(a.${c}), b${r}${sfx(j)}, ${acc});`
      ).join("\n        ");
    }).join("\n        ");
    return `{
        let a = ${wide ? av : `As[${aOff}(ty + ${wy} * ${i}) * 4 + ${qq}]`};
        ${sums}
      }`;
  };
  const math = unrolled
    ? [0, 1, 2, 3].map((qq) =>
      `{
      ${
        quad(
          String(qq),
          I.map((i) => fmas(i, String(qq), (k) => `acc${k}`)).join("\n      "),
        )
      }
    }`
    ).join("\n    ")
    : `for (var qq = 0; qq < 4; qq++) {
      ${
      quad(
        "qq",
        `for (var i = 0; i < ${rm}; i++) ${fmas("i", "qq", (k) => `acc[${k}]`)}`,
      )
    }
    }`;
  // Double buffering (unrolled): the next step's A quads (pa<r>) and filter quads (pw<j>) are
  // fetched into registers before this step's products and stored to the other half after them.
  const bq = Math.ceil((16 * nq) / threads), Q = [...Array(bq).keys()];
  const fetchA = (r: number) =>
    `{
      var v = ${v4}(0.0);
      let iy = py${r} + ky * p.dil - p.pad;
      let ix = px${r} + kx * p.dil - p.pad;
      if (pm${r} < p.M && ky < p.k && iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) {
        let pix = (pb${r} * p.H + iy) * p.W + ix;
        ${load}
      }
      pa${r} = ${toTile("v")};
    }`;
  const fetchB = (j: number, k0: string) =>
    `{
      let idx = i32(li) + ${threads * j};
      let kq = ${k0} + idx / ${nq};
      let n = n0 + 4 * (idx % ${nq});
      var w = ${w4}(0.0);
      if (idx < ${16 * nq} && kq < p.K && n < p.Co) { ${weightLoad} }
      pw${j} = ${wTile("w")};
    }`;
  const fetchAll = (k0: string) =>
    [...R.map(fetchA), ADVANCE, ...Q.map((j) => fetchB(j, k0))].join("\n    ");
  const storeAll = (a: string, b: string) =>
    [
      ...R.map((r) => `As[${a} + i32(li) + ${threads * r}] = pa${r};`),
      ...Q.map((j) =>
        threads * (j + 1) <= 16 * nq
          ? `Bs[${b} + i32(li) + ${threads * j}] = pw${j};`
          : `if (i32(li) + ${threads * j} < ${16 * nq}) { Bs[${b} + i32(li) + ${
            threads * j
          }] = pw${j}; }`
      ),
    ].join("\n    ");
  const end = splitK ? "kEnd" : "p.K";
  const doubleBuffered = () =>
    `${R.map((r) => `var pa${r} = ${t4}(0.0);`).join("\n  ")}
  ${Q.map((j) => `var pw${j} = ${t4}(0.0);`).join("\n  ")}
  ${fetchAll(splitK ? "kStart" : "0")}
  ${storeAll("0", "0")}
  workgroupBarrier();
  var aOff = 0;
  var bOff = 0;
  for (var k0 = ${splitK ? "kStart" : "0"}; k0 < ${end}; k0 += 16) {
    let more = k0 + 16 < ${end};
    if (more) {
    ${fetchAll("k0 + 16")}
    }${sums16 ? `\n    ${partDecl}` : ""}
    ${math}${sums16 ? `\n    ${partAdd}` : ""}
    if (more) {
    ${storeAll(`${4 * tm} - aOff`, `${16 * nq} - bOff`)}
    }
    workgroupBarrier();
    aOff = ${4 * tm} - aOff;
    bOff = ${16 * nq} - bOff;
  }`;
  const write = split
    ? `if (n < p.split) {
        result[(row * p.split + n) / 4] = v;
      } else {
        result2[(row * (p.Co - p.split) + n - p.split) / 4] = v;
      }`
    : splitK
    ? "result[((i32(wid.z) * p.M + row) * p.Co + n) / 4] = v;"
    : half
    ? `result[(row * p.Co + n) / 4] = ${halfStore4("v")};`
    : "result[(row * p.Co + n) / 4] = v;";
  const storeRow = (i: number | string, acc: string) =>
    `  let row = m0 + ty + ${wy} * ${i};
    if (row < p.M) {
      ${epilogue(acc)}
      ${relu}
      ${residual}
      ${write}
    }`;
  const rowsOf = (j: number) =>
    I.map((i) => `{\n  ${storeRow(i, `acc${i}${sfx(j)}`)}\n  }`).join("\n  ");
  // One group: a thread past Co returns (below); more: each group checks its own.
  const store = !unrolled ? storeRow("i", "acc[i]") : cols === 1 ? rowsOf(0) : J.map((j) =>
    `{
  let n = n0 + 4 * (${col(j)});
  if (n < p.Co) {
  ${rowsOf(j)}
  }
  }`
  ).join("\n  ");
  const code = /* wgsl */ `${header}
var<workgroup> As : array<${t4}, ${(prefetch ? 2 : 1) * 4 * tm}>; // [${
    prefetch ? "2][" : ""
  }${tm} pixels][4 quads of k]
var<workgroup> Bs : array<${t4}, ${(prefetch ? 2 : 1) * 16 * nq}>; // [${
    prefetch ? "2][" : ""
  }16 k][${nq} quads of channels]

${entry}
  let n0 = i32(wid.x) * ${tn};
  let m0 = i32(wid.y) * ${tm};
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let cin = p.C1 + p.C2;
  // This thread loads pixels m0 + li/4 + ${lanes}·r, channel quad q of every 16-k step.
  let q = i32(li) % 4;
  ${walkers}
  ${
    splitK
      ? `let kStart = i32(wid.z) * p.chunk;
  let kEnd = min(p.K, kStart + p.chunk);
  var ci = 4 * q + kStart;`
      : "var ci = 4 * q;"
  }
  var ky = 0;
  var kx = 0;
  loop {
    if (ci < cin) { break; }
    ci -= cin;
    kx += 1;
    if (kx == p.k) { kx = 0; ky += 1; }
  }
  ${accs}
  ${
    prefetch
      ? doubleBuffered()
      : `for (var k0 = ${splitK ? "kStart; k0 < kEnd" : "0; k0 < p.K"}; k0 += 16) {
    ${loads}
    ${ADVANCE}
    for (var idx = i32(li); idx < ${16 * nq}; idx += ${threads}) {
      let kq = k0 + idx / ${nq};
      let n = n0 + 4 * (idx % ${nq});
      var w = ${w4}(0.0);
      if (kq < p.K && n < p.Co) { ${weightLoad} }
      Bs[idx] = ${wTile("w")};
    }
    workgroupBarrier();${sums16 ? `\n    ${partDecl}` : ""}
    ${math}${sums16 ? `\n    ${partAdd}` : ""}
    workgroupBarrier();
  }`
  }
  ${
    cols === 1
      ? `let n = n0 + 4 * tx;
  if (n >= p.Co) { return; }`
      : ""
  }
  ${unrolled ? "" : `for (var i = 0; i < ${rm}; i++) {`}
  ${store}
  ${unrolled ? "" : "}"}
}`;
  return code.replace(/\bp\./g, `${u}.`);
}
