/**
 * The training loop's data: DUTS / plain folders or the embedded synthetic
 * dataset, with an up-front check that stops (or skips, with `skipBad`) on
 * files that do not load, before any training step.
 *
 * @module
 */
import { DecodePool } from "../data/decode_pool.ts";
import { discoverDataset, fileSource, type SampleSource, someNames } from "../data/dataset.ts";
import { syntheticSource } from "../data/synthetic.ts";
import type { TrainOptions } from "./train_options.ts";

/** Train and eval sources plus a one-line description. */
export interface TrainData {
  /** Training samples. */
  train: SampleSource;
  /** Evaluation samples. */
  eval: SampleSource;
  /** For the log, e.g. `DUTS-TR 10553 / DUTS-TE 5019`. */
  description: string;
}

/** Callbacks of {@linkcode buildTrainData}. */
export interface TrainDataHooks {
  /** A message for the user. */
  log: (line: string) => void;
  /** Check progress: samples done of total. */
  progress?: (done: number, total: number, split: string) => void;
}

/** The samples of `src` at `indices`, renumbered from 0. */
export function subsetSource(src: SampleSource, indices: readonly number[]): SampleSource {
  const at = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= indices.length) {
      throw new RangeError(`Cannot load sample: current index is ${i} of ${indices.length}`);
    }
    return indices[i];
  };
  const paths = src.paths;
  return {
    size: indices.length,
    name: (i) => src.name(at(i)),
    load: (i) => src.load(at(i)),
    // file sources keep their paths, so the decode workers still serve them
    ...(paths ? { paths: (i: number) => paths.call(src, at(i)) } : {}),
  };
}

function largest(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i];
  return m;
}

/**
 * The warning for a split whose masks are all 0 and 1 (none above 1 of
 * 255): the seed divides masks by 255, so they train toward empty maps.
 */
function zeroOneMasksWarning(split: string): string {
  return `warning: every mask in ${split} has values 0 and 1 only (none above 1 of 255); ` +
    "masks are divided by 255, as in the seed, so these train toward empty predictions: " +
    "save them as 0 and 255 (multiply by 255)";
}

/** Side the check's workers squash to (the decode is what is checked; small is cheap). */
const CHECK_SIZE = 8;

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/**
 * Loads every sample (two at a time, or on `workers` decode workers for a
 * file source); drops failures when `skipBad`, else throws listing them.
 */
async function checkSource(
  src: SampleSource,
  split: string,
  skipBad: boolean,
  hooks: TrainDataHooks,
  workers = 0,
): Promise<SampleSource> {
  const bad: string[] = [];
  const good: number[] = [];
  let next = 0;
  let done = 0;
  const paths = src.paths;
  const pool = paths && workers > 0 ? new DecodePool(workers) : undefined;
  // The largest mask value seen (0-1: masks are divided by 255 as in the seed), to tell 0/1 masks.
  let maskMax = 0;
  const load = async (i: number) => {
    if (!pool) {
      const { mask } = await src.load(i);
      if (maskMax <= 1 / 255) maskMax = Math.max(maskMax, largest(mask.data) / 255);
      return;
    }
    const r = await pool.squash(paths!.call(src, i), CHECK_SIZE);
    if (!r.ok) throw r.error;
    maskMax = Math.max(maskMax, largest(r.sample.mask.data));
  };
  const worker = async () => {
    while (next < src.size) {
      const i = next++;
      try {
        await load(i);
        good.push(i);
      } catch (e) {
        bad.push((e as Error).message);
      }
      hooks.progress?.(++done, src.size, split);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(2, 2 * workers) }, worker));
  } finally {
    pool?.dispose();
  }
  if (maskMax > 0 && maskMax <= 1 / 255 + 1e-6) hooks.log(zeroOneMasksWarning(split));
  if (bad.length === 0) return src;
  if (!skipBad) {
    const more = bad.length > 3 ? `; … and ${bad.length - 3} more` : "";
    throw new TypeError(
      `Cannot train: current ${split} set has ${bad.length} unreadable sample(s), ` +
        `pass --skip-bad to skip them: ${bad.slice(0, 3).join("; ")}${more}`,
    );
  }
  for (const b of bad) hooks.log(`skipping bad sample: ${b}`);
  good.sort((a, b) => a - b);
  if (good.length === 0) {
    throw new TypeError(`Cannot train: current ${split} set has no readable sample`);
  }
  return subsetSource(src, good);
}

async function folder(
  root: string,
  split: "train" | "test",
  o: Required<TrainOptions>,
  hooks: TrainDataHooks,
): Promise<[SampleSource, string]> {
  const ds = await discoverDataset(root, { split });
  const label = ds.layout === "duts" ? (split === "train" ? "DUTS-TR" : "DUTS-TE") : ds.imageDir;
  if (ds.unmatchedImages.length) {
    const names = someNames(ds.unmatchedImages);
    if (!o.skipBad) {
      throw new RangeError(
        `Cannot train: current ${label} has ${ds.unmatchedImages.length} image(s) without a mask ` +
          `in ${ds.maskDir} (${names}); pass --skip-bad to skip them`,
      );
    }
    hooks.log(`skipping ${ds.unmatchedImages.length} image(s) without a mask: ${names}`);
  }
  let src = fileSource(ds);
  if (o.checkData) src = await checkSource(src, label, o.skipBad, hooks, o.workers);
  return [src, `${label} ${src.size}`];
}

/**
 * Builds the sources for `o`: `dataPath` (DUTS-TR for training and DUTS-TE
 * for evaluation; a plain `images/` + `masks/` folder serves both), or with
 * no data path the synthetic dataset of seed `o.seed`, sized `o.inputSize`:
 * samples `0 … syntheticTrain−1` train, the next `syntheticEval` evaluate.
 */
export async function buildTrainData(
  o: Required<TrainOptions>,
  hooks: TrainDataHooks,
): Promise<TrainData> {
  if (!o.dataPath) {
    const all = syntheticSource({
      seed: o.seed,
      size: o.inputSize,
      count: o.syntheticTrain + o.syntheticEval,
    });
    return {
      train: subsetSource(all, range(0, o.syntheticTrain)),
      eval: subsetSource(all, range(o.syntheticTrain, o.syntheticTrain + o.syntheticEval)),
      description: `synthetic (seed ${o.seed}, ${o.inputSize}px): ` +
        `${o.syntheticTrain} train / ${o.syntheticEval} held-out eval`,
    };
  }
  // A plain folder serves both splits: what it says (warnings, skipped files) is said once.
  const said = new Set<string>();
  const once: TrainDataHooks = {
    ...hooks,
    log: (line) => {
      if (!said.has(line)) hooks.log(line);
      said.add(line);
    },
  };
  const [train, trainLabel] = await folder(o.dataPath, "train", o, once);
  const [evalSrc, evalLabel] = await folder(o.dataPath, "test", o, once);
  return { train, eval: evalSrc, description: `${trainLabel} train / ${evalLabel} eval` };
}
