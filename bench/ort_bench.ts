/**
 * CPU comparison with onnxruntime-node in one run: our inference (the CPU
 * engine, `lib/engines/cpu/cpu_engine.ts`, and tfjs with folded BN) and the same
 * weights exported with `exportOnnx` and run by onnxruntime-node's CPU
 * provider, on the same input, in the same process. Prints one JSON line per
 * (workload, engine, threads), and the largest absolute difference between
 * each output and the first engine's (`max_abs_diff`).
 *
 *   deno task bench:ort (read: the project, tfjs-wasm's and onnxruntime's npm folders;
 *     ffi: onnxruntime's addon) [--engines cpu,tfjs] [--cpu-engine JSON] [--backend wasm] [--models lite,full] [--size 320]
 *     [--batches 1] [--threads 1,2] [--runs 5] [--warmup 1] [--skip-ours] [--paired]
 *
 * The CPU engine runs at each `--threads` count (Web Workers), as onnxruntime
 * does; tfjs-wasm runs on one thread (its threaded build needs browser
 * workers), so its like-for-like ratio is against ORT at `--threads 1`.
 * onnxruntime-node is a bench-only dependency (a native addon, loaded with
 * --allow-ffi); the library never imports it.
 *
 * @module
 */
import { parseArgs } from "node:util";
// deno-lint-ignore no-import-prefix -- bench-only; lib/deps.ts names the library\'s packages
import * as ort from "npm:onnxruntime-node@1.30.0";
import { tf } from "../lib/deps.ts";
import { exportOnnx } from "../lib/engines/onnx/onnx_export.ts";
import {
  backendLabel,
  emit,
  foldedModel,
  machineName,
  median,
  modelList,
  numberList,
  setupBackend,
  sharedBenchOptions,
  timeRuns,
} from "./common.ts";
import { forwardWorkload } from "./forward_bench.ts";
import { CpuEngine, type CpuEngineOptions } from "../lib/engines/cpu/cpu_engine.ts";

/** Defaults of the benchmark, printed by --help. */
export const ORT_BENCH_DEFAULTS = {
  engines: "cpu,tfjs",
  backend: "wasm",
  models: "lite,full",
  size: 320,
  batches: "1",
  threads: "1,2",
  runs: 5,
  warmup: 1,
  paired: false,
  gapMs: 0,
} as const;

/** Runs the benchmark with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = ORT_BENCH_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      ...sharedBenchOptions(d),
      threads: { type: "string", default: d.threads },
      engines: { type: "string", default: d.engines },
      "cpu-engine": { type: "string", default: "{}" },
      "skip-ours": { type: "boolean", default: false },
      paired: { type: "boolean", default: d.paired },
      "gap-ms": { type: "string", default: String(d.gapMs) },
    },
  });
  if (values.help) {
    console.log(`ort_bench: our CPU inference vs onnxruntime-node (CPU) on the same weights
--engines: cpu (our WebAssembly engine), tfjs (tfjs on --backend)
--cpu-engine '{"maxWinograd4Weights":1e12}': CpuEngineOptions (JSON) for the cpu engine
--paired: the cpu engine and onnxruntime alternate run by run at each thread count (at
  least 3 warm-ups each first); prints each pair's ratio and their median, so that a slow
  period of the machine hits both sides of a pair; also each side's fastest run, the ratio
  of those, and every run's process CPU time (threads summed)
--gap-ms: with --paired, an idle pause before every run, so that neither side starts while
  the other's threads still spin (onnxruntime's pool spins after each run, and with as many
  threads as cores that takes a core from our next run); but after a pause onnxruntime's
  threads are asleep, which costs it time: lite, 2 threads, 2-core AMD EPYC, 2026-12-04,
  ours / onnxruntime 270 / 278 ms with no gap, 252 / 298 with 200 ms, 239-245 / 274 unpaired
defaults: ${JSON.stringify(d)}; --skip-ours times only onnxruntime`);
    return;
  }
  const info = await setupBackend(values.backend);
  const size = Number(values.size);
  const timing = { runs: Number(values.runs), warmup: Number(values.warmup), maxSeconds: 120 };
  for (const arch of modelList(values.models)) {
    const model = await foldedModel(arch);
    const onnx = await exportOnnx(model);
    for (const batch of numberList(values.batches, "batches")) {
      const workload = forwardWorkload(arch, batch, size);
      const x = tf.randomUniform([batch, size, size, 3], -2, 2, "float32", 1) as tf.Tensor4D;
      const nchw = await tf.tidy(() => tf.transpose(x, [0, 3, 1, 2])).data() as Float32Array;
      let ours: Float32Array | undefined;
      const diffTo = (out: Float32Array) => {
        if (!ours) return null;
        let diff = 0;
        // Output [N,1,H,W] is the same memory order as NHWC with one channel.
        for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - out[i]));
        return diff;
      };
      if (values.paired) {
        for (const threads of numberList(values.threads, "threads")) {
          await pairedRuns(model, onnx, x, nchw, {
            workload,
            threads,
            runs: timing.runs,
            warmup: Math.max(3, timing.warmup),
            gapMs: Number(values["gap-ms"]),
            engineOptions: JSON.parse(values["cpu-engine"]) as CpuEngineOptions,
          });
        }
        x.dispose();
        continue;
      }
      const engines = values["skip-ours"] ? [] : values.engines.split(",");
      // Our CPU engine at each thread count of --threads, like onnxruntime below.
      const runs: [string, number][] = engines.flatMap((engine): [string, number][] =>
        engine === "cpu"
          ? numberList(values.threads, "threads").map((t): [string, number] => [engine, t])
          : [[engine, 1]]
      );
      for (const [engine, threads] of runs) {
        const cpu: number[] = [];
        let got: Float32Array | undefined;
        let times: number[];
        if (engine === "cpu") {
          const e = await CpuEngine.create(model, {
            ...JSON.parse(values["cpu-engine"]) as CpuEngineOptions,
            height: size,
            width: size,
            threads,
          });
          const input = await x.data() as Float32Array;
          try {
            times = await timeRuns(async () => {
              got = await e.run(input);
            }, { ...timing, cpu });
          } finally {
            e.dispose();
          }
        } else if (engine === "tfjs") {
          times = await timeRuns(async () => {
            const y = model.predict(x);
            try {
              got = await y.data() as Float32Array;
            } finally {
              y.dispose();
            }
          }, { ...timing, cpu });
        } else {
          throw new RangeError(`Cannot run engine: current value is "${engine}"`);
        }
        const row = engine === "cpu"
          ? {
            backend: "cpu-engine",
            adapter: "wasm-simd128",
            threads,
            options: JSON.parse(values["cpu-engine"]),
          }
          : { ...backendLabel(info), threads: info.threads };
        emit({
          workload,
          ...row,
          machine: machineName(),
          median_ms: median(times),
          runs: times,
          cpu_ms: Number(median(cpu).toFixed(2)),
          max_abs_diff: got && ours ? diffTo(got) : null,
        });
        ours ??= got;
      }
      for (const threads of numberList(values.threads, "threads")) {
        const session = await ort.InferenceSession.create(onnx, {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: "sequential",
          graphOptimizationLevel: "all",
        });
        const input = new ort.Tensor("float32", nchw, [batch, 3, size, size]);
        let theirs: Float32Array | undefined;
        const cpu: number[] = [];
        const times = await timeRuns(async () => {
          const out = await session.run({ input });
          theirs = out.d0.data as Float32Array;
        }, { ...timing, cpu });
        await session.release();
        emit({
          workload,
          backend: "ort-cpu",
          adapter: null,
          machine: machineName(),
          median_ms: median(times),
          runs: times,
          threads,
          cpu_ms: Number(median(cpu).toFixed(2)),
          ort_version: ort.env.versions.common,
          max_abs_diff: theirs ? diffTo(theirs) : null,
        });
      }
      x.dispose();
    }
    model.dispose();
  }
}

/** What {@linkcode pairedRuns} needs besides the model and inputs. */
interface PairedOptions {
  workload: string;
  threads: number;
  runs: number;
  warmup: number;
  /** Idle milliseconds before every run (see `--gap-ms`). */
  gapMs: number;
  engineOptions: CpuEngineOptions;
}

/**
 * Our CPU engine and onnxruntime at one thread count, alternating run by run
 * after `warmup` runs each; emits one row with both medians, every pair's
 * ratio (ours / theirs) and the median ratio.
 */
async function pairedRuns(
  model: Awaited<ReturnType<typeof foldedModel>>,
  onnx: Uint8Array,
  x: tf.Tensor4D,
  nchw: Float32Array,
  o: PairedOptions,
): Promise<void> {
  const [batch, size] = [x.shape[0], x.shape[1]];
  const engine = await CpuEngine.create(model, {
    ...o.engineOptions,
    height: size,
    width: size,
    threads: o.threads,
  });
  const session = await ort.InferenceSession.create(onnx, {
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const input = await x.data() as Float32Array;
  const feed = { input: new ort.Tensor("float32", nchw, [batch, 3, size, size]) };
  /** Wall and process CPU milliseconds of one run (CPU: all threads, so that preemption shows). */
  const time = async (fn: () => Promise<unknown>) => {
    await new Promise((resolve) => setTimeout(resolve, o.gapMs));
    const c0 = process.cpuUsage(), t0 = performance.now();
    await fn();
    const wall = performance.now() - t0, c = process.cpuUsage(c0);
    return [wall, (c.user + c.system) / 1000];
  };
  const oursRun = () => engine.run(input);
  const theirsRun = () => session.run(feed);
  try {
    for (let i = 0; i < o.warmup; i++) {
      await time(oursRun);
      await time(theirsRun);
    }
    const ours: number[] = [], theirs: number[] = [], ratios: number[] = [];
    const oursCpu: number[] = [], theirsCpu: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const [a, ac] = await time(oursRun), [b, bc] = await time(theirsRun);
      ours.push(Number(a.toFixed(2)));
      theirs.push(Number(b.toFixed(2)));
      ratios.push(Number((a / b).toFixed(3)));
      oursCpu.push(Number(ac.toFixed(1)));
      theirsCpu.push(Number(bc.toFixed(1)));
    }
    emit({
      workload: o.workload,
      backend: "cpu-engine vs ort-cpu (paired)",
      adapter: "wasm-simd128",
      threads: o.threads,
      machine: machineName(),
      median_ms: median(ours),
      runs: ours,
      ort_median_ms: median(theirs),
      ort_runs: theirs,
      ratio_median: median(ratios),
      ratios,
      // The fastest runs (least disturbed by other processes) and CPU time per run.
      min_ms: Math.min(...ours),
      ort_min_ms: Math.min(...theirs),
      ratio_of_mins: Number((Math.min(...ours) / Math.min(...theirs)).toFixed(3)),
      cpu_ms: oursCpu,
      ort_cpu_ms: theirsCpu,
      fma: engine.fma,
      ort_version: ort.env.versions.common,
      gap_ms: o.gapMs,
    });
  } finally {
    engine.dispose();
    await session.release();
  }
}

if (import.meta.main) await main(Deno.args);
