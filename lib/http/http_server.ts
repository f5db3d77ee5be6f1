/**
 * A small HTTP/1.1 server on `Deno.listen` that holds under hostile
 * traffic, where `Deno.serve` has no header timeout, no connection cap and
 * exits when file descriptors run out:
 *
 * - the request head must arrive within `headerTimeoutMs`, a kept-alive
 *   connection may idle `idleTimeoutMs`, a write may stall `writeTimeoutMs`;
 * - at `maxConnections`, a new connection evicts the connection that has
 *   been sending its head the longest (those that never finished a request
 *   first, kept-alive idle ones last; never one running a request), else
 *   gets 503 + Retry-After, so slowloris cannot lock real clients out;
 * - out of file descriptors (EMFILE/ENFILE), accept evicts the same way and
 *   backs off; it never throws, and one connection's error never escapes;
 * - strict, smuggling-safe parsing (see `_http1_parse.ts`), 431 for heads
 *   over `maxHeaderBytes` or `maxHeaderCount` fields, streamed request
 *   bodies with backpressure, keep-alive and sequential pipelining.
 *
 * @module
 */
import { ConnTable } from "./_conn_table.ts";
import { createHttpServerStats, type HttpServerStats } from "./http_server_stats.ts";

/** Default time for a whole request head to arrive: 10 s. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
/** Default time a kept-alive connection may wait for its next request: 5 s. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5_000;
/** Default time one write may make no progress (a client that never reads): 15 s. */
export const DEFAULT_WRITE_TIMEOUT_MS = 15_000;
/** Default cap on open connections. */
export const DEFAULT_MAX_CONNECTIONS = 512;
/** Default cap on the request head: 16 KiB (beyond: 431). */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** Default cap on header fields (beyond: 431). */
export const DEFAULT_MAX_HEADER_COUNT = 100;

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 200;
const ACCEPT_BURST = 8;

/** What the handler gets besides the request. */
export interface HttpHandlerInfo {
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
}

/** A fetch-style handler. */
export type HttpHandler = (req: Request, info: HttpHandlerInfo) => Response | Promise<Response>;

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions {
  /** Listen address. @default {"127.0.0.1"} */
  hostname?: string;
  /** Listen port (0: any free port). @default {8000} */
  port?: number;
  /** Deadline for a whole request head, from its first byte (or the accept). @default DEFAULT_HEADER_TIMEOUT_MS */
  headerTimeoutMs?: number;
  /** Deadline for the next request on a kept-alive connection. @default DEFAULT_IDLE_TIMEOUT_MS */
  idleTimeoutMs?: number;
  /** Deadline for one write to make progress. @default DEFAULT_WRITE_TIMEOUT_MS */
  writeTimeoutMs?: number;
  /** Open connections at most. @default DEFAULT_MAX_CONNECTIONS */
  maxConnections?: number;
  /** Largest request head in bytes. @default DEFAULT_MAX_HEADER_BYTES */
  maxHeaderBytes?: number;
  /** Most header fields. @default DEFAULT_MAX_HEADER_COUNT */
  maxHeaderCount?: number;
  /** Stops the server: no new connections, idle ones closed, answers in flight finished. @default {undefined} */
  signal?: AbortSignal;
  /** Called once listening. @default {undefined} */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Receives handler exceptions (answered 500) and unexpected transport errors. @default {undefined} */
  onError?: (e: unknown) => void;
  /** A live stats object to update (from `createHttpServerStats()`), e.g. one already shown by `/healthz`. @default {a new one} */
  stats?: HttpServerStats;
}

/** A running server. */
export interface HttpServer {
  /** The bound address (the real port when 0 was asked). */
  addr: Deno.NetAddr;
  /** Live counters (updated in place). */
  stats: HttpServerStats;
  /** Resolves when the server has stopped and every connection is closed. */
  finished: Promise<void>;
  /** Stops the server (like aborting `signal`) and waits for {@linkcode HttpServer.finished}. */
  shutdown(): Promise<void>;
}

const delay = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Listens on `hostname:port` and serves `handler` (throws `Deno.errors.AddrInUse`
 * when the port is taken).
 *
 * @example
 * ```ts
 * import { serveHttp } from "./http_server.ts";
 * const server = serveHttp(() => new Response("hi"), { port: 0 });
 * const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * await res.text(); // "hi"
 * server.stats.accepted; // 1
 * await server.shutdown();
 * ```
 */
export function serveHttp(handler: HttpHandler, options: HttpServerOptions = {}): HttpServer {
  const limits = {
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    headerTimeoutMs: DEFAULT_HEADER_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
    writeTimeoutMs: DEFAULT_WRITE_TIMEOUT_MS,
    maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
    maxHeaderCount: DEFAULT_MAX_HEADER_COUNT,
  };
  for (const name of Object.keys(limits) as (keyof typeof limits)[]) {
    const v = options[name] ?? limits[name];
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `Cannot serve: current value of ${name} is ${v}, expected an integer >= 1`,
      );
    }
    limits[name] = v;
  }
  const stats = options.stats ?? createHttpServerStats();
  const onError = options.onError ?? (() => {});
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8000,
  });
  const addr = listener.addr as Deno.NetAddr;
  const stop = new AbortController();
  const table = new ConnTable({
    handler,
    ...limits,
    authority: addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`,
    onBadRequest: () => stats.badRequests++,
    onError,
  }, stats);

  async function acceptLoop(): Promise<void> {
    let backoff = 0;
    let burst = 0;
    while (!stop.signal.aborted) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept() as Deno.TcpConn;
        backoff = 0;
      } catch (e) {
        if (stop.signal.aborted) break;
        stats.acceptErrors++;
        const code = (e as { code?: string }).code;
        let freed = 0;
        if (code === "EMFILE" || code === "ENFILE" || /os error 2[34]\)/.test(String(e))) {
          stats.fdExhausted++;
          freed = table.evict(Math.max(1, Math.ceil(table.size / 8)));
        } else onError(e);
        backoff = freed ? 0 : Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : MIN_BACKOFF_MS);
        await delay(freed ? 0 : backoff); // closed sockets release their descriptors next tick
        continue;
      }
      if (stop.signal.aborted) {
        conn.close();
        break;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // not TCP
      }
      if (table.size >= limits.maxConnections && table.evict(1) === 0) table.refuse(conn);
      else table.open(conn);
      // A burst of ready accepts would otherwise starve reads on open connections.
      if (++burst % ACCEPT_BURST === 0) await delay(0);
    }
  }

  function shutdown(): void {
    if (stop.signal.aborted) return;
    stop.abort();
    try {
      listener.close();
    } catch {
      // already closed
    }
    table.drain();
  }
  options.signal?.addEventListener("abort", shutdown, { once: true });
  if (options.signal?.aborted) shutdown();
  const finished = (async () => {
    await acceptLoop();
    await table.settled();
  })();
  options.onListen?.(addr);
  return {
    addr,
    stats,
    finished,
    shutdown() {
      shutdown();
      return finished;
    },
  };
}
