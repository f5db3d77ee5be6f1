/**
 * Kernel profile of one inference (folded BN, eval) and one training step
 * (trainStep with AdamW and the lr scheduler): time per tfjs kernel from
 * `tf.profile` (on WebGPU the backend times kernels with timestamp queries
 * where the adapter has them), grouped by kernel name and by kernel + shapes,
 * sorted, as JSON lines. One warm-up call runs first, unprofiled.
 *
 *   deno run --allow-read=.,<wasm dir> --allow-env bench/profile.ts \
 *     [--backend wasm] [--models lite] [--size 320] [--batch 1] \
 *     [--train-size 288] [--train-batch 8] [--top 25] [--skip-train]
 *     [--recorded] [--cpu-engine]
 *
 * Lines: `{"profile":"infer_lite_b1_320","group":"kernel","name":"FusedConv2D",
 * "calls":112,"total_ms":…,"share":…}` for every kernel name, then the `--top`
 * heaviest `{"group":"kernel+shape",…}` entries, then a `{"group":"total",…}`
 * line with the wall time of the profiled call, the backend and the machine.
 * Op scopes that `tf.profile` also lists (customGrad wrappers) are left out.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/deps.ts";
import { U2Net } from "../lib/model/mod.ts";
import { AdamW } from "../lib/optim/adamw.ts";
import { createLrScheduler } from "../lib/optim/lr_scheduler.ts";
import { getParamsGroups } from "../lib/optim/params_groups.ts";
import { GpuTrainer } from "../lib/engines/gpu/gpu_trainer.ts";
import { GpuEngine } from "../lib/engines/gpu/gpu_engine.ts";
import { CpuEngine } from "../lib/engines/cpu/cpu_engine.ts";
import { byLabel, type ProfileRow } from "../lib/engines/gpu/gpu_profile.ts";
import { trainStep } from "../lib/train/train_step.ts";
import {
  applyTiling,
  backendLabel,
  foldedModel,
  machineName,
  modelList,
  setupBackend,
  TILING_HELP,
} from "./common.ts";

/** Defaults of the profiler, printed by --help. */
export const PROFILE_DEFAULTS = {
  backend: "auto",
  models: "lite",
  size: 320,
  batch: 1,
  trainSize: 288,
  trainBatch: 8,
  top: 25,
} as const;

/** One kernel call as `tf.profile` reports it (the fields used here). */
interface KernelInfo {
  name: string;
  inputShapes: number[][];
  outputShapes: number[][];
  kernelTimeMs: number | { error: string };
}

/** Sums kernel times by a key; returns groups sorted by total time, heaviest first. */
export function groupKernels(
  kernels: readonly KernelInfo[],
  keyOf: (k: KernelInfo) => string,
): { name: string; calls: number; total_ms: number }[] {
  const by = new Map<string, { calls: number; ms: number }>();
  for (const k of kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const key = keyOf(k);
    const g = by.get(key) ?? { calls: 0, ms: 0 };
    g.calls++;
    g.ms += ms;
    by.set(key, g);
  }
  return [...by.entries()]
    .map(([name, g]) => ({ name, calls: g.calls, total_ms: g.ms }))
    .sort((a, b) => b.total_ms - a.total_ms);
}

/** `Conv2D [1,320,320,3]x[3,3,3,64] -> [1,320,320,64]`. */
export function shapeKey(k: KernelInfo): string {
  const ins = k.inputShapes.map((s) => `[${s}]`).join("x");
  const outs = k.outputShapes.map((s) => `[${s}]`).join(",");
  return `${k.name} ${ins} -> ${outs}`;
}

async function profileOnce(
  label: string,
  fn: () => Promise<tf.TensorContainer>,
  meta: Record<string, unknown>,
  top: number,
): Promise<void> {
  await tf.dispose(await fn()); // warm-up: kernel compilation, weight packing
  const t0 = performance.now();
  const info = await tf.profile(fn);
  const wall = performance.now() - t0;
  tf.dispose(info.result as tf.TensorContainer);
  // tf.profile also lists op scopes (customGrad, fused ops' wrappers) that
  // contain kernels: keep the registered kernels only, so nothing is counted twice.
  const backend = tf.getBackend();
  const kernels = (info.kernels as unknown as KernelInfo[])
    .filter((k) => tf.getKernel(k.name, backend) !== undefined);
  const sum = kernels.reduce(
    (s, k) => s + (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0),
    0,
  );
  const line = (group: string, g: { name: string; calls: number; total_ms: number }) =>
    console.log(JSON.stringify({
      profile: label,
      group,
      name: g.name,
      calls: g.calls,
      total_ms: Number(g.total_ms.toFixed(3)),
      share: Number((g.total_ms / Math.max(sum, 1e-9)).toFixed(4)),
    }));
  for (const g of groupKernels(kernels, (k) => k.name)) line("kernel", g);
  for (const g of groupKernels(kernels, shapeKey).slice(0, top)) line("kernel+shape", g);
  console.log(JSON.stringify({
    profile: label,
    group: "total",
    ...meta,
    kernels: kernels.length,
    kernel_ms: Number(sum.toFixed(2)),
    wall_ms: Number(wall.toFixed(2)),
    peak_bytes: info.peakBytes,
  }));
}

/** Prints one JSON line per row (`group`: what the rows are by); returns their total ms. */
function printRows(label: string, group: string, rows: ProfileRow[]): number {
  const total = rows.reduce((a, r) => a + r.ms, 0);
  for (const r of rows) {
    console.log(JSON.stringify({
      profile: label,
      group,
      name: r.label,
      count: r.count,
      ms: Number(r.ms.toFixed(3)),
      share: Number((r.ms / total).toFixed(4)),
    }));
  }
  return total;
}

/** Calls `call` once to warm up, then once timed; returns the timed call's wall ms. */
async function warmWallMs(call: () => Promise<unknown>): Promise<number> {
  await call();
  const t0 = performance.now();
  await call();
  return performance.now() - t0;
}

/** Prints a profile's `total` line: the timed call's wall ms, the rows' sum and `extra`. */
function printTotal(
  label: string,
  wall: number,
  sum: number,
  extra: Record<string, unknown>,
): void {
  console.log(JSON.stringify({
    profile: label,
    group: "total",
    wall_ms: Number(wall.toFixed(2)),
    sum_ms: Number(sum.toFixed(2)),
    ...extra,
  }));
}

/** Prints the recorded GpuEngine's time per shader (per dispatch, summed by shader). */
async function profileEngine(
  arch: "lite" | "full",
  size: number,
  batch: number,
  meta: Record<string, unknown>,
): Promise<void> {
  const model = U2Net.create(arch);
  const engine = await GpuEngine.create(model, { batch, height: size, width: size });
  const x = Float32Array.from({ length: batch * size * size * 3 }, (_, i) => Math.sin(i));
  try {
    const wall = await warmWallMs(() => engine.run(x));
    const steps = await engine.profile(x);
    const label = `infer_engine_${arch}_b${batch}_${size}`;
    const total = printRows(
      label,
      "shader",
      byLabel(steps.map((s) => s.shader), steps.map((s) => s.ms)),
    );
    const top = [...steps].sort((a, b) => b.ms - a.ms).slice(0, 12);
    printTotal(label, wall, total, {
      dispatches: engine.dispatches,
      slowest: top.map((s) => [s.step, s.shader, Number(s.ms.toFixed(3))]),
      ...meta,
    });
  } finally {
    engine.dispose();
    model.dispose();
  }
}

/** Prints the recorded GpuTrainer step's time per dispatch label. */
async function profileRecorded(
  arch: "lite" | "full",
  [size, batch, top]: [number, number, number],
  meta: Record<string, unknown>,
): Promise<void> {
  const model = U2Net.create(arch);
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const trainer = await GpuTrainer.create({ model, optimizer }, {
    batch,
    height: size,
    width: size,
  });
  const x = Float32Array.from({ length: batch * size * size * 3 }, (_, i) => Math.sin(i));
  const y = Float32Array.from({ length: batch * size * size }, (_, i) => (i % 3 ? 1 : 0));
  try {
    const wall = await warmWallMs(async () => {
      await trainer.step(x, y);
      await trainer.flush();
    });
    const each = await trainer.profileDispatches(x, y);
    const rows = byLabel(each.map((d) => d.label), each.map((d) => d.ms));
    const label = `train_recorded_${arch}_b${batch}_${size}`;
    const total = printRows(label, "label", rows);
    // The slowest dispatches: [step, label, ms, workgroups, binding sizes (output first)].
    const slowest = each.map((d, i) => ({ i, ...d })).sort((a, b) => b.ms - a.ms).slice(0, top);
    printTotal(label, wall, total, {
      dispatches: trainer.dispatches,
      slowest: slowest.map((d) => [d.i, d.label, Number(d.ms.toFixed(3)), d.workgroups, d.sizes]),
      ...meta,
    });
  } finally {
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

/** Prints the CPU engine's time per kernel and shape for one image. */
async function profileCpuEngine(
  arch: "lite" | "full",
  size: number,
  meta: Record<string, unknown>,
): Promise<void> {
  const model = U2Net.create(arch);
  const engine = await CpuEngine.create(model, { height: size, width: size });
  try {
    const x = Float32Array.from({ length: size * size * 3 }, (_, i) => Math.sin(i));
    const wall = await warmWallMs(() => engine.run(x));
    const label = `infer_cpu_engine_${arch}_b1_${size}`;
    const total = printRows(label, "kernel+shape", engine.profile(x));
    printTotal(label, wall, total, {
      steps: engine.steps,
      memory_mib: Math.round(engine.memoryBytes / 2 ** 20),
      machine: meta.machine,
    });
  } finally {
    engine.dispose();
    model.dispose();
  }
}

/** Runs the benchmark with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: "string", default: PROFILE_DEFAULTS.backend },
      models: { type: "string", default: PROFILE_DEFAULTS.models },
      size: { type: "string", default: String(PROFILE_DEFAULTS.size) },
      batch: { type: "string", default: String(PROFILE_DEFAULTS.batch) },
      "train-size": { type: "string", default: String(PROFILE_DEFAULTS.trainSize) },
      "train-batch": { type: "string", default: String(PROFILE_DEFAULTS.trainBatch) },
      top: { type: "string", default: String(PROFILE_DEFAULTS.top) },
      "skip-train": { type: "boolean", default: false },
      "skip-infer": { type: "boolean", default: false },
      recorded: { type: "boolean", default: false },
      "cpu-engine": { type: "boolean", default: false },
      tiling: { type: "string", default: "" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`profile: per-kernel times of one inference and one training step
defaults: ${JSON.stringify(PROFILE_DEFAULTS)}; flags --skip-train, --skip-infer,
--recorded (the recorded GpuEngine and GpuTrainer instead of tfjs, timed per dispatch label),
--cpu-engine (the CPU engine's kernels for one image at --size; nothing else)
${TILING_HELP}`);
    return;
  }
  const info = await setupBackend(values.backend);
  const tiling = applyTiling(values.tiling);
  const meta = {
    ...backendLabel(info),
    threads: info.threads,
    machine: machineName(),
    ...(info.backend === "webgpu" ? { tiling } : {}),
  };
  const top = Number(values.top);
  for (const arch of modelList(values.models)) {
    if (values["cpu-engine"]) {
      await profileCpuEngine(arch, Number(values.size), meta);
      continue;
    }
    if (!values["skip-infer"] && values.recorded) {
      await profileEngine(arch, Number(values.size), Number(values.batch), meta);
    } else if (!values["skip-infer"]) {
      const size = Number(values.size), batch = Number(values.batch);
      const model = await foldedModel(arch);
      const x = tf.randomUniform([batch, size, size, 3], -2, 2, "float32", 1) as tf.Tensor4D;
      try {
        await profileOnce(
          `infer_${arch}_b${batch}_${size}`,
          async () => {
            const y = model.predict(x);
            await y.data();
            return y;
          },
          meta,
          top,
        );
      } finally {
        x.dispose();
        model.dispose();
      }
    }
    if (!values["skip-train"] && values.recorded) {
      await profileRecorded(
        arch,
        [Number(values["train-size"]), Number(values["train-batch"]), top],
        meta,
      );
    } else if (!values["skip-train"]) {
      const size = Number(values["train-size"]), batch = Number(values["train-batch"]);
      const model = U2Net.create(arch);
      const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
      const scheduler = createLrScheduler(optimizer, 100, 10, { warmupEpochs: 1 });
      const images = tf.randomUniform([batch, size, size, 3], -2, 2, "float32", 2) as tf.Tensor4D;
      const masks = tf.randomUniform([batch, size, size, 1], 0, 1, "float32", 3) as tf.Tensor4D;
      try {
        await profileOnce(
          `train_${arch}_b${batch}_${size}`,
          async () => {
            await trainStep({ model, optimizer, scheduler }, { images, masks });
            // Wait for the optimizer's update (queued after the loss read-back).
            const probe = tf.sum(model.namedParameters().at(-1)![1]);
            await probe.data();
            return probe;
          },
          meta,
          top,
        );
      } finally {
        tf.dispose([images, masks]);
        optimizer.dispose();
        model.dispose();
      }
    }
  }
}

if (import.meta.main) await main(Deno.args);
