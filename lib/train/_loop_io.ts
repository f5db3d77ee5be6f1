/**
 * File work of the training loop: initial weights, the best model, pruning
 * old checkpoints, and the predicted mask of one evaluation sample.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { SampleSource } from "../data/dataset.ts";
import { type EvalSample, evalSamples } from "../data/loader.ts";
import { resizePrediction } from "../eval/metrics.ts";
import { type LoadedWeights, readWeights } from "../io/read_weights.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import type { U2Net } from "../model/u2net.ts";
import { removeIfExists, writeFileAtomic } from "./atomic_write.ts";
import type { BestScores } from "./results.ts";
import type { TrainOptions } from "./train_options.ts";
import { savePrediction } from "./_prediction_png.ts";

/** Evaluation samples in the prediction panel. */
const PANEL_SAMPLES = 4;

/** Reads `--init-weights`, checking the architecture and that BatchNorm is not folded. */
export async function readInitWeights(o: Required<TrainOptions>): Promise<LoadedWeights> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(o.initWeights);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TypeError(`Cannot train: current --init-weights ${o.initWeights} does not exist`);
    }
    throw e;
  }
  const w = await readWeights(bytes, o.initWeights);
  if (w.arch !== o.arch) {
    throw new RangeError(
      `Cannot train: current --init-weights is u2net_${w.arch}, model is ${o.arch}`,
    );
  }
  if (w.foldedBn) {
    throw new TypeError("Cannot train: current --init-weights has BatchNorm folded in");
  }
  return w;
}

/** Creates the run folder (and its parents); true when it did not exist before. */
export async function makeRunDir(dir: string): Promise<boolean> {
  try {
    await Deno.stat(dir);
    return false;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(dir, { recursive: true });
  return true;
}

/** Removes `dir` when it holds nothing (a failed run leaves no empty folder). */
export async function removeIfEmpty(dir: string): Promise<void> {
  try {
    for await (const _ of Deno.readDir(dir)) return;
    await Deno.remove(dir);
  } catch {
    // best effort: the original failure matters more
  }
}

/** Writes `{dir}/model_best.safetensors` atomically (scores in its metadata); returns the path. */
export async function saveBest(dir: string, model: U2Net, best: BestScores): Promise<string> {
  const path = `${dir}/model_best.safetensors`;
  const meta = {
    format: "pt",
    arch: model.config.name,
    epoch: String(best.epoch),
    mae: String(best.mae),
    maxF: String(best.maxF),
  };
  await writeFileAtomic(path, writeSafetensors(await model.stateDict(), meta));
  return path;
}

/** Deletes the three files of checkpoint `model_{epoch}` (the JSON first). */
export async function removeCheckpoint(dir: string, epoch: number): Promise<void> {
  if (epoch < 0) return;
  for (const ext of [".json", ".safetensors", ".optim.safetensors"]) {
    await removeIfExists(`${dir}/model_${epoch}${ext}`);
  }
}

/** Saves the first evaluation sample's predicted mask and a panel of the first four; returns the mask's path. */
export async function predictOne(
  model: U2Net,
  source: SampleSource,
  inputSize: number,
  dir: string,
): Promise<string | undefined> {
  const done: { sample: EvalSample; prediction: Float32Array }[] = [];
  for await (const s of evalSamples(source, { inputSize, prefetch: 0 })) {
    const pred = tf.tidy(() => model.predict(tf.tensor4d(s.image, [1, inputSize, inputSize, 3])));
    try {
      done.push({ sample: s, prediction: await resizePrediction(pred, s.maskHeight, s.maskWidth) });
    } finally {
      pred.dispose();
    }
    if (done.length === PANEL_SAMPLES) break;
  }
  return done.length ? await savePrediction(dir, done) : undefined;
}
