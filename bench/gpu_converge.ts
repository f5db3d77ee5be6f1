/**
 * A short training run through the library's training loop (`train()`, as
 * `deno task train` runs it), once per precision, on the same synthetic data
 * from the same initial weights: does `--precision f16` (mixed precision)
 * converge like f32? One JSON line per evaluated epoch, then one summary line
 * per precision (last epoch's mean training loss, held-out MAE and maxF,
 * seconds).
 *
 *   deno run --allow-read=.,/tmp --allow-write=/tmp --allow-sys=cpus \
 *     bench/gpu_converge.ts [--arch lite] [--precisions f32,f16] [--epochs 16] …
 *
 * Needs a WebGPU adapter (the recorded step, `engine: "gpu"`), and
 * `shader-f16` for the f16 run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { train } from "../lib/train/train_loop.ts";
import { backendLabel, machineName, setupBackend } from "./common.ts";

/** Defaults, printed by --help. */
export const CONVERGE_DEFAULTS = {
  arch: "lite",
  precisions: "f32,f16",
  epochs: 16,
  batch: 16,
  inputSize: 160,
  cropSize: 144,
  train: 512,
  eval: 64,
  evalInterval: 4,
  lr: 0.003,
  out: "/tmp/u2net_converge",
} as const;

/** Runs the comparison with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = CONVERGE_DEFAULTS;
  const { values: v } = parseArgs({
    args,
    options: {
      arch: { type: "string", default: d.arch },
      precisions: { type: "string", default: d.precisions },
      epochs: { type: "string", default: String(d.epochs) },
      batch: { type: "string", default: String(d.batch) },
      "input-size": { type: "string", default: String(d.inputSize) },
      "crop-size": { type: "string", default: String(d.cropSize) },
      train: { type: "string", default: String(d.train) },
      eval: { type: "string", default: String(d.eval) },
      "eval-interval": { type: "string", default: String(d.evalInterval) },
      lr: { type: "string", default: String(d.lr) },
      out: { type: "string", default: d.out },
      help: { type: "boolean", default: false },
    },
  });
  if (v.help) {
    console.log(
      `gpu_converge: train() on synthetic data in each precision; defaults ${JSON.stringify(d)}`,
    );
    return;
  }
  if (v.arch !== "lite" && v.arch !== "full") {
    throw new RangeError(`Cannot run gpu_converge: current --arch is ${v.arch}`);
  }
  const info = await setupBackend("webgpu");
  const label = { ...backendLabel(info), machine: machineName() };
  for (const precision of v.precisions.split(",")) {
    if (precision !== "f32" && precision !== "f16") {
      throw new RangeError(`Cannot run gpu_converge: current precision is ${precision}`);
    }
    const t0 = performance.now();
    const result = await train({
      arch: v.arch,
      engine: "gpu",
      precision,
      epochs: Number(v.epochs),
      batchSize: Number(v.batch),
      inputSize: Number(v["input-size"]),
      cropSize: Number(v["crop-size"]),
      syntheticTrain: Number(v.train),
      syntheticEval: Number(v.eval),
      evalInterval: Number(v["eval-interval"]),
      lr: Number(v.lr),
      warmupEpochs: 1,
      cache: true,
      printFreq: 1e9,
      keepCheckpoints: 1,
      outputDir: `${v.out}_${v.arch}_${precision}_${Date.now()}`,
    }, {
      onEpoch: (r) => {
        if (r.maxF !== undefined) {
          console.log(JSON.stringify({ converge: `${v.arch}_${precision}`, ...r }));
        }
      },
    });
    const epochs = result.history;
    const last = epochs.at(-1);
    console.log(JSON.stringify({
      workload: `converge_${v.arch}_b${v.batch}_${v["crop-size"]}_${precision}`,
      ...label,
      precision,
      epochs: epochs.length,
      steps_per_epoch: Math.floor(Number(v.train) / Number(v.batch)),
      train_loss: last?.trainLoss,
      mae: last?.mae,
      max_f: last?.maxF,
      best: result.best,
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      loss_curve: epochs.map((r) => Number(r.trainLoss.toFixed(4))),
    }));
  }
}

if (import.meta.main) await main(Deno.args);
