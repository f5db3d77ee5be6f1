/**
 * The open connections of `lib/http/http_server.ts`: opening (each served by
 * its own loop), eviction of idle or head-sending connections when the cap
 * or the file descriptors run out, 503 refusals, and draining on shutdown.
 *
 * @module
 */
import { ConnIo, type TimeoutKind } from "./_conn_io.ts";
import { type ConnContext, type ConnEntry, serveConnection } from "./_http1_conn.ts";
import { errorBytes } from "./_http1_write.ts";
import type { HttpServerStats } from "./http_server_stats.ts";

const MAX_REJECTING = 64;
const REFUSAL = errorBytes(503, "too many connections; retry shortly", "retry-after: 1\r\n");

/** Open connections and their serving loops. */
export class ConnTable {
  #conns = new Set<ConnEntry>();
  #tasks = new Set<Promise<void>>();
  #rejecting = 0;
  #ctx: ConnContext;
  #stats: HttpServerStats;
  #onTimeout: (kind: TimeoutKind) => void;

  /**
   * Creates an empty table.
   *
   * @param ctx What each connection loop needs.
   * @param stats The counters to update.
   */
  constructor(ctx: ConnContext, stats: HttpServerStats) {
    this.#ctx = ctx;
    this.#stats = stats;
    this.#onTimeout = (kind) => {
      if (kind !== "linger") stats[`${kind}Timeouts`]++;
    };
  }

  /** Connections open. */
  get size(): number {
    return this.#conns.size;
  }

  /** Serves `conn` until it closes. */
  open(conn: Deno.Conn): void {
    const entry: ConnEntry = {
      io: new ConnIo(conn, this.#onTimeout),
      phase: "head",
      since: performance.now(),
      draining: false,
      served: 0,
    };
    const stats = this.#stats;
    this.#conns.add(entry);
    stats.accepted++;
    stats.open = this.#conns.size;
    stats.peakOpen = Math.max(stats.peakOpen, this.#conns.size);
    this.#track(
      serveConnection(entry, this.#ctx).finally(() => {
        this.#conns.delete(entry);
        stats.open = this.#conns.size;
      }),
    );
  }

  /**
   * Closes up to `n` evictable connections: lingering ones first, then those
   * that never completed a request (slowloris), then kept-alive ones (real
   * clients, who may race a request against the close), longest first.
   * Connections running a request are never evicted.
   */
  evict(n: number): number {
    const rank = (c: ConnEntry) =>
      c.phase === "closing" ? c.since - 2e12 : c.served === 0 ? c.since - 1e12 : c.since;
    let victims: ConnEntry[] = [];
    if (n === 1) {
      let best: ConnEntry | undefined;
      for (const c of this.#conns) {
        if (c.phase !== "active" && !c.io.closed && (!best || rank(c) < rank(best))) best = c;
      }
      if (best) victims = [best];
    } else {
      victims = [...this.#conns].filter((c) => c.phase !== "active" && !c.io.closed)
        .sort((a, b) => rank(a) - rank(b)).slice(0, n);
    }
    for (const c of victims) {
      this.#conns.delete(c);
      c.io.close();
    }
    this.#stats.evicted += victims.length;
    this.#stats.open = this.#conns.size;
    return victims.length;
  }

  /** Answers `conn` 503 with Retry-After and closes it (at most 64 at once; beyond, just closes). */
  refuse(conn: Deno.Conn): void {
    this.#stats.rejected++;
    if (this.#rejecting >= MAX_REJECTING) return conn.close();
    this.#rejecting++;
    const io = new ConnIo(conn, () => {});
    this.#track((async () => {
      try {
        await io.write(REFUSAL, 1000);
        await io.lingerClose(500);
      } catch {
        io.close();
      } finally {
        this.#rejecting--;
      }
    })());
  }

  /** Closes idle connections now; the others close after their current answer. */
  drain(): void {
    for (const c of this.#conns) {
      c.draining = true;
      if (c.phase !== "active") c.io.close();
    }
  }

  /** Resolves when every connection loop has ended. */
  async settled(): Promise<void> {
    while (this.#tasks.size) await Promise.all([...this.#tasks]);
  }

  #track(p: Promise<void>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }
}
