/**
 * Probes whether Deno's WebGPU reaches the GPU's matrix units (tensor cores)
 * through wgpu's native `wgpu-cooperative-matrix` feature (WGSL
 * `enable wgpu_cooperative_matrix;`, `coop_mat16x16<f16, A|B>` operands and
 * `coop_mat16x16<f32, C>` accumulators, `coopLoad`/`coopLoadT`,
 * `coopMultiplyAdd`, `coopStore`/`coopStoreT`), and how fast a GEMM on them
 * runs beside our fp32 tiles (`gemm_bench.ts`) and `torch.mm` (fp32, TF32,
 * fp16) in `torch_bench.py`:
 *
 *   C[m][n] = Σ_k A[m][k] · B[k][n]   (A: M x K f16, B: K x N f16, C: M x N f32; row-major)
 *
 * First one JSON line with the adapter's features (and whether the device
 * could be made with the cooperative-matrix feature). Then, for each variant
 * and each of the two load/store conventions (`coopLoad`/`coopStore` and the
 * `…T` forms; which one reads row-major is checked, not assumed), the error
 * against a CPU product on a small problem of exact f16 values, then the
 * time of `reps` dispatches between two GPU timestamps. A variant whose WGSL
 * or pipeline the device refuses prints its error and the run goes on.
 *
 * Variants: `direct_RxC_wg32` (one subgroup a workgroup, R x C 16x16
 * accumulators, operands loaded from storage) and `staged_TMxTN_wgT`
 * (T threads stage a TM x 32 slab of A and a 32 x TN slab of B in workgroup
 * memory; each 32-thread subgroup multiplies its part from there).
 *
 *   deno run --allow-read=. --allow-env bench/coop_gemm_bench.ts [--size 4096x4096x4096] [--reps 10] [--runs 5]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { machineName, median } from "./common.ts";
import { bindGemm, type GemmDispatch, gemmResultError, timeDispatches } from "./gemm_bench.ts";

/** Defaults, printed by --help. */
export const COOP_GEMM_DEFAULTS = { size: "4096x4096x4096", reps: 10, runs: 5 } as const;

/** The WebGPU feature name Deno 2.9.6 gives wgpu's cooperative matrices. */
export const COOP_FEATURE = "wgpu-cooperative-matrix";

/** One GEMM variant on 16x16x16 f16 cooperative matrices (f32 accumulators). */
export interface CoopVariant {
  /** Threads a workgroup (32 a subgroup). */
  threads: number;
  /** Accumulator blocks of a subgroup: rows x columns of 16x16. */
  r: number;
  c: number;
  /** Subgroups of a workgroup, rows x columns (their product is threads / 32). */
  sm: number;
  sn: number;
  /** Operands staged in workgroup memory, 32 k at a time (else loaded from storage). */
  staged: boolean;
}

/** The variants the benchmark runs, in order. */
export const COOP_VARIANTS: readonly CoopVariant[] = [
  { threads: 32, r: 1, c: 1, sm: 1, sn: 1, staged: false },
  { threads: 32, r: 2, c: 2, sm: 1, sn: 1, staged: false },
  { threads: 32, r: 4, c: 2, sm: 1, sn: 1, staged: false },
  { threads: 32, r: 4, c: 4, sm: 1, sn: 1, staged: true },
  { threads: 128, r: 2, c: 2, sm: 2, sn: 2, staged: true },
  { threads: 256, r: 2, c: 4, sm: 4, sn: 2, staged: true },
  { threads: 256, r: 4, c: 2, sm: 2, sn: 4, staged: true },
];

const range = (n: number) => [...Array(n).keys()];
const KC = 32;

/** The variant's name in the records. */
export function coopName(v: CoopVariant): string {
  const [tm, tn] = [16 * v.r * v.sm, 16 * v.c * v.sn];
  return v.staged ? `staged_${tm}x${tn}_wg${v.threads}` : `direct_${v.r}x${v.c}_wg${v.threads}`;
}

/** WGSL of a variant; `t`: the `…T` load and store forms. */
export function coopShader(v: CoopVariant, t: boolean): string {
  const [tm, tn] = [16 * v.r * v.sm, 16 * v.c * v.sn];
  const L = t ? "coopLoadT" : "coopLoad", S = t ? "coopStoreT" : "coopStore";
  const acc = (i: number, j: number) => `acc${i}_${j}`;
  const decl = range(v.r).flatMap((i) =>
    range(v.c).map((j) => `var ${acc(i, j)} = coop_mat16x16<f32, C>();`)
  ).join("\n  ");
  const products = (
    aAt: (i: number, kk: number) => string,
    bAt: (j: number, kk: number) => string,
    aStride: string,
    bStride: string,
    ks: number,
  ) =>
    range(ks).map((kk) =>
      [
        ...range(v.r).map((i) =>
          `let a${i} = ${L}<coop_mat16x16<f16, A>>(${aAt(i, kk)}, ${aStride});`
        ),
        ...range(v.c).map((j) =>
          `let b${j} = ${L}<coop_mat16x16<f16, B>>(${bAt(j, kk)}, ${bStride});`
        ),
        ...range(v.r).flatMap((i) =>
          range(v.c).map((j) => `${acc(i, j)} = coopMultiplyAdd(a${i}, b${j}, ${acc(i, j)});`)
        ),
      ].join("\n      ")
    ).map((s) => `{\n      ${s}\n    }`).join("\n    ");
  // Copies a rows x cols f16 slab from storage (8 halves a vec4<u32>) to workgroup memory `dst`.
  const stage = (dst: string, src: string, rows: number, cols: number, at: string) =>
    `for (var e = li; e < ${(rows * cols) / 8}u; e += ${v.threads}u) {
      let row = e / ${cols / 8}u;
      let col = (e % ${cols / 8}u) * 8u;
      let q = ${src}[(${at}) / 8u];
      ${
      range(8).map((h) =>
        `${dst}[row * ${cols}u + col + ${h}u] = bitcast<vec2<f16>>(q[${h >> 1}]).${
          h & 1 ? "y" : "x"
        };`
      ).join("\n      ")
    }
    }`;
  const body = v.staged
    ? `for (var k0 = 0u; k0 < p.K; k0 += ${KC}u) {
    ${stage("As", "A8", tm, KC, "(m0 + row) * p.K + k0 + col")}
    ${stage("Bs", "B8", KC, tn, "(k0 + row) * p.N + n0 + col")}
    workgroupBarrier();
    ${
      products(
        (i, kk) => `&As[(sr + ${16 * i}u) * ${KC}u + ${16 * kk}u]`,
        (j, kk) => `&Bs[${16 * kk}u * ${tn}u + sc + ${16 * j}u]`,
        `${KC}u`,
        `${tn}u`,
        KC / 16,
      )
    }
    workgroupBarrier();
  }`
    : `for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    ${
      products(
        (i) => `&A[(m0 + sr + ${16 * i}u) * p.K + k0]`,
        (j) => `&B[k0 * p.N + n0 + sc + ${16 * j}u]`,
        "p.K",
        "p.N",
        1,
      )
    }
  }`;
  const stores = range(v.r).flatMap((i) =>
    range(v.c).map((j) =>
      `${S}(${acc(i, j)}, &Cm[(m0 + sr + ${16 * i}u) * p.N + n0 + sc + ${16 * j}u], p.N);`
    )
  ).join("\n  ");
  return /* wgsl */ `enable f16;
enable wgpu_cooperative_matrix;
struct P { M : u32, N : u32, K : u32, pad : u32 };
@group(0) @binding(0) var<storage, read_write> Cm : array<f32>;
@group(0) @binding(1) var<storage, read> ${v.staged ? "A8 : array<vec4<u32>>" : "A : array<f16>"};
@group(0) @binding(2) var<storage, read> ${v.staged ? "B8 : array<vec4<u32>>" : "B : array<f16>"};
@group(0) @binding(3) var<uniform> p : P;
${
    v.staged
      ? `var<workgroup> As : array<f16, ${tm * KC}>;\nvar<workgroup> Bs : array<f16, ${KC * tn}>;`
      : ""
  }
@compute @workgroup_size(${v.threads})
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) li : u32) {
  let m0 = wid.y * ${tm}u;
  let n0 = wid.x * ${tn}u;
  let sg = ${v.threads === 32 ? "0u" : "li / 32u"};
  let sr = (sg / ${v.sn}u) * ${16 * v.r}u;
  let sc = (sg % ${v.sn}u) * ${16 * v.c}u;
  ${decl}
  ${body}
  ${stores}
}`;
}

/** f16 bits of `x` (round to nearest even; enough for the test's values). */
function f16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign; // the test's values are never subnormal
  const round = mant & 0x1fff;
  mant >>>= 13;
  if (round > 0x1000 || (round === 0x1000 && (mant & 1))) mant++;
  return sign | ((exp << 10) + mant);
}

function halfBuffer(values: Float32Array): Uint16Array {
  return Uint16Array.from(values, f16Bits);
}

async function prepare(
  device: GPUDevice,
  code: string,
  size: [number, number, number],
  tile: [number, number],
  data: [Uint16Array, Uint16Array],
): Promise<GemmDispatch> {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const bad = info.messages.filter((x) => x.type === "error");
  if (bad.length) {
    await device.popErrorScope();
    throw new TypeError(bad.map((x) => `${x.lineNum}: ${x.message}`).join("; "));
  }
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const err = await device.popErrorScope();
  if (err) throw new TypeError(err.message);
  return bindGemm(device, pipeline, size, tile, data);
}

function tileOf(v: CoopVariant): [number, number] {
  return [16 * v.r * v.sm, 16 * v.c * v.sn];
}

/** Max |ours − CPU| / max |CPU| on a 128 x 128 x 64 problem of exact f16 values. */
async function coopError(device: GPUDevice, v: CoopVariant, t: boolean): Promise<number> {
  const [m, n, k] = [128, 128, 64];
  const a = Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 17) / 8 - 1);
  const b = Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 13) / 8 - 0.75);
  const p = await prepare(device, coopShader(v, t), [m, n, k], tileOf(v), [
    halfBuffer(a),
    halfBuffer(b),
  ]);
  try {
    return await gemmResultError(
      device,
      p,
      [m, n, k],
      (i, q) => a[i * k + q],
      (q, j) => b[q * n + j],
    );
  } finally {
    p.dispose();
  }
}

async function timeCoop(
  device: GPUDevice,
  v: CoopVariant,
  t: boolean,
  size: [number, number, number],
  options: { reps: number; runs: number },
): Promise<number[]> {
  const [m, n, k] = size;
  const a = new Uint16Array(m * k).fill(0x3c00); // 1.0
  const b = new Uint16Array(k * n).fill(0x3800); // 0.5
  const p = await prepare(device, coopShader(v, t), size, tileOf(v), [a, b]);
  try {
    return await timeDispatches(device, p, options);
  } finally {
    p.dispose();
  }
}

/** Runs the probe with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = COOP_GEMM_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      size: { type: "string", default: d.size },
      reps: { type: "string", default: String(d.reps) },
      runs: { type: "string", default: String(d.runs) },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`coop_gemm_bench: f16 cooperative-matrix GEMM variants (wgpu-cooperative-matrix)
defaults: ${JSON.stringify(d)}; --size MxNxK (multiples of 128)`);
    return;
  }
  const size = values.size.split("x").map(Number) as [number, number, number];
  if (size.length !== 3 || size.some((x) => !(x > 0) || x % 128)) {
    throw new RangeError(`Cannot run coop_gemm_bench: current --size is ${values.size}`);
  }
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new TypeError("Cannot run coop_gemm_bench: current adapter is none");
  const name = [adapter.info.vendor, adapter.info.device, adapter.info.description].filter((s) => s)
    .join(" ");
  const wanted = [COOP_FEATURE, "shader-f16", "timestamp-query"] as GPUFeatureName[];
  const missing = wanted.filter((f) => !adapter.features.has(f));
  const record = { adapter: name, machine: machineName() };
  console.log(JSON.stringify({
    coop_probe: record,
    features: [...adapter.features].sort(),
    subgroup_sizes: [
      (adapter.info as unknown as Record<string, unknown>).subgroupMinSize ?? null,
      (adapter.info as unknown as Record<string, unknown>).subgroupMaxSize ?? null,
    ],
    missing,
  }));
  if (missing.length) return;
  const device = await adapter.requestDevice({ requiredFeatures: wanted });
  const [m, n, k] = size;
  try {
    for (const v of COOP_VARIANTS) {
      for (const t of [false, true]) {
        const workload = `coopgemm_${coopName(v)}${t ? "_T" : ""}_${values.size}`;
        try {
          const err = await coopError(device, v, t);
          const times = await timeCoop(device, v, t, size, {
            reps: Number(values.reps),
            runs: Number(values.runs),
          });
          const ms = median(times);
          console.log(JSON.stringify({
            workload,
            backend: "webgpu-wgsl-coop",
            ...record,
            median_ms: Number(ms.toFixed(3)),
            runs: times.map((x) => Number(x.toFixed(3))),
            tflops: Number(((2 * m * n * k) / ms / 1e9).toPrecision(3)),
            max_rel_err: err,
          }));
        } catch (e) {
          console.log(JSON.stringify({ workload, ...record, error: String(e).slice(0, 600) }));
        }
      }
    }
  } finally {
    device.destroy();
  }
}

if (import.meta.main) await main(Deno.args);
