/**
 * Memory limits of the inference engines: one engine per input shape holds
 * its activations (and, on the CPU, its packed weights) for that shape, so
 * an extreme aspect ratio under the shorter-side resize (a 320x5120 input
 * from a 15 KB PNG) would build an engine of gigabytes. Engines are sized
 * before they are built; one over the limit is refused with an
 * {@linkcode EngineMemoryError} (the HTTP layer answers 413).
 *
 * @module
 */

/**
 * Default largest engine, in bytes (lite at 320²: 113 MiB; full at 320²:
 * 576 MiB, at 512²: 764 MiB). An engine for the predictor's own square input
 * size is always allowed, even when larger.
 */
export const DEFAULT_MAX_ENGINE_BYTES = 2 ** 30;

/**
 * Default largest sum of the engines a predictor keeps (one per input
 * shape); the least recently used are dropped first to make room.
 */
export const DEFAULT_MAX_ENGINE_CACHE_BYTES = 2 ** 31;

/**
 * A byte count in the largest binary unit that keeps it at least 1 ("1.6 GiB").
 *
 * @example
 * ```ts
 * import { formatBytes } from "./engine_memory.ts";
 * formatBytes(1.6 * 2 ** 30); // "1.6 GiB"
 * formatBytes(2 ** 30); // "1 GiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) (v /= 1024, u++);
  return `${u === 0 ? v : Number(v.toFixed(1))} ${units[u]}`;
}

/**
 * An engine that one input shape would need is over the engine limit. A
 * `RangeError`, so that generic handling still sees a bad size; servers map
 * it to 413 (payload too large: the image's aspect ratio asks for too much).
 *
 * @example
 * ```ts
 * import { EngineMemoryError } from "./engine_memory.ts";
 * const e = new EngineMemoryError({ height: 320, width: 5120 }, 1.6 * 2 ** 30, 2 ** 30);
 * e.message; // "Cannot build an engine for a 5120x320 network input: current need is ~1.6 GiB, over the 1 GiB engine limit"
 * e instanceof RangeError; // true
 * ```
 */
export class EngineMemoryError extends RangeError {
  /** Estimated bytes of the engine. */
  readonly bytes: number;
  /** The limit it is over. */
  readonly limit: number;
  /** Network input height. */
  readonly height: number;
  /** Network input width. */
  readonly width: number;

  /**
   * An error for an engine of `bytes` over `limit` at network input `size`.
   *
   * @param size The network input size (width x height in the message).
   * @param bytes The engine's estimated bytes.
   * @param limit The limit in bytes.
   */
  constructor(size: { height: number; width: number }, bytes: number, limit: number) {
    super(
      `Cannot build an engine for a ${size.width}x${size.height} network input: current need ` +
        `is ~${formatBytes(bytes)}, over the ${formatBytes(limit)} engine limit`,
    );
    this.name = "EngineMemoryError";
    this.bytes = bytes;
    this.limit = limit;
    this.height = size.height;
    this.width = size.width;
  }
}
