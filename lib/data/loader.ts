/**
 * Training batches and evaluation samples from a {@linkcode SampleSource},
 * decoded ahead of the consumer.
 *
 * Determinism: the order of epoch `e` is a shuffle seeded by `(seed, e)`, and
 * the crop/flip of sample `i` in epoch `e` by `(seed, e, i)`, so batches do not
 * depend on prefetch depth, caching, timing or skipped samples, and a run
 * resumed from {@linkcode DataLoader.state} yields exactly the batches the
 * uninterrupted run would have. With `workers`, files are read, decoded and
 * squashed in Web Workers (same code, same results); the crop/flip stays on
 * the calling thread.
 *
 * @module
 */
import type { SampleSource } from "./dataset.ts";
import { DecodePool } from "./decode_pool.ts";
import { mixSeed, Rng } from "./rng.ts";
import {
  augmentSample,
  DEFAULT_TRAIN_PRESET,
  type SquashedSample,
  squashSample,
  type TrainPresetOptions,
} from "./transforms.ts";
import {
  DEFAULT_PREFETCH,
  defined,
  type LoadOptions,
  loadOrSkip,
  nextTask,
} from "./load_common.ts";

export type { BadSample, LoadOptions } from "./load_common.ts";
export { type EvalOptions, type EvalSample, evalSamples } from "./_eval_samples.ts";

/** Options of {@linkcode DataLoader}. */
export interface DataLoaderOptions extends TrainPresetOptions, LoadOptions {
  /** Samples per batch; the last batch may be smaller (drop_last=False). @default 8 */
  batchSize?: number;
  /** Shuffle every epoch; false: source (sorted) order. @default true */
  shuffle?: boolean;
  /** Seed of the order and the augmentation. @default 0 */
  seed?: number;
  /** Keep decoded, squashed samples in memory for later epochs. @default false */
  cache?: boolean;
  /** Memory budget of the cache; samples past it are not kept. @default 2 GiB */
  cacheMaxBytes?: number;
  /**
   * Web Workers that read, decode and squash samples, for sources with
   * `paths` (`fileSource`); started on first use, ended by
   * {@linkcode DataLoader.dispose}. 0: the calling thread (in-memory sources
   * always are). Batches are the same either way. @default 0
   */
  workers?: number;
}

/** Default {@linkcode DataLoaderOptions} (besides the train preset's). */
export const DEFAULT_LOADER = {
  batchSize: 8,
  shuffle: true,
  seed: 0,
  prefetch: DEFAULT_PREFETCH,
  cache: false,
  cacheMaxBytes: 2 * 1024 ** 3,
  skipBad: false,
  workers: 0,
} as const;

/** A training batch, NHWC. */
export interface Batch {
  /** `[size, height, width, 3]`, normalised. */
  images: Float32Array;
  /** `[size, height, width, 1]` in [0, 1]. */
  masks: Float32Array;
  /** Sample names, in batch order. */
  names: string[];
  /** Source indices, in batch order. */
  indices: number[];
  /** Samples in this batch (can be below batchSize at the end or after skips). */
  size: number;
  /** Crop height. */
  height: number;
  /** Crop width. */
  width: number;
  /** Epoch of this batch. */
  epoch: number;
  /** Position of this batch in its epoch. */
  step: number;
}

/** Resumable position of a {@linkcode DataLoader} (JSON-serialisable). */
export interface LoaderState {
  /** Seed of order and augmentation. */
  seed: number;
  /** Current epoch. */
  epoch: number;
  /** Next batch of the current epoch. */
  batch: number;
  /** Batch size the position refers to. */
  batchSize: number;
  /** Dataset size the position refers to. */
  size: number;
}

/**
 * Training batches with seeded shuffling, augmentation (train preset),
 * prefetching, an optional cache and resumable state.
 *
 * @example
 * ```ts
 * import { DataLoader } from "./loader.ts";
 * import { syntheticSource } from "./synthetic.ts";
 * const loader = new DataLoader(syntheticSource({ count: 10, size: 64 }), {
 *   batchSize: 4, inputSize: 64, cropSize: 56,
 * });
 * for await (const batch of loader.epoch()) console.log(batch.names, loader.state());
 * loader.dispose(); // ends its workers, if any
 * ```
 */
export class DataLoader {
  readonly #src: SampleSource;
  readonly #o:
    & Required<Omit<DataLoaderOptions, "onBadSample">>
    & Pick<DataLoaderOptions, "onBadSample">;
  readonly #cache = new Map<number, SquashedSample>();
  readonly #bad = new Set<number>();
  #cacheBytes = 0;
  #epoch = 0;
  #batch = 0;
  #pool: DecodePool | undefined;
  #disposed = false;

  /** Wraps `source`; see {@linkcode DataLoaderOptions}. */
  constructor(source: SampleSource, options: DataLoaderOptions = {}) {
    this.#src = source;
    this.#o = { ...DEFAULT_TRAIN_PRESET, ...DEFAULT_LOADER, ...defined(options) };
    const { batchSize, prefetch, cropSize, inputSize, workers } = this.#o;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`Cannot create DataLoader: current batchSize is ${batchSize}`);
    }
    if (!Number.isInteger(prefetch) || prefetch < 0) {
      throw new RangeError(`Cannot create DataLoader: current prefetch is ${prefetch}`);
    }
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RangeError(`Cannot create DataLoader: current workers is ${workers}`);
    }
    if (cropSize > inputSize) {
      throw new RangeError(
        `Cannot create DataLoader: current cropSize ${cropSize} > inputSize ${inputSize}`,
      );
    }
    if (source.size < 1) throw new RangeError("Cannot create DataLoader: current source is empty");
  }

  /** Batches per epoch (`ceil(size / batchSize)`). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.#src.size / this.#o.batchSize);
  }

  /** Bytes held by the cache. */
  get cacheBytes(): number {
    return this.#cacheBytes;
  }

  /** Sample indices of epoch `epoch`, in the order they are served. */
  order(epoch: number): number[] {
    const idx = Array.from({ length: this.#src.size }, (_, i) => i);
    return this.#o.shuffle ? new Rng(mixSeed(this.#o.seed, epoch, 0x0bde)).shuffle(idx) : idx;
  }

  /** The position to save in a checkpoint. */
  state(): LoaderState {
    const { seed, batchSize } = this.#o;
    return { seed, epoch: this.#epoch, batch: this.#batch, batchSize, size: this.#src.size };
  }

  /**
   * Continues from a saved position.
   *
   * @throws {RangeError} when it was saved with another seed, batch size or
   * dataset size (the batches would not be the same).
   */
  loadState(state: LoaderState): void {
    const mine = this.state();
    for (const k of ["seed", "batchSize", "size"] as const) {
      if (state[k] !== mine[k]) {
        throw new RangeError(
          `Cannot load loader state: current ${k} is ${mine[k]}, saved ${state[k]}` +
            (k === "size"
              ? ` (the dataset has ${mine[k]} samples now and had ${state[k]} when saved: ` +
                "a resume continues the same batches, so train on a copy of the data as it was, " +
                "or start a new run with --init-weights)"
              : ""),
        );
      }
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.batch)) {
      throw new RangeError(`Cannot load loader state: current value is ${JSON.stringify(state)}`);
    }
    this.#epoch = state.epoch;
    this.#batch = Math.min(Math.max(state.batch, 0), this.batchesPerEpoch);
    if (this.#batch === this.batchesPerEpoch) [this.#epoch, this.#batch] = [this.#epoch + 1, 0];
  }

  /**
   * Yields the remaining batches of the current epoch, then moves to the next
   * epoch. The state advances as each batch is handed out, so `state()` read
   * after training on a batch resumes with the one after it.
   */
  async *epoch(): AsyncGenerator<Batch> {
    if (this.#disposed) throw new TypeError("Cannot read batches: current loader is disposed");
    const epoch = this.#epoch;
    const order = this.order(epoch);
    const bs = this.#o.batchSize;
    const total = this.batchesPerEpoch;
    const pending = new Map<number, Promise<Batch | null>>();
    const start = (k: number) => {
      if (k >= total || pending.has(k)) return;
      const p = this.#loadBatch(epoch, k, order.slice(k * bs, (k + 1) * bs));
      p.catch(() => {}); // rejections surface when the batch is awaited
      pending.set(k, p);
    };
    for (let k = this.#batch; k < total; k++) {
      for (let j = k; j <= k + this.#o.prefetch; j++) start(j);
      const batch = await pending.get(k)!;
      pending.delete(k);
      if (k + 1 === total) [this.#epoch, this.#batch] = [epoch + 1, 0];
      else this.#batch = k + 1;
      if (batch) yield batch;
    }
  }

  async #loadBatch(epoch: number, step: number, indices: number[]): Promise<Batch | null> {
    await nextTask(); // let the consumer run first
    const samples = await Promise.all(indices.map((i) => this.#squashed(i)));
    const { cropSize, inputSize, hflipProb, augment, seed } = this.#o;
    const kept = indices.filter((_, j) => samples[j] !== null);
    if (kept.length === 0) return null;
    const px = cropSize * cropSize;
    const images = new Float32Array(kept.length * px * 3);
    const masks = new Float32Array(kept.length * px);
    let j = 0;
    for (const [n, s] of samples.entries()) {
      if (!s) continue;
      const rng = new Rng(mixSeed(seed, epoch, indices[n], 0xa06));
      const t = augmentSample(s, rng, { inputSize, cropSize, hflipProb, augment });
      images.set(t.image.data, j * px * 3);
      masks.set(t.mask.data, j * px);
      j++;
    }
    return {
      images,
      masks,
      names: kept.map((i) => this.#src.name(i)),
      indices: kept,
      size: kept.length,
      height: cropSize,
      width: cropSize,
      epoch,
      step,
    };
  }

  async #squashed(index: number): Promise<SquashedSample | null> {
    const hit = this.#cache.get(index);
    if (hit) return hit;
    if (this.#bad.has(index)) return null;
    const s = await this.#load(index);
    if (!s) return null;
    const bytes = s.image.data.byteLength + s.mask.data.byteLength;
    if (this.#o.cache && this.#cacheBytes + bytes <= this.#o.cacheMaxBytes) {
      this.#cache.set(index, s);
      this.#cacheBytes += bytes;
    }
    return s;
  }

  /** Sample `index` squashed, on this thread or in the pool; null when skipped. */
  async #load(index: number): Promise<SquashedSample | null> {
    const { inputSize, workers } = this.#o;
    const paths = this.#src.paths;
    if (workers === 0 || !paths) {
      const raw = await loadOrSkip(this.#src, index, this.#o, this.#bad);
      return raw && squashSample(raw.image, raw.mask, { inputSize });
    }
    if (this.#disposed) throw new TypeError("Cannot load sample: current loader is disposed");
    this.#pool ??= new DecodePool(workers);
    const r = await this.#pool.squash(paths.call(this.#src, index), inputSize);
    if (r.ok) return r.sample;
    // the sample's error, under the calling thread's skip rules
    const src = this.#src;
    const failed: SampleSource = {
      size: src.size,
      name: (i) => src.name(i),
      load: () => Promise.reject(r.error),
    };
    await loadOrSkip(failed, index, this.#o, this.#bad);
    return null;
  }

  /** Decode workers running now (0 on the calling thread, or once disposed). */
  get decodeWorkers(): number {
    return this.#pool?.started ?? 0;
  }

  /**
   * Terminates the decode workers (pending loads reject); afterwards the
   * loader serves no more batches. Idempotent; needed only with `workers`,
   * whose threads would otherwise keep the process alive.
   */
  dispose(): void {
    this.#disposed = true;
    this.#pool?.dispose();
    this.#pool = undefined;
  }
}
