/**
 * Pieces shared by the training loader and the eval iterator.
 *
 * @module
 */
import type { RawSample, SampleSource } from "./dataset.ts";

/** Batches (eval: samples) decoded ahead of the consumer by default. */
export const DEFAULT_PREFETCH = 2;

/** A sample that failed to load and was skipped (`skipBad`). */
export interface BadSample {
  /** Index in the source. */
  index: number;
  /** Sample name. */
  name: string;
  /** Why it failed; the message names the file. */
  error: Error;
}

/** Options shared by `DataLoader` and `evalSamples` (loader.ts). */
export interface LoadOptions {
  /** Batches (eval: samples) decoded ahead of the consumer. @default 2 */
  prefetch?: number;
  /** Skip samples that fail to load instead of throwing. @default false */
  skipBad?: boolean;
  /** Called once per skipped sample. */
  onBadSample?: (bad: BadSample) => void;
}

/** `options` without its `undefined` fields, so they do not mask defaults. */
export const defined = <T extends object>(options: T): Partial<T> =>
  Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Resolves on a later macrotask, letting the event loop (and GPU callbacks) run. */
export const nextTask = (): Promise<void> => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Loads sample `index`; when it fails, rethrows unless `o.skipBad`, else
 * reports it once through `o.onBadSample` (remembered in `bad`) and returns null.
 */
export async function loadOrSkip(
  src: SampleSource,
  index: number,
  o: LoadOptions,
  bad: Set<number>,
): Promise<RawSample | null> {
  try {
    return await src.load(index);
  } catch (e) {
    if (!o.skipBad) throw e;
    if (!bad.has(index)) {
      bad.add(index);
      const error = e instanceof Error ? e : new Error(String(e));
      o.onBadSample?.({ index, name: src.name(index), error });
    }
    return null;
  }
}
