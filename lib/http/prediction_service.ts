/**
 * What the handler runs predictions on: a {@linkcode PredictionService}
 * takes the request's body bytes, Content-Type and parsed query and gives the
 * response bytes. Two kinds: a pool of Web Workers (`worker_pool.ts`) that
 * keeps the event loop free, and the in-thread service here, for runtimes
 * without Web Workers, which awaits a macrotask between stages and between
 * requests so that `/healthz` and 503s still get through.
 *
 * @module
 */
import type { Predictor } from "../predict/predictor.ts";
import { type PredictJob, type PredictOutput, runPrediction } from "./_pipeline.ts";
import { DEFAULT_MAX_PARTS } from "./upload.ts";

export type { PredictJob, PredictOutput } from "./_pipeline.ts";
export { DEFAULT_MAX_PARTS } from "./upload.ts";

/** Where predictions run. */
export type ServiceMode = "workers" | "in-thread";

/** Default pixel limit of uploads (4096 x 4096), checked from the header before decoding. */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

/** Runs predictions for the handler. */
export interface PredictionService {
  /** Where predictions run. */
  readonly mode: ServiceMode;
  /** Predictions it runs at once (the handler's queue slots). */
  readonly capacity: number;
  /** One prediction; rejects with an `HttpError` for client errors. */
  run(job: PredictJob): Promise<PredictOutput>;
  /** Counters for `/healthz`. */
  stats(): Record<string, unknown>;
  /** Stops it (workers terminated; in-thread: the predictor's engines freed). */
  close(): Promise<void>;
}

/** Options of {@linkcode createInThreadService}. */
export interface InThreadServiceOptions {
  /** Largest image, in pixels, from its header. @default DEFAULT_MAX_PIXELS */
  maxPixels?: number;
  /** Largest number of multipart parts. @default DEFAULT_MAX_PARTS */
  maxParts?: number;
  /** Predictions at once. @default {1} */
  capacity?: number;
  /** Frees the predictor on `close()`. @default {false} */
  ownsPredictor?: boolean;
}

/**
 * Resolves after pending I/O and timers had their turn (a macrotask, not a microtask).
 *
 * @example
 * ```ts
 * import { macrotask } from "./prediction_service.ts";
 * await macrotask(); // other requests ran meanwhile
 * ```
 */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Predictions on the calling thread, yielding to the event loop between
 * stages (extract and check, decode, predict, render) and before each request.
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { createPredictor } from "../predict/predictor.ts";
 * import { createInThreadService } from "./prediction_service.ts";
 * const model = U2Net.create("lite");
 * const service = createInThreadService(createPredictor(model, { inputSize: 32 }));
 * service.mode; // "in-thread"
 * model.dispose();
 * ```
 */
export function createInThreadService(
  predictor: Predictor,
  options: InThreadServiceOptions = {},
): PredictionService {
  const limits = {
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxParts: options.maxParts ?? DEFAULT_MAX_PARTS,
    pause: macrotask,
  };
  let jobs = 0, running = 0;
  return {
    mode: "in-thread",
    capacity: options.capacity ?? 1,
    async run(job) {
      await macrotask();
      running++;
      try {
        return await runPrediction(predictor, job, limits);
      } finally {
        running--;
        jobs++;
      }
    },
    stats: () => ({ running, jobs }),
    close() {
      if (options.ownsPredictor) predictor.dispose?.();
      return Promise.resolve();
    },
  };
}
