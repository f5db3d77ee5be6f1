/**
 * Training-step benchmark: one `trainStep` (train-mode forward with BN batch
 * statistics, the seed's criterion, gradients of every parameter, AdamW over
 * the seed's parameter groups, lr-scheduler step) on a random batch, warm.
 * The timed region ends with a read-back of a parameter reduction, so the
 * optimizer update (queued after the loss read-back) is finished on GPUs.
 * One JSON line per workload (`train_<arch>_b<batch>_<size>`).
 *
 *   deno run --allow-read=.,<wasm dir> --allow-env bench/train_bench.ts
 *     [--backend auto|webgpu|cpu|wasm] [--models lite,full] [--size 288]
 *     [--batches 8,16] [--runs 3] [--warmup 1] [--max-seconds 120] [--progress]
 *
 * Quick CPU run: `--backend wasm --models lite --size 64 --batches 2 --runs 2`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/deps.ts";
import { type ArchName, U2Net } from "../lib/model/mod.ts";
import { AdamW } from "../lib/optim/adamw.ts";
import { createLrScheduler } from "../lib/optim/lr_scheduler.ts";
import { getParamsGroups } from "../lib/optim/params_groups.ts";
import { trainStep } from "../lib/train/train_step.ts";
import { type AmpState, type GpuStepHandle, GpuTrainer } from "../lib/engines/gpu/gpu_trainer.ts";
import { CpuTrainer, type CpuTrainerOptions } from "../lib/engines/cpu/cpu_trainer.ts";
import {
  applyTiling,
  applyWebgpuKnobs,
  backendLabel,
  dispatchCount,
  emit,
  machineName,
  median,
  modelList,
  numberList,
  progressPrinter,
  setupBackend,
  sharedBenchOptions,
  TILING_HELP,
  timeRuns,
  type TimeRunsOptions,
  WEBGPU_KNOBS_HELP,
} from "./common.ts";

/** Defaults of the benchmark, printed by --help. */
export const TRAIN_BENCH_DEFAULTS = {
  backend: "auto",
  models: "lite,full",
  size: 288,
  batches: "8,16",
  runs: 3,
  warmup: 1,
  maxSeconds: 120,
  lr: 1e-3,
  engine: "tfjs",
} as const;

/** What {@linkcode benchTrainStep} measures (timing options included). */
export interface TrainBenchOptions extends TimeRunsOptions {
  /** Square crop size. */
  size: number;
  /** Batch size. */
  batch: number;
  /**
   * `tfjs`: trainStep on the active backend; `gpu`: the recorded GpuTrainer
   * (WebGPU); `cpu`: CpuTrainer (our WebAssembly SIMD kernels, one thread).
   */
  engine?: "tfjs" | "gpu" | "cpu";
  /** With `engine: "cpu"`: CpuTrainer options (batch and size come from above). */
  cpuTrainer?: CpuTrainerOptions;
  /**
   * With `engine: "gpu"`: time steps as the training loop runs them, step n+1
   * submitted before step n's loss is read (`GpuTrainer.submit`), so a run's
   * time is the step's throughput with the read-back hidden.
   * @default false
   */
  pipelined?: boolean;
  /**
   * With `engine: "gpu"`: `f16`, mixed precision (`GpuTrainerOptions.precision`;
   * the loss scale starts at GradScaler's 65,536 and settles during warm-up).
   * @default "f32"
   */
  precision?: "f32" | "f16";
}

/** Times warm training steps of a fresh network; returns ms per step and the last loss. */
export async function benchTrainStep(
  arch: ArchName,
  options: TrainBenchOptions,
): Promise<
  {
    times: number[];
    loss: number;
    dispatches: number | null;
    hostMs?: number;
    gpuMiB?: number;
    kernels?: string;
    amp?: AmpState;
  }
> {
  const model = U2Net.create(arch);
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), {
    lr: TRAIN_BENCH_DEFAULTS.lr,
  });
  // The seed's settings: warmup then cosine, stepped every iteration.
  const scheduler = createLrScheduler(optimizer, 1000, 360, { warmupEpochs: 2 });
  const { size, batch } = options;
  const images = tf.randomUniform([batch, size, size, 3], -2, 2, "float32", 2) as tf.Tensor4D;
  const masks = tf.tidy(() =>
    tf.cast(
      tf.greater(tf.randomUniform([batch, size, size, 1], 0, 1, "float32", 3), 0.5),
      "float32",
    )
  ) as tf.Tensor4D;
  const probeVar = model.namedParameters().at(-1)![1];
  let loss = NaN;
  let dispatches: number | null = null;
  if (options.engine === "cpu") {
    const trainer = await CpuTrainer.create({ model, optimizer, scheduler }, {
      ...options.cpuTrainer,
      batch,
      height: size,
      width: size,
    });
    try {
      const [x, y] = [await images.data() as Float32Array, await masks.data() as Float32Array];
      const times = await timeRuns(async () => {
        loss = await trainer.step(x, y);
      }, options);
      return { times, loss, dispatches: null, kernels: trainer.kernels };
    } finally {
      trainer.dispose();
      tf.dispose([images, masks]);
      optimizer.dispose();
      model.dispose();
    }
  }
  if (options.engine === "gpu") {
    const trainer = await GpuTrainer.create({ model, optimizer, scheduler }, {
      batch,
      height: size,
      width: size,
      precision: options.precision,
    });
    const hostMs: number[] = [];
    let previous: GpuStepHandle | undefined;
    try {
      const [x, y] = [await images.data() as Float32Array, await masks.data() as Float32Array];
      const times = await timeRuns(
        options.pipelined
          // One run: submit this step, then read the one before (the loop's order).
          ? async () => {
            const handle = await trainer.submit(x, y);
            hostMs.push(trainer.lastHostMs);
            if (previous) loss = await previous.loss();
            previous = handle;
          }
          : async () => {
            loss = await trainer.step(x, y);
            await trainer.flush(); // the optimizer pass too
            hostMs.push(trainer.lastHostMs);
          },
        options,
      );
      if (previous) loss = await previous.loss();
      await trainer.flush();
      return {
        times,
        loss,
        dispatches: trainer.dispatches,
        hostMs: median(hostMs),
        gpuMiB: trainer.bytes / 2 ** 20,
        amp: await trainer.lossScale(),
      };
    } finally {
      trainer.dispose();
      tf.dispose([images, masks]);
      optimizer.dispose();
      model.dispose();
    }
  }
  try {
    const times = await timeRuns(async () => {
      const d0 = dispatchCount();
      loss = await trainStep({ model, optimizer, scheduler }, { images, masks });
      const probe = tf.sum(probeVar);
      try {
        await probe.data();
      } finally {
        probe.dispose();
      }
      if (d0 !== null) dispatches = dispatchCount()! - d0;
    }, options);
    return { times, loss, dispatches };
  } finally {
    tf.dispose([images, masks]);
    optimizer.dispose();
    model.dispose();
  }
}

/** Runs the benchmark with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = TRAIN_BENCH_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      ...sharedBenchOptions(d),
      "max-seconds": { type: "string", default: String(d.maxSeconds) },
      progress: { type: "boolean", default: false },
      engine: { type: "string", default: d.engine },
      "cpu-trainer": { type: "string", default: "{}" },
      pipelined: { type: "boolean", default: false },
      precision: { type: "string", default: "f32" },
    },
  });
  if (values.help) {
    console.log(`train_bench: one training step (trainStep + AdamW + lr scheduler)
defaults: ${JSON.stringify(d)}; --progress prints every step (warm-ups too) on stderr
--engine gpu: the recorded GpuTrainer (whole step planned once; WebGPU only)
--pipelined: with --engine gpu, step n+1 submitted before step n's loss is read
  (the training loop's order): a run's time is the step's throughput, read-back hidden
--precision f16: with --engine gpu, mixed precision (f16 GEMM tiles, loss scaling; rows "…_f16")
--engine cpu: CpuTrainer (the step planned once over our WebAssembly SIMD kernels)
--cpu-trainer JSON: CpuTrainer options with --engine cpu, e.g. '{"fma":false}'
${WEBGPU_KNOBS_HELP}
${TILING_HELP}`);
    return;
  }
  const info = await setupBackend(values.backend);
  const knobs = applyWebgpuKnobs(values);
  const tiling = applyTiling(values.tiling);
  const size = Number(values.size);
  const engine = values.engine === "gpu" ? "gpu" : values.engine === "cpu" ? "cpu" : "tfjs";
  if (values.engine !== engine) {
    throw new RangeError(`Cannot run train_bench: current --engine is ${values.engine}`);
  }
  const precision = values.precision as "f32" | "f16";
  if (precision !== "f32" && precision !== "f16") {
    throw new RangeError(`Cannot run train_bench: current --precision is ${precision}`);
  }
  const tag = precision === "f16" ? "_f16" : "";
  for (const arch of modelList(values.models)) {
    for (const batch of numberList(values.batches, "batches")) {
      const { times, loss, dispatches, hostMs, gpuMiB, kernels, amp } = await benchTrainStep(arch, {
        size,
        batch,
        engine,
        cpuTrainer: JSON.parse(values["cpu-trainer"]),
        pipelined: values.pipelined,
        precision,
        runs: Number(values.runs),
        warmup: Number(values.warmup),
        maxSeconds: Number(values["max-seconds"]),
        onRun: values.progress ? progressPrinter(`train_${arch}_b${batch}_${size}`) : undefined,
      });
      emit({
        workload: `train_${arch}_b${batch}_${size}${tag}`,
        ...backendLabel(info),
        machine: machineName(),
        median_ms: median(times),
        runs: times,
        threads: info.threads,
        loss: Number(loss.toFixed(4)),
        dispatches,
        engine,
        ...(engine === "gpu" ? { pipelined: values.pipelined, precision } : {}),
        ...(amp ? { loss_scale: amp.scale, skipped_steps: amp.skipped } : {}),
        ...(kernels === undefined
          ? {}
          : { kernels, cpu_trainer: JSON.parse(values["cpu-trainer"]) }),
        ...(hostMs === undefined ? {} : { host_ms: Number(hostMs.toFixed(2)) }),
        ...(gpuMiB === undefined ? {} : { gpu_mib: Math.round(gpuMiB) }),
        ...(info.backend === "webgpu" && engine === "tfjs" ? knobs : {}),
        ...(info.backend === "webgpu" ? { tiling } : {}),
      });
    }
  }
}

if (import.meta.main) await main(Deno.args);
