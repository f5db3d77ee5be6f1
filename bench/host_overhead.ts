/**
 * Host time per inference on WebGPU, tfjs against the recorded engine: for
 * tfjs the synchronous part of `predict()` with queue submission deferred
 * (so no GPU wait is counted), for the engine its own host work per call
 * (`GpuEngine.lastHostMs`: total, and the part before its submit, which is
 * what delays the GPU's start). GPU-independent: what the CPU pays per call.
 * One JSON line per model.
 *
 *   deno run --allow-read=. --allow-env bench/host_overhead.ts [--models lite,full] [--size 64] [--runs 6]
 *     [--train [--tfjs-kernels]]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/deps.ts";
import { GpuEngine } from "../lib/engines/gpu/gpu_engine.ts";
import { GpuTrainer } from "../lib/engines/gpu/gpu_trainer.ts";
import { U2Net } from "../lib/model/u2net.ts";
import { AdamW } from "../lib/optim/adamw.ts";
import { criterion } from "../lib/train/loss.ts";
import { getParamsGroups } from "../lib/optim/params_groups.ts";
import {
  applyWebgpuKnobs,
  foldedModel,
  machineName,
  median,
  modelList,
  setupBackend,
} from "./common.ts";

/** Defaults, printed by --help. */
export const HOST_OVERHEAD_DEFAULTS = { models: "lite,full", size: 64, runs: 6 } as const;

/** Median host ms per call of tfjs `predict()` and of `GpuEngine.run()`. */
export async function hostOverhead(
  arch: "lite" | "full",
  size: number,
  runs: number,
): Promise<{ tfjs_ms: number; engine_ms: number; engine_critical_ms: number; dispatches: number }> {
  const model = await foldedModel(arch);
  const x = tf.randomUniform([1, size, size, 3], -2, 2, "float32", 7) as tf.Tensor4D;
  const input = await x.data() as Float32Array;
  const engine = await GpuEngine.create(model, { height: size, width: size });
  const batchSize = tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", 1e9);
  const ours: number[] = [], critical: number[] = [], theirs: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      await engine.run(input);
      const t1 = performance.now();
      const y = tf.tidy(() => model.predict(x));
      const t2 = performance.now();
      await y.data();
      y.dispose();
      if (i > 0) { // run 0 warms up
        ours.push(engine.lastHostMs.total);
        critical.push(engine.lastHostMs.beforeSubmit);
        theirs.push(t2 - t1);
      }
    }
  } finally {
    tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batchSize);
    engine.dispose();
    x.dispose();
    model.dispose();
  }
  return {
    tfjs_ms: median(theirs),
    engine_ms: median(ours),
    engine_critical_ms: median(critical),
    dispatches: engine.dispatches,
  };
}

/**
 * Median host ms of one training step (tape forward + backward, then AdamW)
 * with submission deferred, at a tiny size (host work does not depend on
 * it): what the CPU pays per step before the GPU can finish it.
 */
export async function hostTrainStep(arch: "lite" | "full", runs: number): Promise<number> {
  const model = U2Net.create(arch).train();
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const images = tf.randomUniform([2, 16, 16, 3], -1, 1, "float32", 1) as tf.Tensor4D;
  const masks = tf.tidy(() =>
    tf.cast(tf.greater(tf.randomUniform([2, 16, 16, 1], 0, 1, "float32", 2), 0.5), "float32")
  ) as tf.Tensor4D;
  const named = model.namedParameters();
  const vars = named.map(([, v]) => v);
  const batchSize = tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", 1e9);
  const times: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      const { value, grads } = tf.variableGrads(
        () => criterion(model.forward(images), masks),
        vars,
      );
      const t1 = performance.now();
      await value.data();
      const t2 = performance.now();
      optimizer.applyGradients(new Map(named.map(([name, v]) => [name, grads[v.name]])));
      const t3 = performance.now();
      tf.dispose([value, ...Object.values(grads)]);
      const probe = tf.sum(vars[0]);
      await probe.data();
      probe.dispose();
      if (i > 0) times.push(t1 - t0 + (t3 - t2)); // run 0 warms up
    }
  } finally {
    tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batchSize);
    tf.dispose([images, masks]);
    optimizer.dispose();
    model.dispose();
  }
  return median(times);
}

/** Median host ms (before submission) of a recorded GpuTrainer step, and its dispatches. */
export async function hostTrainStepRecorded(
  arch: "lite" | "full",
  runs: number,
): Promise<{ ms: number; dispatches: number }> {
  const model = U2Net.create(arch);
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const trainer = await GpuTrainer.create({ model, optimizer }, {
    batch: 2,
    height: 16,
    width: 16,
  });
  const x = Float32Array.from({ length: 2 * 16 * 16 * 3 }, (_, i) => Math.sin(i));
  const y = Float32Array.from({ length: 2 * 16 * 16 }, (_, i) => (i % 3 ? 1 : 0));
  const times: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      await trainer.step(x, y);
      await trainer.flush();
      if (i > 0) times.push(trainer.lastHostMs); // run 0 warms up
    }
    return { ms: median(times), dispatches: trainer.dispatches };
  } finally {
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

/** Runs with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = HOST_OVERHEAD_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      models: { type: "string", default: d.models },
      size: { type: "string", default: String(d.size) },
      runs: { type: "string", default: String(d.runs) },
      train: { type: "boolean", default: false },
      "tfjs-kernels": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`host_overhead: host ms per inference, tfjs vs the recorded engine
defaults: ${JSON.stringify(d)}; --train: host ms of a training step instead (tfjs, and the
recorded GpuTrainer before submission)
(--tfjs-kernels: with our WebGPU kernels off)`);
    return;
  }
  const info = await setupBackend("webgpu");
  const knobs = applyWebgpuKnobs(values);
  if (values.train) {
    for (const arch of modelList(values.models)) {
      const ms = await hostTrainStep(arch, Number(values.runs));
      const rec = await hostTrainStepRecorded(arch, Number(values.runs));
      console.log(JSON.stringify({
        workload: `host_train_${arch}`,
        adapter: info.adapter ?? null,
        machine: machineName(),
        host_ms: Number(ms.toFixed(2)),
        recorded_host_ms: Number(rec.ms.toFixed(2)),
        recorded_dispatches: rec.dispatches,
        ...knobs,
      }));
    }
    return;
  }
  for (const arch of modelList(values.models)) {
    const r = await hostOverhead(arch, Number(values.size), Number(values.runs));
    console.log(JSON.stringify({
      workload: `host_${arch}_b1_${values.size}`,
      adapter: info.adapter ?? null,
      machine: machineName(),
      tfjs_host_ms: Number(r.tfjs_ms.toFixed(2)),
      engine_host_ms: Number(r.engine_ms.toFixed(2)),
      engine_before_submit_ms: Number(r.engine_critical_ms.toFixed(2)),
      engine_dispatches: r.dispatches,
    }));
  }
}

if (import.meta.main) await main(Deno.args);
