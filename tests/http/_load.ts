/**
 * A loopback load generator for the HTTP tests: `clients` concurrent loops
 * of `requests` POSTs each, while a poller times `GET /healthz` every 25 ms.
 *
 * @module
 */

/** What {@linkcode runLoad} measured. */
export interface LoadResult {
  /** Count per status (0: a network error). */
  statuses: Record<number, number>;
  /** 503s without a Retry-After header. */
  missingRetryAfter: number;
  /** `/healthz` latencies, in ms, sorted. */
  health: number[];
  /** Highest `queue.active + queue.waiting` that /healthz reported. */
  peakAdmitted: number;
  /** Wall time in seconds. */
  seconds: number;
}

/** The `p` quantile of sorted `xs`. */
export function quantile(xs: number[], p: number): number {
  return xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : NaN;
}

/** Runs the load against `base`; `body()` makes each request's body and headers. */
export async function runLoad(
  base: string,
  clients: number,
  requests: number,
  body: () => { body: BodyInit; headers?: Record<string, string> },
  { query = "?format=mask", retryDelayMs = 5 } = {},
): Promise<LoadResult> {
  const statuses: Record<number, number> = {};
  const health: number[] = [];
  let missingRetryAfter = 0, peakAdmitted = 0, done = false;
  const poller = (async () => {
    while (!done) {
      const t0 = performance.now();
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) });
      const h = await res.json();
      health.push(performance.now() - t0);
      peakAdmitted = Math.max(peakAdmitted, h.queue.active + h.queue.waiting);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const client = async () => {
    for (let i = 0; i < requests; i++) {
      const b = body();
      let status = 0;
      try {
        const res = await fetch(`${base}/predict${query}`, {
          signal: AbortSignal.timeout(60_000),
          method: "POST",
          body: b.body,
          headers: b.headers,
        });
        status = res.status;
        if (status === 503 && !res.headers.get("retry-after")) missingRetryAfter++;
        await res.arrayBuffer();
      } catch {
        status = 0;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 503) await new Promise((r) => setTimeout(r, retryDelayMs));
    }
  };
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: clients }, client));
  } finally {
    done = true;
    await poller;
  }
  health.sort((a, b) => a - b);
  return {
    statuses,
    missingRetryAfter,
    health,
    peakAdmitted,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** One line for the test log. */
export function describeLoad(name: string, r: LoadResult): string {
  return `${name}: ${r.seconds.toFixed(1)} s, statuses ${JSON.stringify(r.statuses)}, ` +
    `/healthz n=${r.health.length} p50 ${quantile(r.health, 0.5).toFixed(1)} ms ` +
    `p99 ${quantile(r.health, 0.99).toFixed(1)} ms max ${r.health.at(-1)?.toFixed(1)} ms, ` +
    `peak admitted ${r.peakAdmitted}`;
}
