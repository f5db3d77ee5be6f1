/**
 * Evaluation samples (validation.py's loader: eval preset, batch 1, source
 * order), decoded ahead of the consumer.
 *
 * @module
 */
import type { SampleSource } from "./dataset.ts";
import { DEFAULT_INPUT_SIZE, evalPreset } from "./transforms.ts";
import { DEFAULT_PREFETCH, type LoadOptions, loadOrSkip, nextTask } from "./load_common.ts";

/** One evaluation sample. */
export interface EvalSample {
  /** `[1, inputSize, inputSize, 3]`, eval preset (squash + normalise). */
  image: Float32Array;
  /** Ground truth, 0-255, at its own resolution. */
  mask: Uint8Array;
  /** Mask width. */
  maskWidth: number;
  /** Mask height. */
  maskHeight: number;
  /** Original image width. */
  imageWidth: number;
  /** Original image height. */
  imageHeight: number;
  /** Sample name. */
  name: string;
  /** Index in the source. */
  index: number;
}

/** Options of {@linkcode evalSamples}. */
export interface EvalOptions extends LoadOptions {
  /** Square network input side. @default 320 */
  inputSize?: number;
}

/**
 * Evaluation samples in source (sorted) order, `prefetch` samples decoded
 * ahead (validation.py: `SODPresetEval([320, 320])`, batch 1).
 *
 * @example
 * ```ts
 * import { evalSamples } from "./loader.ts";
 * import { syntheticSource } from "./synthetic.ts";
 * for await (const s of evalSamples(syntheticSource({ count: 2 }), { inputSize: 64 })) {
 *   console.log(s.name, s.maskWidth);
 * }
 * ```
 */
export async function* evalSamples(
  source: SampleSource,
  options: EvalOptions = {},
): AsyncGenerator<EvalSample> {
  const inputSize = options.inputSize ?? DEFAULT_INPUT_SIZE;
  const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
  const bad = new Set<number>();
  const load = async (index: number): Promise<EvalSample | null> => {
    await nextTask();
    const raw = await loadOrSkip(source, index, options, bad);
    if (!raw) return null;
    return {
      image: evalPreset(raw.image, { inputSize }).data,
      mask: raw.mask.data,
      maskWidth: raw.mask.width,
      maskHeight: raw.mask.height,
      imageWidth: raw.image.width,
      imageHeight: raw.image.height,
      name: raw.name,
      index,
    };
  };
  const pending = new Map<number, Promise<EvalSample | null>>();
  for (let i = 0; i < source.size; i++) {
    for (let j = i; j <= Math.min(i + prefetch, source.size - 1); j++) {
      if (pending.has(j)) continue;
      const p = load(j);
      p.catch(() => {});
      pending.set(j, p);
    }
    const s = await pending.get(i)!;
    pending.delete(i);
    if (s) yield s;
  }
}
