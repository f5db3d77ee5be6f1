/**
 * Live connection counters of `serveHttp()` (`lib/http/http_server.ts`):
 * one plain object updated in place, so `/healthz` can show it by
 * reference (`health: { connections: stats }`) before the server starts.
 *
 * @module
 */

/** Connection counters of one server (since it started, except `open`). */
export interface HttpServerStats {
  /** Connections open now. */
  open: number;
  /** Most connections open at once. */
  peakOpen: number;
  /** Connections accepted. */
  accepted: number;
  /** Idle or head-sending connections closed to make room (cap or out of descriptors). */
  evicted: number;
  /** Connections answered 503 at the cap (nothing could be evicted). */
  rejected: number;
  /** Connections closed because a request head did not arrive in time. */
  headerTimeouts: number;
  /** Kept-alive connections closed after idling. */
  idleTimeouts: number;
  /** Connections closed because the client stopped reading. */
  writeTimeouts: number;
  /** Requests refused by the transport (malformed, ambiguous, too large). */
  badRequests: number;
  /** Failed accepts (all causes). */
  acceptErrors: number;
  /** Failed accepts because file descriptors ran out (EMFILE/ENFILE). */
  fdExhausted: number;
}

/**
 * A zeroed stats object.
 *
 * @example
 * ```ts
 * import { createHttpServerStats } from "./http_server_stats.ts";
 * createHttpServerStats().open; // 0
 * ```
 */
export function createHttpServerStats(): HttpServerStats {
  return {
    open: 0,
    peakOpen: 0,
    accepted: 0,
    evicted: 0,
    rejected: 0,
    headerTimeouts: 0,
    idleTimeouts: 0,
    writeTimeouts: 0,
    badRequests: 0,
    acceptErrors: 0,
    fdExhausted: 0,
  };
}
