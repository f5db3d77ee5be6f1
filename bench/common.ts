/**
 * Shared pieces of the benchmark scripts: flag parsing helpers, warm timing
 * loops, the machine description and the JSON line every script prints.
 *
 * @module
 */
import { cpus } from "node:os";
import process from "node:process";
import { tf } from "../lib/deps.ts";
import { type BackendInfo, type BackendName, selectBackend } from "../lib/backend.ts";
import { foldBatchNorm } from "../lib/model/fold_bn.ts";
import { type ArchName, U2Net } from "../lib/model/mod.ts";
import {
  currentTuning,
  DEFAULT_TUNING,
  enterTuning,
  type Tuning,
  TUNING_SWITCHES,
} from "../lib/kernels/webgpu.ts";

/** One benchmark result, printed as one JSON line. */
export interface BenchRecord {
  /** e.g. `infer_lite_b1_320`, `train_full_b16_288`. */
  workload: string;
  /** Framework and backend: `tfjs-wasm`, `tfjs-webgpu`, `torch-cuda`, `ort-cpu` … */
  backend: string;
  /** GPU adapter / device name, or null on a CPU backend. */
  adapter: string | null;
  /** Host description (os, arch, cores, cpu model). */
  machine: string;
  /** Median over the warm runs, ms per call (per batch). */
  median_ms: number;
  /** Every warm run, ms. */
  runs: number[];
  /** Anything else worth keeping (threads, ms per image, notes). */
  [extra: string]: unknown;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

let machineCache: string | undefined;

/** `linux-x86_64, 2 cores, <cpu model>`; the model only with --allow-sys=cpus. */
export function machineName(): string {
  if (machineCache) return machineCache;
  let model = "";
  try {
    // Needs --allow-sys=cpus; /proc/cpuinfo would need --allow-all in Deno 2.
    model = cpus()[0]?.model?.trim() ?? "";
  } catch { /* no permission: leave it out */ }
  machineCache = [
    `${Deno.build.os}-${Deno.build.arch}`,
    `${navigator.hardwareConcurrency} cores`,
    model,
  ].filter((s) => s).join(", ");
  return machineCache;
}

/** Prints one record as a JSON line (times rounded to 0.01 ms). */
export function emit(record: BenchRecord): void {
  const r = {
    ...record,
    median_ms: Number(record.median_ms.toFixed(2)),
    runs: record.runs.map((t) => Number(t.toFixed(2))),
  };
  console.log(JSON.stringify(r));
}

/** Options of {@linkcode timeRuns}. */
export interface TimeRunsOptions {
  /** Untimed runs first. */
  warmup: number;
  /** Timed runs. */
  runs: number;
  /** Stop timing after this many seconds (at least one timed run). */
  maxSeconds?: number;
  /** Called after every run, warm-up ones included (e.g. progress on stderr). */
  onRun?: (ms: number, warmup: boolean) => void;
  /**
   * Receives the process CPU time (user + system, ms) of every timed run: on
   * this shared 2-core machine a steadier measure than wall time for the
   * single-threaded wasm backend.
   */
  cpu?: number[];
}

/**
 * Runs `fn` `warmup` times untimed and `runs` times timed; `fn` must finish
 * its device work before it resolves (await a read-back). Returns ms per run.
 */
export async function timeRuns(
  fn: () => Promise<void>,
  options: TimeRunsOptions,
): Promise<number[]> {
  for (let i = 0; i < options.warmup; i++) {
    const t0 = performance.now();
    await fn();
    options.onRun?.(performance.now() - t0, true);
  }
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < options.runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    options.cpu?.push((c.user + c.system) / 1000);
    options.onRun?.(times.at(-1)!, false);
    // A time budget: stop early (keeping at least one run) on slow backends.
    if (options.maxSeconds && performance.now() - start > options.maxSeconds * 1000) break;
  }
  return times;
}

/** A `timeRuns` progress callback printing `{"progress":workload,…}` lines on stderr. */
export function progressPrinter(workload: string): (ms: number, warmup: boolean) => void {
  return (ms, warmup) =>
    console.error(JSON.stringify({ progress: workload, warmup, ms: Number(ms.toFixed(1)) }));
}

/** `tfjs-<backend>` with the adapter, from `selectBackend`'s answer. */
export function backendLabel(info: BackendInfo): { backend: string; adapter: string | null } {
  return { backend: `tfjs-${info.backend}`, adapter: info.adapter ?? null };
}

/** Selects the backend; for wasm, reports the thread count tfjs-wasm runs with. */
export async function setupBackend(
  name: string,
): Promise<BackendInfo & { threads: number | null }> {
  const info = await selectBackend(name as BackendName);
  let threads: number | null = null;
  if (info.backend === "wasm") {
    // deno-lint-ignore no-explicit-any
    const wasm = (tf.backend() as any).wasm;
    threads = typeof wasm?.getThreadsCount === "function" ? wasm.getThreadsCount() : 1;
  }
  return { ...info, threads };
}

/** A folded-BN (inference) network of `arch` from seeded random weights, eval mode. */
export async function foldedModel(arch: ArchName, seed = 0): Promise<U2Net> {
  const bn = U2Net.create(arch, { seed });
  try {
    return await foldBatchNorm(bn);
  } finally {
    bn.dispose();
  }
}

/** Splits a comma list (`"1,8"`) into numbers, rejecting anything else. */
export function numberList(s: string, what: string): number[] {
  const xs = s.split(",").map((v) => Number(v.trim()));
  if (!xs.length || xs.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new RangeError(`Cannot parse --${what}: current value is "${s}"`);
  }
  return xs;
}

/** Splits `--models`, accepting only `lite` and `full`. */
export function modelList(s: string): ArchName[] {
  const xs = s.split(",").map((v) => v.trim());
  for (const x of xs) {
    if (x !== "lite" && x !== "full") {
      throw new RangeError(`Cannot parse --models: current value is "${s}"`);
    }
  }
  return xs as ArchName[];
}

/** Defaults every benchmark script shares. */
export interface SharedBenchDefaults {
  /** Backend name. */
  backend: string;
  /** Comma list of architectures. */
  models: string;
  /** Input side. */
  size: number;
  /** Comma list of batch sizes. */
  batches: string;
  /** Timed runs. */
  runs: number;
  /** Untimed warm-up runs. */
  warmup: number;
}

/** The `parseArgs` options every benchmark script takes, with its defaults. */
export function sharedBenchOptions(d: SharedBenchDefaults) {
  return {
    backend: { type: "string", default: d.backend },
    models: { type: "string", default: d.models },
    size: { type: "string", default: String(d.size) },
    batches: { type: "string", default: d.batches },
    runs: { type: "string", default: String(d.runs) },
    warmup: { type: "string", default: String(d.warmup) },
    "tfjs-kernels": { type: "boolean", default: false },
    "submit-batch": { type: "string", default: "" },
    tiling: { type: "string", default: "" },
    help: { type: "boolean", default: false },
  } as const;
}

/** Help text of `--tiling`. */
export const TILING_HELP: string =
  "--tiling conv128,grad128,looped,wg1024: our WebGPU kernels' tiles (conv pixels per tile 64|128; filter-gradient rows per tile 64|128; split-K workgroups target; regs8: the training step's convs on 8x8 register tiles; gradcols2: filter gradients on 8 channels a thread; prefetch, gradprefetch: the training step's convs, filter gradients double-buffered; shader style: unrolled (default) or looped, for both or as convlooped, gradlooped, convunrolled, gradunrolled; scalarlooped: the RGB layer's scalar shaders looped; " +
  `default conv${DEFAULT_TUNING.convRows},grad${DEFAULT_TUNING.gradRows},wg${DEFAULT_TUNING.gradTargetWorkgroups})`;

/**
 * Applies `--tiling` (comma-separated `convN`, `gradN`, `wgN`, `regsN`, `gradcolsN`, `prefetch`, `gradprefetch`, `looped`,
 * `unrolled`, `convlooped`, `convunrolled`, `gradlooped`, `gradunrolled`,
 * `scalarlooped`)
 * to the kernels' tuning and returns what is in force, e.g.
 * `"conv64,grad64,wg2048"` (a looped shader is named: `convlooped`,
 * `gradlooped`; unrolled is the default since 2026-11-27).
 */
export function applyTiling(spec: string): string {
  const conv: { -readonly [K in keyof Tuning]?: Tuning[K] } = {};
  for (const part of spec.split(",").map((p) => p.trim()).filter((p) => p)) {
    const [, what, n] = /^([a-z]+)(\d*)$/.exec(part) ?? [];
    const v = Number(n);
    if (what === "conv" && (v === 64 || v === 128)) conv.convRows = v;
    else if (what === "grad" && (v === 64 || v === 128)) conv.gradRows = v;
    else if (/^(conv|grad)?(unrolled|looped)$/.test(what) && !n) {
      const unrolled = what.endsWith("unrolled");
      if (!what.startsWith("grad")) conv.convUnrolled = unrolled;
      if (!what.startsWith("conv")) conv.gradUnrolled = unrolled;
    } else if (what === "wg" && v >= 1) conv.gradTargetWorkgroups = v;
    else if (what === "regs" && (v === 4 || v === 8)) conv.convRegs = v;
    else if (what === "gradcols" && (v === 1 || v === 2)) conv.gradCols = v;
    else if (what === "scalarlooped" && !n) conv.scalarUnrolled = false;
    else if (what === "prefetch" && !n) conv.convPrefetch = true;
    else if (what === "gradprefetch" && !n) conv.gradPrefetch = true;
    else throw new RangeError(`Cannot apply --tiling: current part is "${part}"`);
  }
  // the benchmark's whole run: the conv tiling is in force until the process ends
  if (Object.keys(conv).length) enterTuning(conv);
  const c = currentTuning();
  const convPart = `conv${c.convRows}${c.convUnrolled ? "" : ",convlooped"}${
    c.convRegs === 4 ? "" : `,regs${c.convRegs}`
  }${c.convPrefetch ? ",prefetch" : ""}`;
  const grad = `grad${c.gradRows}${c.gradUnrolled ? "" : ",gradlooped"}${
    c.gradCols === 1 ? "" : `,gradcols${c.gradCols}`
  }${c.gradPrefetch ? ",gradprefetch" : ""}`;
  return `${convPart},${grad},wg${c.gradTargetWorkgroups}${
    c.scalarUnrolled ? "" : ",scalarlooped"
  }`;
}

/** Help text of the WebGPU knobs every benchmark takes. */
export const WEBGPU_KNOBS_HELP =
  "--tfjs-kernels: tfjs' own WebGPU kernels instead of ours (A/B); --submit-batch N: tfjs' WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (dispatches per queue submit, tfjs default 15)";

/**
 * Applies `--tfjs-kernels` and `--submit-batch`; returns the fields every
 * record carries about them.
 */
export function applyWebgpuKnobs(
  values: { "tfjs-kernels"?: boolean; "submit-batch"?: string },
): { kernels: "ours" | "tfjs"; submit_batch: number | null } {
  const ours = !values["tfjs-kernels"];
  // the benchmark's whole run: the switches are in force until the process ends
  if (!ours) {
    enterTuning(Object.fromEntries(TUNING_SWITCHES.map((k) => [k, false])) as Partial<Tuning>);
  }
  let batch: number | null = null;
  if (values["submit-batch"]) {
    batch = numberList(values["submit-batch"], "submit-batch")[0];
    tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batch);
  }
  return { kernels: ours ? "ours" : "tfjs", submit_batch: batch };
}

let dispatches = 0;
let counting = false;

/**
 * GPU dispatches issued so far (WebGPU backend only; null elsewhere):
 * every tfjs program run, ours included, counted by wrapping the backend's
 * `runWebGPUProgram` on first use.
 */
export function dispatchCount(): number | null {
  if (tf.getBackend() !== "webgpu") return null;
  if (!counting) {
    const backend = tf.backend() as unknown as { runWebGPUProgram: (...a: unknown[]) => unknown };
    const run = backend.runWebGPUProgram.bind(backend);
    backend.runWebGPUProgram = (...a: unknown[]) => {
      dispatches++;
      return run(...a);
    };
    counting = true;
  }
  return dispatches;
}
