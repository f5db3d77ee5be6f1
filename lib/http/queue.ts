/**
 * A bounded work queue with admission tickets: a request takes a ticket
 * before anything is read (its body, its multipart parts), and the tickets
 * out at once are bounded by `concurrency + maxWaiting`. A request that finds
 * no ticket is refused at once (503 with `Retry-After`) instead of piling up
 * memory and latency. A ticket's job then runs when one of the
 * `concurrency` slots is free, in arrival order.
 *
 * @module
 */
import { DEFAULT_RETRY_AFTER_SECONDS, HttpError } from "./errors.ts";

/** Default number of jobs running at once (one shared model, one GPU). */
export const DEFAULT_CONCURRENCY = 1;

/** Default number of jobs allowed to wait (their bodies being read, or read). */
export const DEFAULT_MAX_WAITING = 16;

/** Options of {@linkcode createQueue}. */
export interface QueueOptions {
  /** Jobs running at once. @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** Jobs waiting at most (admitted, not running). @default DEFAULT_MAX_WAITING */
  maxWaiting?: number;
  /** `Retry-After` seconds of the 503. @default DEFAULT_RETRY_AFTER_SECONDS */
  retryAfterSeconds?: number;
}

/** An admission: room held in the queue until {@linkcode Ticket.release}. */
export interface Ticket {
  /** Runs `job` when a slot is free (once per ticket); the ticket stays held until release. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Gives the room back (idempotent); call it in `finally`. */
  release(): void;
}

/** Counters of {@linkcode WorkQueue.stats}. */
export interface QueueStats {
  /** Jobs running. */
  active: number;
  /** Tickets held that are not running (reading a body, or waiting for a slot). */
  waiting: number;
  /** Slots. */
  concurrency: number;
  /** Waiting room. */
  maxWaiting: number;
  /** Requests refused with 503 so far. */
  refused: number;
}

/** What {@linkcode createQueue} returns. */
export interface WorkQueue {
  /** Takes a ticket; throws a `busy` {@linkcode HttpError} when none is left. */
  admit(): Ticket;
  /** `admit()`, `run(job)`, `release()` in one. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** True when a new request would be refused. */
  full(): boolean;
  /** Throws the `busy` {@linkcode HttpError} when a new request would be refused. */
  assertRoom(): void;
  /** Jobs running and waiting now. */
  stats(): QueueStats;
}

/**
 * Creates a bounded queue.
 *
 * @example
 * ```ts
 * import { createQueue } from "./queue.ts";
 * const q = createQueue({ concurrency: 1, maxWaiting: 0 });
 * const ticket = q.admit(); // before reading the request body
 * try {
 *   await ticket.run(() => Promise.resolve(42)); // 42
 * } finally {
 *   ticket.release();
 * }
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
  let held = 0, active = 0, refused = 0;
  const waiting: (() => void)[] = [];
  const full = () => held >= concurrency + maxWaiting;
  const assertRoom = () => {
    if (!full()) return;
    refused++;
    throw new HttpError(
      "busy",
      `server busy: ${active} running, ${held - active} waiting; retry later`,
      { "retry-after": String(retryAfter) },
    );
  };
  const admit = (): Ticket => {
    assertRoom();
    held++;
    let released = false, ran = false;
    return {
      async run<T>(job: () => Promise<T>): Promise<T> {
        if (released || ran) throw new TypeError("Cannot run job: current ticket is used");
        ran = true;
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
      release() {
        if (released) return;
        released = true;
        held--;
      },
    };
  };
  return {
    admit,
    full,
    assertRoom,
    stats: () => ({ active, waiting: held - active, concurrency, maxWaiting, refused }),
    async run<T>(job: () => Promise<T>): Promise<T> {
      const ticket = admit();
      try {
        return await ticket.run(job);
      } finally {
        ticket.release();
      }
    },
  };
}
