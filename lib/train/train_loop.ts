/**
 * The seed's `train.py` main loop: epochs of training, an evaluation every
 * `evalInterval` epochs and at the last, the results file, a chart, a
 * checkpoint every epoch (the last 10 kept), the best model, and exact resume.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { DataLoader, evalSamples } from "../data/loader.ts";
import { evaluate } from "../eval/evaluate.ts";
import { U2Net } from "../model/u2net.ts";
import { AdamW } from "../optim/adamw.ts";
import { withTuning } from "../kernels/webgpu.ts";
import { describeEngine, resolveEngineChoice } from "../engines/create_engine.ts";
import { checkHalfPrecision } from "../backend.ts";
import { writeFileAtomic } from "./atomic_write.ts";
import { checkpointJsonPath, saveCheckpoint } from "./checkpoint.ts";
import { createLrScheduler } from "../optim/lr_scheduler.ts";
import { formatDuration } from "./metric_logger.ts";
import { getParamsGroups } from "../optim/params_groups.ts";
import {
  type BestScores,
  type EpochRecord,
  formatResultsLine,
  isBetter,
  resultsFileName,
} from "./results.ts";
import { renderTrainingChart } from "./training_chart.ts";
import { trainOneEpoch, type TrainProgress } from "./train_one_epoch.ts";
import { StepRunner, type TrainEngine } from "./step_runner.ts";
import type { TrainOptions } from "./train_options.ts";
import { buildTrainData } from "./train_data.ts";
import { type LoopState, startState } from "./_resume.ts";
import {
  makeRunDir,
  predictOne,
  readInitWeights,
  removeCheckpoint,
  removeIfEmpty,
  saveBest,
} from "./_loop_io.ts";

/** Callbacks of {@linkcode train}; the library itself never prints. */
export interface TrainCallbacks {
  /** Log lines: the seed's progress lines, results, notes. */
  onLog?: (line: string) => void;
  /** Structured progress after each iteration / eval sample (for progress bars). */
  onProgress?: (progress: TrainProgress) => void;
  /** After each epoch (after its checkpoint was written). */
  onEpoch?: (record: EpochRecord) => void;
  /**
   * Once, before the first step: the engines that run, `describeEngine`
   * style (`tfjs (cpu); eval: cpu (wasm, 1 thread)`; one when both are the same).
   */
  onEngine?: (line: string) => void;
  /** Aborting stops after the current iteration; an unfinished epoch is not checkpointed. */
  signal?: AbortSignal;
}

/** What {@linkcode train} returns. */
export interface TrainResult {
  /** The output folder. */
  outputDir: string;
  /** Path of the results file. */
  resultsFile: string;
  /** Path of the SVG chart. */
  chartFile: string;
  /** JSON path of the newest checkpoint, if any was written. */
  lastCheckpoint?: string;
  /** Path of `model_best.safetensors`, if written. */
  bestWeights?: string;
  /** Path of the predicted mask PNG of one evaluation sample. */
  predictionFile?: string;
  /** Every epoch of the run (including those before a resume). */
  history: EpochRecord[];
  /** Best scores. */
  best: BestScores | null;
  /** True when `signal` stopped the run. */
  stopped: boolean;
}

/**
 * Trains U²-Net like the seed's `train.py` (spec §5.1). Options: see
 * {@linkcode TrainOptions}; with no `dataPath` the demo defaults
 * (`DEMO_TRAIN_OPTIONS`) fill in unset options. Per epoch: train, evaluate
 * when `epoch % evalInterval == 0` or at the last epoch (results line, chart,
 * best model: MAE not worse and maxF not worse than the best so far; the seed
 * never updates its trackers), then checkpoint `model_{epoch}` atomically and
 * delete `model_{epoch − keepCheckpoints}`. A non-finite loss throws before
 * anything of that epoch is written. Resuming restores weights, optimizer,
 * scheduler, loader position, history and best scores: the run continues
 * bit for bit as if uninterrupted (on the same backend).
 *
 * @example
 * ```ts
 * import { train } from "./train_loop.ts";
 * const r = await train({ epochs: 2, evalInterval: 1, outputDir: "./runs/x" }, { onLog: console.log });
 * console.log(r.history.at(-1));
 * ```
 */
export function train(
  options: TrainOptions = {},
  callbacks: TrainCallbacks = {},
): Promise<TrainResult> {
  return withTuning(options.tuning, () => runTraining(options, callbacks));
}

/**
 * A resume of a run's last epoch: nothing to train (as the seed's loop over
 * an empty range), so no data is read; the run's files are reported as they are.
 */
async function finishedRun(dir: string, resumed: string, saved: LoopState): Promise<TrainResult> {
  const resultsFile = `${dir}/${saved.resultsFile}`;
  const best = `${dir}/model_best.safetensors`;
  const exists = await Deno.stat(best).then((i) => i.isFile, () => false);
  return {
    outputDir: dir,
    resultsFile,
    chartFile: resultsFile.replace(/\.txt$/, ".svg"),
    lastCheckpoint: checkpointJsonPath(resumed),
    ...(exists ? { bestWeights: best } : {}),
    history: saved.history,
    best: saved.best,
    stopped: false,
  };
}

/** The steps' engine and, when it differs, evaluation's (the same choice, for inference). */
function engineLine(
  step: "gpu" | "cpu" | "tfjs",
  choice: TrainEngine,
  o: { threads: number; precision: "f32" | "f16" },
): string {
  const backend = tf.getBackend(), threads = o.threads;
  const half = step === "gpu" && o.precision === "f16";
  const steps = describeEngine(step, backend, threads).replace(/\)$/, half ? ", f16)" : ")");
  const evaluation = describeEngine(resolveEngineChoice(choice, { backend }), backend, threads);
  return steps === evaluation ? steps : `${steps}; eval: ${evaluation}`;
}

async function runTraining(options: TrainOptions, callbacks: TrainCallbacks): Promise<TrainResult> {
  const log = callbacks.onLog ?? (() => {});
  const started = performance.now();
  const { options: o, checkpoint, notes } = await startState(options);
  notes.forEach((n) => log(n));
  await checkHalfPrecision(resolveEngineChoice(o.engine), o.precision, "train");
  const dir = o.outputDir.replace(/[\\/]+$/, "") || ".";
  if (checkpoint && o.startEpoch >= o.epochs) {
    return finishedRun(dir, o.resume, checkpoint.meta.extra);
  }
  // The output folder is made once the data and initial weights are known to
  // be usable, and removed again (when this run made it) if it stays empty.
  const data = await buildTrainData(o, {
    log,
    progress: (done, total) => callbacks.onProgress?.({ phase: "check", epoch: 0, done, total }),
  });
  log(`data: ${data.description}`);
  const saved: LoopState | undefined = checkpoint?.meta.extra;
  const init = !checkpoint && o.initWeights ? await readInitWeights(o) : undefined;
  const convBias = saved?.convBias ?? init?.convBias ?? false;
  const model = U2Net.create(o.arch, { seed: o.seed, convBias });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters(), o.weightDecay), {
    lr: o.lr,
  });
  let runner: StepRunner | undefined;
  let loader: DataLoader | undefined;
  let madeDir = false;
  try {
    madeDir = await makeRunDir(dir);
    if (init) model.loadStateDict(init.stateDict);
    loader = new DataLoader(data.train, {
      batchSize: o.batchSize,
      shuffle: o.shuffle,
      seed: o.seed,
      augment: o.augment,
      inputSize: o.inputSize,
      cropSize: o.cropSize,
      cache: o.cache,
      skipBad: o.skipBad,
      onBadSample: (b) => log(`skipping bad sample: ${b.error.message}`),
      workers: o.workers, // used for file sources only
    });
    const scheduler = createLrScheduler(optimizer, loader.batchesPerEpoch, o.epochs, {
      warmup: o.warmupEpochs > 0, // the seed's formula divides by zero without warmup epochs
      warmupEpochs: o.warmupEpochs,
    });
    const history: EpochRecord[] = saved ? [...saved.history] : [];
    let best: BestScores | null = saved?.best ?? null;
    if (checkpoint && saved) {
      model.loadStateDict(checkpoint.stateDict);
      optimizer.loadState(checkpoint.optimizer);
      scheduler.loadState(saved.scheduler);
      loader.loadState(saved.loader);
    } else if (o.startEpoch > 0) {
      loader.loadState({ ...loader.state(), epoch: o.startEpoch, batch: 0 });
    }
    // Created after any resume: the GPU copy starts from the loaded state.
    runner = new StepRunner({ model, optimizer, scheduler }, o.engine, {
      onLog: log,
      threads: o.threads,
      precision: o.precision,
      lossScale: saved?.amp, // a resumed f16 run goes on with its scale, as GradScaler's state
    });
    callbacks.onEngine?.(engineLine(runner.active, o.engine, o));
    if (o.precision === "f16" && runner.active !== "gpu") {
      log(`precision f16 applies to the WebGPU step; these ${runner.active} steps run f32`);
    }
    const resultsFile = `${dir}/${saved?.resultsFile ?? resultsFileName()}`;
    const chartFile = resultsFile.replace(/\.txt$/, ".svg");
    if (saved) {
      // Rewound to the checkpoint: a resume from an older one drops the later lines.
      const lines = history.filter((r) => r.mae !== undefined).map(formatResultsLine);
      await writeFileAtomic(resultsFile, lines.join(""));
    }
    const title = `u2net_${o.arch}: ${data.description}`;
    log(
      `u2net_${o.arch} (${model.numParameters().toLocaleString("en-US")} parameters), ` +
        `${loader.batchesPerEpoch} iteration${
          loader.batchesPerEpoch === 1 ? "" : "s"
        }/epoch, epochs ${o.startEpoch}..${o.epochs - 1}, ` +
        `backend ${tf.getBackend()} (${runner.active} steps), output ${dir}`,
    );
    const result: TrainResult = {
      outputDir: dir,
      resultsFile,
      chartFile,
      history,
      best,
      stopped: false,
    };
    // f16: the loss scaling, and the steps an overflow skipped since the run began.
    let amp: LoopState["amp"] = saved?.amp;
    for (let epoch = o.startEpoch; epoch < o.epochs; epoch++) {
      if (callbacks.signal?.aborted) {
        result.stopped = true;
        log(
          `stopped before epoch ${epoch}; the last checkpoint is ${
            result.lastCheckpoint ?? "none"
          }`,
        );
        break;
      }
      const t0 = performance.now();
      const stats = await trainOneEpoch({ model, optimizer, scheduler }, loader, {
        runner,
        epoch,
        printFreq: o.printFreq,
        onLog: log,
        onProgress: callbacks.onProgress,
        signal: callbacks.signal,
      });
      if (stats.aborted) {
        result.stopped = true;
        log(
          `stopped during epoch ${epoch}; the last checkpoint is ${
            result.lastCheckpoint ?? "none"
          }`,
        );
        break;
      }
      const record: EpochRecord = { epoch, trainLoss: stats.meanLoss, lr: stats.lr, seconds: 0 };
      const state = o.precision === "f16" ? await runner.ampState() : undefined;
      if (state) {
        // The scheduler steps every batch, the optimizer only when nothing overflowed.
        const before = amp?.skipped ?? 0;
        const skipped = Math.max(before, scheduler.state().stepCount - state.step);
        const now = skipped - before;
        amp = { scale: state.scale, goodSteps: state.goodSteps, skipped };
        log(
          `[epoch: ${epoch}] f16 loss scale: ${state.scale}` +
            (now ? `; ${now} of ${stats.steps} steps skipped (a gradient overflowed)` : ""),
        );
        if (now && now >= stats.steps) {
          log(
            `[epoch: ${epoch}] no step of this epoch updated the weights: every one overflowed ` +
              "in f16 (the scale halves each time; --precision f32 avoids it)",
          );
        }
      }
      if (epoch % o.evalInterval === 0 || epoch === o.epochs - 1) {
        const { mae, maxF } = await evaluate(
          model,
          evalSamples(data.eval, { inputSize: o.inputSize }),
          {
            // the step's engine choice: tfjs steps evaluate on tfjs too
            engine: o.engine,
            threads: o.threads,
            total: data.eval.size,
            onProgress: (p) =>
              callbacks.onProgress?.({ phase: "eval", epoch, done: p.done, total: data.eval.size }),
          },
        );
        Object.assign(record, { mae, maxF });
        log(`[epoch: ${epoch}] val_MAE: ${mae.toFixed(3)} val_maxF1: ${maxF.toFixed(3)}`);
        await Deno.writeTextFile(resultsFile, formatResultsLine(record), { append: true });
        if (isBetter(record as { mae: number; maxF: number }, best)) {
          best = { epoch, mae, maxF };
          result.bestWeights = await saveBest(dir, model, best);
          log(`saved ${result.bestWeights} (epoch ${epoch})`);
        }
      }
      record.seconds = (performance.now() - t0) / 1000;
      history.push(record);
      if (record.mae !== undefined) {
        await writeFileAtomic(chartFile, renderTrainingChart(history, { title }));
      }
      const extra: LoopState = {
        options: o,
        convBias,
        scheduler: scheduler.state(),
        loader: loader.state(),
        history,
        best,
        resultsFile: resultsFile.replace(/^.*\//, ""),
        ...(amp ? { amp } : {}),
        backend: tf.getBackend(),
      };
      result.lastCheckpoint = await saveCheckpoint(`${dir}/model_${epoch}`, {
        epoch,
        stateDict: await model.stateDict(),
        optimizer: await optimizer.state(),
        extra,
      });
      await removeCheckpoint(dir, epoch - o.keepCheckpoints);
      result.best = best;
      callbacks.onEpoch?.(record);
    }
    if (history.length) await writeFileAtomic(chartFile, renderTrainingChart(history, { title }));
    // No epoch trained (stopped before the first): no prediction from random weights.
    if (history.length) {
      result.predictionFile = await predictOne(model, data.eval, o.inputSize, dir);
    }
    log(`training time ${formatDuration((performance.now() - started) / 1000)}`);
    return result;
  } catch (e) {
    if (madeDir) await removeIfEmpty(dir);
    throw e;
  } finally {
    loader?.dispose();
    runner?.dispose();
    optimizer.dispose();
    model.dispose();
  }
}
