/**
 * Groups the node times of an onnxruntime profile (Chrome trace format, as
 * written with `enableProfiling`) by operator and by operator + shapes; used
 * by `ort_profile.ts`.
 *
 * @module
 */

/** One event of onnxruntime's trace (Chrome trace format). */
export interface TraceEvent {
  cat?: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; input_type_shape?: unknown[]; output_type_shape?: unknown[] };
}

/** A node's input and output shapes, e.g. `1x64x320x320, 16x64x3x3, 16 > 1x16x320x320`. */
function shapesOf(e: TraceEvent): string {
  const dims = (xs: unknown[] | undefined) =>
    (xs ?? []).map((x) => Object.values(x as Record<string, number[]>)[0].join("x"));
  return `${dims(e.args?.input_type_shape).join(", ")} > ${dims(e.args?.output_type_shape)[0]}`;
}

/**
 * Node times (ms per run) of the trace's last `timedRuns` runs, by `op` and
 * by `op shapes`, as `[name, count per run, ms per run]`, slowest first; and
 * each timed run's time.
 *
 * @example
 * ```ts
 * import { groupTrace } from "./ort_trace.ts";
 * console.log(groupTrace([{ name: "model_run", ts: 0, dur: 5 }], 1).runMs); // [0.005]
 * ```
 */
export function groupTrace(events: TraceEvent[], timedRuns: number): {
  ops: [string, number, number][];
  shapes: [string, number, number][];
  runMs: number[];
} {
  const runs = events.filter((e) => e.name === "model_run");
  const from = runs[runs.length - timedRuns].ts;
  const nodes = events.filter((e) =>
    e.cat === "Node" && e.name.endsWith("_kernel_time") && e.ts >= from
  );
  const group = (key: (e: TraceEvent) => string) => {
    const by = new Map<string, [number, number]>();
    for (const e of nodes) {
      const k = key(e), [n, us] = by.get(k) ?? [0, 0];
      by.set(k, [n + 1, us + e.dur]);
    }
    return [...by].map(([k, [n, us]]): [string, number, number] => [
      k,
      n / timedRuns,
      us / timedRuns / 1000,
    ]).sort((a, b) => b[2] - a[2]);
  };
  return {
    ops: group((e) => e.args?.op_name ?? "?"),
    shapes: group((e) => `${e.args?.op_name} ${shapesOf(e)}`),
    runMs: runs.slice(-timedRuns).map((r) => r.dur / 1000),
  };
}
