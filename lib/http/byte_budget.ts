/**
 * A budget of request-body bytes held at once across all requests: a body's
 * declared `Content-Length` is reserved before it is read, a chunked body's
 * bytes as they arrive, and the bytes are given back when its request ends.
 * A reservation that does not fit is refused with 503 and `Retry-After`, so
 * many concurrent large uploads cannot take the process' memory.
 *
 * @module
 */
import { DEFAULT_RETRY_AFTER_SECONDS, HttpError } from "./errors.ts";

/** Default bytes of request bodies held at once: 64 MiB. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;

/** Options of {@linkcode ByteBudget}. */
export interface ByteBudgetOptions {
  /** `Retry-After` seconds of the 503. @default DEFAULT_RETRY_AFTER_SECONDS */
  retryAfterSeconds?: number;
}

/**
 * Bytes reserved out of a fixed total.
 *
 * @example
 * ```ts
 * import { ByteBudget } from "./byte_budget.ts";
 * const budget = new ByteBudget(100);
 * budget.reserve(60);
 * budget.tryReserve(60); // false
 * budget.release(60);
 * budget.inUse; // 0
 * ```
 */
export class ByteBudget {
  /** The total. */
  readonly limit: number;
  readonly #retryAfter: number;
  #used = 0;
  #peak = 0;
  #refused = 0;

  /** A budget of `limit` bytes. */
  constructor(limit: number = DEFAULT_MAX_INFLIGHT_BYTES, options: ByteBudgetOptions = {}) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`Cannot create byte budget: current limit is ${limit}`);
    }
    this.limit = limit;
    this.#retryAfter = options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.#used;
  }

  /** Counters for `/healthz`. */
  stats(): { limit: number; inUse: number; peak: number; refused: number } {
    return { limit: this.limit, inUse: this.#used, peak: this.#peak, refused: this.#refused };
  }

  /** Reserves `n` bytes when they fit; returns whether it did. */
  tryReserve(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    this.#peak = Math.max(this.#peak, this.#used);
    return true;
  }

  /** Reserves `n` bytes or throws a `busy` {@linkcode HttpError} (503). */
  reserve(n: number): void {
    if (this.tryReserve(n)) return;
    this.#refused++;
    throw new HttpError(
      "busy",
      `server busy: ${this.#used} bytes of uploads in flight, ${n} more would pass the limit ` +
        `of ${this.limit}; retry later`,
      { "retry-after": String(this.#retryAfter) },
    );
  }

  /** Gives `n` reserved bytes back. */
  release(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}
