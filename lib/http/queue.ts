/**
 * A bounded work queue: at most `concurrency` jobs run, at most `maxWaiting`
 * wait; a job that finds the queue full is refused at once (503 with
 * `Retry-After`) instead of piling up memory and latency.
 *
 * @module
 */
import { DEFAULT_RETRY_AFTER_SECONDS, HttpError } from "./errors.ts";

/** Default number of jobs running at once (one shared model, one GPU). */
export const DEFAULT_CONCURRENCY = 1;

/** Default number of jobs allowed to wait. */
export const DEFAULT_MAX_WAITING = 16;

/** Options of {@linkcode createQueue}. */
export interface QueueOptions {
  /** Jobs running at once. @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** Jobs waiting at most. @default DEFAULT_MAX_WAITING */
  maxWaiting?: number;
  /** `Retry-After` seconds of the 503. @default DEFAULT_RETRY_AFTER_SECONDS */
  retryAfterSeconds?: number;
}

/** What {@linkcode createQueue} returns. */
export interface WorkQueue {
  /** Runs `job` when a slot is free; throws a `busy` {@linkcode HttpError} when full. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** True when a new job would be refused. */
  full(): boolean;
  /** Throws the `busy` {@linkcode HttpError} when a new job would be refused. */
  assertRoom(): void;
  /** Jobs running and waiting now. */
  stats(): { active: number; waiting: number; concurrency: number; maxWaiting: number };
}

/**
 * Creates a bounded queue.
 *
 * @example
 * ```ts
 * import { createQueue } from "./queue.ts";
 * const q = createQueue({ concurrency: 1, maxWaiting: 0 });
 * await q.run(() => Promise.resolve(42)); // 42
 * ```
 */
export function createQueue(options: QueueOptions = {}): WorkQueue {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const maxWaiting = options.maxWaiting ?? DEFAULT_MAX_WAITING;
  const retryAfter = options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`Cannot create queue: current concurrency is ${concurrency}`);
  }
  if (!Number.isInteger(maxWaiting) || maxWaiting < 0) {
    throw new RangeError(`Cannot create queue: current maxWaiting is ${maxWaiting}`);
  }
  let active = 0;
  const waiting: (() => void)[] = [];
  const full = () => active >= concurrency && waiting.length >= maxWaiting;
  const assertRoom = () => {
    if (!full()) return;
    throw new HttpError(
      "busy",
      `server busy: ${active} running, ${waiting.length} waiting; retry later`,
      { "retry-after": String(retryAfter) },
    );
  };
  return {
    full,
    assertRoom,
    stats: () => ({ active, waiting: waiting.length, concurrency, maxWaiting }),
    async run<T>(job: () => Promise<T>): Promise<T> {
      assertRoom();
      if (active >= concurrency) await new Promise<void>((go) => waiting.push(go));
      else active++;
      try {
        return await job();
      } finally {
        const next = waiting.shift();
        if (next) next(); // the slot passes on; `active` stays
        else active--;
      }
    },
  };
}
