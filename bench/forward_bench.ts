/**
 * Inference benchmark: eval-mode U2-Net with BatchNorm folded into the convs
 * (the deployed network: conv + bias + ReLU fused), warm, with `await data()`
 * of the output inside the timed region (so GPU work is finished). Batch 1 is
 * the latency row (`infer_*`), larger batches the throughput rows
 * (`throughput_*`, with `images_per_s`). One JSON line per workload.
 *
 *   deno task bench [--backend auto|webgpu|cpu|wasm] [--models lite,full]
 *                   [--size 320] [--batches 1] [--runs 5] [--warmup 1]
 *                   [--max-seconds 60] [--bn] [--no-fast] [--ab] [--progress]
 *
 * Quick CPU run: `--backend wasm --models lite --size 96 --batches 1 --runs 2`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/deps.ts";
import { type ArchName, U2Net } from "../lib/model/mod.ts";
import { fastEvalSettings } from "../lib/engines/tfjs/fast_eval.ts";
import { DEFAULT_GPU_ENGINE_OPTIONS, GpuEngine } from "../lib/engines/gpu/gpu_engine.ts";
import {
  applyWebgpuKnobs,
  backendLabel,
  dispatchCount,
  emit,
  foldedModel,
  machineName,
  median,
  modelList,
  numberList,
  progressPrinter,
  setupBackend,
  sharedBenchOptions,
  timeRuns,
  type TimeRunsOptions,
  WEBGPU_KNOBS_HELP,
} from "./common.ts";

/** Defaults of the benchmark, printed by --help. */
export const FORWARD_BENCH_DEFAULTS = {
  backend: "auto",
  models: "lite,full",
  size: 320,
  batches: "1",
  runs: 5,
  warmup: 1,
  maxSeconds: 60,
} as const;

/** What {@linkcode benchForward} measures (timing options included). */
export interface ForwardBenchOptions extends TimeRunsOptions {
  /** Square input size. */
  size: number;
  /** Batch size. */
  batch: number;
  /** Keep BatchNorm (unfolded) instead of the folded network. */
  bn?: boolean;
  /** Receives the GPU dispatches of every timed run (WebGPU only). */
  dispatches?: number[];
}

/** Times warm eval-mode forwards of one model; returns ms per batch for each timed run. */
export async function benchForward(
  arch: ArchName,
  options: ForwardBenchOptions,
): Promise<number[]> {
  const model = options.bn ? U2Net.create(arch).eval() : await foldedModel(arch);
  const shape: [number, number, number, number] = [options.batch, options.size, options.size, 3];
  const x = tf.randomUniform(shape, -2, 2, "float32", 1) as tf.Tensor4D;
  try {
    return await timeRuns(async () => {
      const d0 = dispatchCount();
      const y = model.predict(x);
      try {
        await y.data();
      } finally {
        y.dispose();
      }
      if (d0 !== null) options.dispatches?.push(dispatchCount()! - d0);
    }, options);
  } finally {
    x.dispose();
    model.dispose();
  }
}

/**
 * Times warm calls of the recorded WebGPU engine (`lib/engines/gpu/gpu_engine.ts`)
 * on the same folded network and input as {@linkcode benchForward}; with
 * `inflight` N > 1, a timed run is N calls made together (they overlap:
 * see `GpuEngine.run`), so per call is the median / N.
 */
export async function benchEngine(
  arch: ArchName,
  options: ForwardBenchOptions & {
    tileRows?: 32 | 64 | 128 | "auto";
    unrolled?: boolean;
    splitTarget?: number;
    inflight?: number;
    precision?: "f32" | "f16";
    halfSums?: boolean;
    regs?: 4 | 8;
    prefetch?: boolean;
    /** The engine's read-back buffers (`GpuEngineOptions.inflight`). */
    readBacks?: number;
  },
): Promise<{ times: number[]; dispatches: number }> {
  const model = await foldedModel(arch);
  const { batch, size } = options;
  const x = tf.randomUniform([batch, size, size, 3], -2, 2, "float32", 1);
  const input = await x.data() as Float32Array;
  x.dispose();
  const engine = await GpuEngine.create(model, {
    batch,
    height: size,
    width: size,
    tileRows: options.tileRows,
    unrolled: options.unrolled,
    splitTarget: options.splitTarget,
    precision: options.precision,
    halfSums: options.halfSums,
    regs: options.regs,
    prefetch: options.prefetch,
    inflight: options.readBacks,
  });
  model.dispose();
  try {
    const calls = [...Array(options.inflight ?? 1).keys()];
    const times = await timeRuns(async () => {
      await Promise.all(calls.map(() => engine.run(input)));
    }, options);
    return { times, dispatches: engine.dispatches };
  } finally {
    engine.dispose();
  }
}

/**
 * A/B timing of the wasm/cpu eval kernels: runs alternate fast and regular
 * (so load drifts on a shared machine hit both alike); returns ms per run.
 */
export async function benchForwardAB(
  arch: ArchName,
  options: ForwardBenchOptions,
): Promise<{ fast: number[]; regular: number[] }> {
  const model = options.bn ? U2Net.create(arch).eval() : await foldedModel(arch);
  const shape: [number, number, number, number] = [options.batch, options.size, options.size, 3];
  const x = tf.randomUniform(shape, -2, 2, "float32", 1) as tf.Tensor4D;
  const once = async (fast: boolean) => {
    fastEvalSettings.enabled = fast;
    const t0 = performance.now();
    const y = model.predict(x);
    try {
      await y.data();
    } finally {
      y.dispose();
    }
    return performance.now() - t0;
  };
  const fast: number[] = [], regular: number[] = [];
  try {
    for (let i = 0; i < options.warmup; i++) await once(true), await once(false);
    for (let i = 0; i < options.runs; i++) {
      // Alternate which goes first, so neither always follows the other.
      if (i % 2) regular.push(await once(false)), fast.push(await once(true));
      else fast.push(await once(true)), regular.push(await once(false));
    }
    return { fast, regular };
  } finally {
    fastEvalSettings.enabled = true;
    x.dispose();
    model.dispose();
  }
}

/**
 * Workload name of a forward benchmark row: `infer_` at batch 1, else
 * `throughput_`; `pipelined_` when calls overlap (`inflight` > 1).
 */
export function forwardWorkload(arch: string, batch: number, size: number, inflight = 1): string {
  const kind = inflight > 1 ? "pipelined" : batch === 1 ? "infer" : "throughput";
  return `${kind}_${arch}_b${batch}_${size}`;
}

/** Runs the benchmark with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = FORWARD_BENCH_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      ...sharedBenchOptions(d),
      batch: { type: "string" },
      "max-seconds": { type: "string", default: String(d.maxSeconds) },
      bn: { type: "boolean", default: false },
      "no-fast": { type: "boolean", default: false },
      ab: { type: "boolean", default: false },
      engine: { type: "boolean", default: false },
      tile: { type: "string", default: String(DEFAULT_GPU_ENGINE_OPTIONS.tileRows) },
      looped: { type: "boolean", default: false },
      split: { type: "string", default: String(DEFAULT_GPU_ENGINE_OPTIONS.splitTarget) },
      inflight: { type: "string", default: "1" },
      precision: { type: "string", default: "f32" },
      "f32-sums": { type: "boolean", default: false },
      regs: { type: "string", default: String(DEFAULT_GPU_ENGINE_OPTIONS.regs) },
      prefetch: { type: "boolean", default: false },
      "read-backs": { type: "string", default: String(DEFAULT_GPU_ENGINE_OPTIONS.inflight) },
      progress: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`forward_bench: eval-mode U2-Net inference (folded BN) timing
defaults: ${JSON.stringify(d)}; --batch N is --batches N; --bn keeps BatchNorm;
--no-fast turns off the wasm/cpu eval kernels (lib/engines/tfjs/fast_eval.ts);
--ab alternates runs with and without them and prints both rows and the paired ratio;
--progress prints every run (warm-ups too) on stderr
--engine times the recorded WebGPU engine (lib/engines/gpu/gpu_engine.ts) instead of tfjs;
--tile auto|32|64|128 its conv tile rows (default ${DEFAULT_GPU_ENGINE_OPTIONS.tileRows}; auto: 32 at batch 1, else 64), --looped its looped conv shader (default: unrolled),
--split N its split-K workgroup target (0: off; default ${DEFAULT_GPU_ENGINE_OPTIONS.splitTarget}),
--inflight N makes N calls together per timed run (rows "pipelined_…", ms per call)
--precision f32|f16 its arithmetic (f16: mixed precision, rows "…_f16"; needs shader-f16),
--f32-sums with f16: each 16-k step summed in f32 instead of f16 (rows "…_f16w"),
--regs 4|8 its convs' register tile (8: 8 rows x 8 channels a thread; default ${DEFAULT_GPU_ENGINE_OPTIONS.regs}),
--prefetch its convs double-buffered (rows "…_p")
--read-backs N its read-back buffers, the calls it keeps in flight (default ${DEFAULT_GPU_ENGINE_OPTIONS.inflight}; others: rows "…_rbN")
${WEBGPU_KNOBS_HELP}`);
    return;
  }
  const info = await setupBackend(values.backend);
  const knobs = applyWebgpuKnobs(values);
  fastEvalSettings.enabled = !values["no-fast"];
  const size = Number(values.size);
  for (const arch of modelList(values.models)) {
    for (const batch of numberList(values.batch ?? values.batches, "batches")) {
      const opts = {
        size,
        batch,
        runs: Number(values.runs),
        warmup: Number(values.warmup),
        maxSeconds: Number(values["max-seconds"]),
        bn: values.bn,
        onRun: values.progress ? progressPrinter(forwardWorkload(arch, batch, size)) : undefined,
      };
      if (values.engine) {
        const tileRows = values.tile === "auto" ? "auto" : Number(values.tile) as 32 | 64 | 128;
        const inflight = Number(values.inflight);
        const precision = values.precision as "f32" | "f16";
        if (precision !== "f32" && precision !== "f16") {
          throw new RangeError(`Cannot bench: current precision is ${precision}`);
        }
        const halfSums = !values["f32-sums"];
        const regs = Number(values.regs) as 4 | 8;
        const prefetch = values.prefetch;
        const readBacks = Number(values["read-backs"]);
        const { times: groups, dispatches } = await benchEngine(arch, {
          readBacks,
          regs,
          prefetch,
          ...opts,
          tileRows,
          unrolled: !values.looped,
          splitTarget: Number(values.split),
          inflight,
          precision,
          halfSums,
        });
        const times = groups.map((t) => Number((t / inflight).toFixed(3)));
        const m = median(times);
        emit({
          workload: forwardWorkload(arch, batch, size, inflight) +
            (precision === "f16" ? (halfSums ? "_f16" : "_f16w") : "") + (regs === 8 ? "_r8" : "") +
            (prefetch ? "_p" : "") +
            (readBacks === DEFAULT_GPU_ENGINE_OPTIONS.inflight ? "" : `_rb${readBacks}`),
          backend: "webgpu-engine",
          adapter: info.adapter ?? null,
          machine: machineName(),
          median_ms: m,
          runs: times,
          ms_per_image: Number((m / batch).toFixed(2)),
          images_per_s: Number((1000 * batch / m).toFixed(2)),
          dispatches,
          tile_rows: tileRows,
          unrolled: !values.looped,
          split_target: Number(values.split),
          precision,
          regs,
          prefetch,
          ...(inflight > 1 ? { inflight } : {}),
          read_backs: readBacks,
        });
        continue;
      }
      if (values.ab) {
        const { fast, regular } = await benchForwardAB(arch, opts);
        const ratios = fast.map((f, i) => regular[i] / f);
        for (const [tag, times] of [["_nofast", regular], ["", fast]] as const) {
          emit({
            workload: forwardWorkload(arch, batch, size) + (values.bn ? "_bn" : "") + tag,
            ...backendLabel(info),
            machine: machineName(),
            median_ms: median(times),
            runs: times,
            threads: info.threads,
            ...(tag ? {} : { paired_speedup: Number(median(ratios).toFixed(3)) }),
          });
        }
        continue;
      }
      const cpu: number[] = [], dispatches: number[] = [];
      const times = await benchForward(arch, { ...opts, cpu, dispatches });
      const m = median(times);
      emit({
        workload: forwardWorkload(arch, batch, size) + (values.bn ? "_bn" : "") +
          (values["no-fast"] ? "_nofast" : ""),
        ...backendLabel(info),
        machine: machineName(),
        median_ms: m,
        runs: times,
        threads: info.threads,
        cpu_ms: Number(median(cpu).toFixed(2)),
        ms_per_image: Number((m / batch).toFixed(2)),
        images_per_s: Number((1000 * batch / m).toFixed(2)),
        dispatches: dispatches.at(-1) ?? null,
        ...(info.backend === "webgpu" ? knobs : {}),
      });
    }
  }
}

if (import.meta.main) await main(Deno.args);
