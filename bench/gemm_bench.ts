/**
 * Plain fp32 GEMM in WGSL, in our conv kernels' tile shapes and two code
 * styles, to separate what the shader compiler path (naga → SPIR-V →
 * driver) makes of a style from anything conv-specific:
 *
 *   C[m][n] = Σ_k At[k][m] · B[k][n]   (At: K x M, B: K x N, C: M x N, row-major)
 *
 * which is the filter gradient's shape (pixels along k, both operands
 * contiguous along their free dimension). Tiles of 64x64, 128x64 and
 * 128x128 per 16x16 workgroup (a thread owns 4x4, 8x4 or 8x8), 16 k per
 * shared-memory step, each in two styles:
 *
 * - `loop`: accumulators in a `var` array, loops in WGSL (our kernels' style);
 * - `unroll`: scalar accumulators, every fixed loop unrolled when the WGSL is
 *   written.
 *
 * Each variant is first checked against a CPU product, then timed: `reps`
 * dispatches in one compute pass between two GPU timestamps (no read-back
 * in the timed region; without timestamp queries, the wall time of a
 * submit and its `onSubmittedWorkDone`, which in Deno includes a 10 ms
 * sleep). One JSON line per variant.
 *
 *   deno run --allow-read=. --allow-env bench/gemm_bench.ts [--size 2048x2048x4096] [--reps 10] [--runs 5] [--sweep]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { machineName, median } from "./common.ts";
import { readBuffer } from "../lib/engines/gpu/gpu_trainer_setup.ts";

/** Defaults, printed by --help. */
export const GEMM_BENCH_DEFAULTS = { size: "2048x2048x4096", reps: 10, runs: 5 } as const;

/** A tile shape and code style. */
export interface GemmVariant {
  /** Rows (of C) per tile: 64 or 128. */
  tm: 64 | 128;
  /** Columns per tile: 64 or 128. */
  tn: 64 | 128;
  /** Accumulators and fixed loops unrolled into scalars (else arrays and WGSL loops). */
  unroll: boolean;
  /** k per workgroup-memory step (a barrier pair each). @default 16 */
  ks?: 8 | 16 | 32;
}

/** The variants the benchmark runs, in order. */
export const GEMM_VARIANTS: readonly GemmVariant[] = [64, 128].flatMap((tm) =>
  [64, 128].filter((tn) => tn <= tm).flatMap((tn) =>
    [false, true].map((unroll) => ({ tm, tn, unroll } as GemmVariant))
  )
);

/**
 * `--sweep`: other steps along k and a 64x128 tile, unrolled (each checked
 * like the others), to find what the shader path makes fastest.
 */
export const GEMM_SWEEP: readonly GemmVariant[] = [
  { tm: 64, tn: 64, unroll: true, ks: 8 },
  { tm: 64, tn: 64, unroll: true, ks: 32 },
  { tm: 128, tn: 64, unroll: true, ks: 8 },
  { tm: 128, tn: 64, unroll: true, ks: 32 },
  { tm: 64, tn: 128, unroll: true },
  { tm: 64, tn: 128, unroll: true, ks: 8 },
  { tm: 128, tn: 128, unroll: true, ks: 8 },
  { tm: 128, tn: 128, unroll: false, ks: 8 },
];

/** A variant's name in the records: `64x64_unroll`, `128x64_unroll_k32`. */
export function gemmName(v: GemmVariant): string {
  return `${v.tm}x${v.tn}_${v.unroll ? "unroll" : "loop"}${(v.ks ?? 16) === 16 ? "" : `_k${v.ks}`}`;
}

const range = (n: number) => [...Array(n).keys()];

/** WGSL of one variant (workgroup 16x16; M, N multiples of the tile, K of 16). */
export function gemmShader({ tm, tn, unroll, ks = 16 }: GemmVariant): string {
  const mq = tm / 4, nq = tn / 4, rj = tm / 64, ri = tn / 64; // quads per thread: rows rj, cols ri
  const loads = (what: "A" | "B", q: number) => {
    const one = (r: number) =>
      `${what}s[li + ${256 * r}] = ${what === "A" ? "At" : "B"}[(k0 + (li + ${256 * r}) / ${q}) * ${
        what === "A" ? "p.M" : "p.N"
      } / 4 + ${what === "A" ? "m0" : "n0"} / 4 + (li + ${256 * r}) % ${q}];`;
    // fewer quads than threads (k steps of 8): the first ks * q threads load one each
    return ks * q < 256
      ? `if (li < ${ks * q}) { ${one(0)} }`
      : range((ks * q) / 256).map(one).join("\n    ");
  };
  const accName = (j: number, r: number, i: number) =>
    unroll ? `c${j}_${r}_${i}` : `acc[${(j * 4 + r) * ri + i}]`;
  const step = (kk: string) =>
    [
      ...range(rj).map((j) => `let a${j} = As[${kk} * ${mq} + ty + ${16 * j}];`),
      ...range(ri).map((i) => `let b${i} = Bs[${kk} * ${nq} + tx + ${16 * i}];`),
      ...range(rj).flatMap((j) =>
        range(4).flatMap((r) =>
          range(ri).map((i) =>
            `${accName(j, r, i)} = fma(vec4<f32>(a${j}[${r}]), b${i}, ${accName(j, r, i)});`
          )
        )
      ),
    ].join("\n      ");
  const inner = unroll
    ? range(ks).map((kk) => `{\n      ${step(String(kk))}\n    }`).join("\n    ")
    : `for (var kk = 0; kk < ${ks}; kk++) {\n      ${step("kk")}\n    }`;
  const decl = unroll
    ? range(rj).flatMap((j) =>
      range(4).flatMap((r) => range(ri).map((i) => `var ${accName(j, r, i)} = vec4<f32>(0.0);`))
    ).join("\n  ")
    : `var acc : array<vec4<f32>, ${4 * rj * ri}>;`;
  const writes = range(rj).flatMap((j) =>
    range(4).flatMap((r) =>
      range(ri).map((i) =>
        `C[(m0 + ${4 * 16 * j + r} + 4 * ty) * p.N / 4 + n0 / 4 + tx + ${16 * i}] = ${
          accName(j, r, i)
        };`
      )
    )
  ).join("\n  ");
  return /* wgsl */ `
struct P { M : i32, N : i32, K : i32 };
@group(0) @binding(0) var<storage, read_write> C : array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> At : array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B : array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p : P;
var<workgroup> As : array<vec4<f32>, ${ks * mq}>;
var<workgroup> Bs : array<vec4<f32>, ${ks * nq}>;
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>,
        @builtin(local_invocation_index) lidx : u32) {
  let li = i32(lidx);
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let m0 = i32(wid.y) * ${tm};
  let n0 = i32(wid.x) * ${tn};
  ${decl}
  for (var k0 = 0; k0 < p.K; k0 += ${ks}) {
    ${loads("A", mq)}
    ${loads("B", nq)}
    workgroupBarrier();
    ${inner}
    workgroupBarrier();
  }
  ${writes}
}`;
}

/** A compiled GEMM with its buffers for an M x N x K problem: C (f32, read back), A, B, sizes. */
export interface GemmDispatch extends TimedDispatch {
  c: GPUBuffer;
  dispose(): void;
}

/**
 * Binds `pipeline` (bindings: C, A, B, the uniform M, N, K) to new buffers
 * holding `a` and `b`, for tiles of `tile` rows x columns.
 */
export function bindGemm(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  [m, n, k]: [number, number, number],
  tile: [number, number],
  [a, b]: [ArrayBufferView, ArrayBufferView],
): GemmDispatch {
  const buf = (data: ArrayBufferView | number, usage: number) => {
    const size = typeof data === "number" ? data : data.byteLength;
    const x = device.createBuffer({ size: Math.max(16, size), usage });
    if (typeof data !== "number") device.queue.writeBuffer(x, 0, data as Uint8Array<ArrayBuffer>);
    return x;
  };
  const S = GPUBufferUsage.STORAGE, D = GPUBufferUsage.COPY_DST;
  const c = buf(4 * m * n, S | GPUBufferUsage.COPY_SRC);
  const owned = [
    c,
    buf(a, S | D),
    buf(b, S | D),
    buf(new Uint32Array([m, n, k, 0]), GPUBufferUsage.UNIFORM | D),
  ];
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: owned.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  return {
    pipeline,
    group,
    c,
    workgroups: [n / tile[1], m / tile[0]],
    dispose: () => owned.forEach((x) => x.destroy()),
  };
}

async function prepare(
  device: GPUDevice,
  v: GemmVariant,
  size: [number, number, number],
  data: [Float32Array, Float32Array],
): Promise<GemmDispatch> {
  const module = device.createShaderModule({ code: gemmShader(v) });
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  return bindGemm(device, pipeline, size, [v.tm, v.tn], data);
}

/**
 * Runs `d` once and returns max |C − Σ_q a(i, q) · b(q, j)| / max |Σ …| over
 * the M x N result (the reference summed on the CPU in float64).
 */
export async function gemmResultError(
  device: GPUDevice,
  d: GemmDispatch,
  [m, n, k]: [number, number, number],
  a: (i: number, q: number) => number,
  b: (q: number, j: number) => number,
): Promise<number> {
  const enc = device.createCommandEncoder();
  const cp = enc.beginComputePass();
  cp.setPipeline(d.pipeline);
  cp.setBindGroup(0, d.group);
  cp.dispatchWorkgroups(...d.workgroups);
  cp.end();
  device.queue.submit([enc.finish()]);
  const got = await readBuffer(device, d.c);
  let [err, scale] = [0, 0];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a(i, q) * b(q, j);
      err = Math.max(err, Math.abs(got[i * n + j] - s));
      scale = Math.max(scale, Math.abs(s));
    }
  }
  return err / scale;
}

/** Max |ours − CPU| / max |CPU| of a variant on a small problem. */
export async function gemmError(device: GPUDevice, v: GemmVariant): Promise<number> {
  const [m, n, k] = [256, 128, 96];
  const at = Float32Array.from({ length: k * m }, (_, i) => Math.sin(i * 0.37));
  const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
  const p = await prepare(device, v, [m, n, k], [at, b]);
  try {
    return await gemmResultError(
      device,
      p,
      [m, n, k],
      (i, q) => at[q * m + i],
      (q, j) => b[q * n + j],
    );
  } finally {
    p.dispose();
  }
}

/** Milliseconds per dispatch of a variant, `runs` times (`reps` dispatches per timed pass). */
export async function timeGemm(
  device: GPUDevice,
  v: GemmVariant,
  size: [number, number, number],
  options: { reps: number; runs: number },
): Promise<number[]> {
  const [m, n, k] = size;
  const at = Float32Array.from({ length: k * m }, (_, i) => (i % 7) * 0.1);
  const b = Float32Array.from({ length: k * n }, (_, i) => (i % 5) * 0.1);
  const p = await prepare(device, v, size, [at, b]);
  try {
    return await timeDispatches(device, p, options);
  } finally {
    p.dispose();
  }
}

/** A compiled dispatch to time: pipeline, bind group 0 and workgroup counts. */
export interface TimedDispatch {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  workgroups: [number, number];
}

/**
 * Milliseconds per dispatch of `d`, `runs` times after one warm-up: `reps`
 * dispatches in one compute pass between two GPU timestamps (without
 * timestamp queries, the wall time of the submit and its
 * `onSubmittedWorkDone`).
 */
export async function timeDispatches(
  device: GPUDevice,
  d: TimedDispatch,
  { reps, runs }: { reps: number; runs: number },
): Promise<number[]> {
  const stamps = device.features.has("timestamp-query");
  const qs = stamps ? device.createQuerySet({ type: "timestamp", count: 2 }) : null;
  const resolve = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const out: number[] = [];
  try {
    for (let run = -1; run < runs; run++) {
      const enc = device.createCommandEncoder();
      const cp = enc.beginComputePass(
        qs
          ? {
            timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
          }
          : {},
      );
      cp.setPipeline(d.pipeline);
      cp.setBindGroup(0, d.group);
      for (let r = 0; r < reps; r++) cp.dispatchWorkgroups(...d.workgroups);
      cp.end();
      if (qs) enc.resolveQuerySet(qs, 0, 2, resolve, 0);
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      let ms: number;
      if (qs) {
        const raw = await readBuffer(device, resolve);
        const ns = new BigInt64Array(raw.buffer);
        ms = Number(ns[1] - ns[0]) / 1e6;
      } else {
        await device.queue.onSubmittedWorkDone();
        ms = performance.now() - t0;
      }
      if (run >= 0) out.push(ms / reps); // run −1 warms up
    }
    return out;
  } finally {
    qs?.destroy();
    resolve.destroy();
  }
}

/** Runs the benchmark with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = GEMM_BENCH_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      size: { type: "string", default: d.size },
      reps: { type: "string", default: String(d.reps) },
      runs: { type: "string", default: String(d.runs) },
      sweep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`gemm_bench: fp32 WGSL GEMM variants (tile 64x64/128x64/128x128, loop/unroll)
defaults: ${
      JSON.stringify(d)
    }; --size MxNxK (multiples of 128, K of 32); --sweep: also GEMM_SWEEP`);
    return;
  }
  const size = values.size.split("x").map(Number) as [number, number, number];
  if (size.length !== 3 || size[0] % 128 || size[1] % 128 || size[2] % 32) {
    throw new RangeError(`Cannot run gemm_bench: current --size is ${values.size}`);
  }
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new TypeError("Cannot run gemm_bench: current adapter is none");
  const features = adapter.features.has("timestamp-query")
    ? ["timestamp-query" as GPUFeatureName]
    : [];
  const device = await adapter.requestDevice({ requiredFeatures: features });
  const name = [adapter.info.vendor, adapter.info.device, adapter.info.description].filter((s) => s)
    .join(" ");
  const [m, n, k] = size;
  for (const v of values.sweep ? [...GEMM_VARIANTS, ...GEMM_SWEEP] : GEMM_VARIANTS) {
    const err = await gemmError(device, v);
    const times = await timeGemm(device, v, size, {
      reps: Number(values.reps),
      runs: Number(values.runs),
    });
    const ms = median(times);
    console.log(JSON.stringify({
      workload: `gemm_${gemmName(v)}_${values.size}`,
      backend: "webgpu-wgsl",
      adapter: name,
      machine: machineName(),
      median_ms: Number(ms.toFixed(3)),
      runs: times.map((t) => Number(t.toFixed(3))),
      tflops: Number(((2 * m * n * k) / ms / 1e9).toPrecision(3)),
      max_rel_err: err,
      timing: device.features.has("timestamp-query") ? "timestamps" : "wall",
    }));
  }
  device.destroy();
}

if (import.meta.main) await main(Deno.args);
