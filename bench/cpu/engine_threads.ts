/**
 * Where the CPU engine's second thread helps and where it does not: one
 * engine on one thread and one on `threads`, same weights, runs
 * alternating; every step timed (`CpuEngine.profile`), summed by label,
 * medians over the rounds. Prints JSON lines, slowest first: each label's
 * ms at 1 and N threads and the speed-up, then the totals and the
 * serial steps' share (steps run whole on the caller's thread).
 *
 *     deno run --allow-read=. bench/cpu/engine_threads.ts [arch] [size] [threads] [rounds]
 *
 * @module
 */
import { U2Net } from "../../lib/model/u2net.ts";
import { CpuEngine } from "../../lib/engines/cpu/cpu_engine.ts";

const [arch = "lite", size = "320", threads = "2", rounds = "7"] = Deno.args;
const model = U2Net.create(arch as "lite" | "full");
const s = Number(size), n = Number(threads);
const one = await CpuEngine.create(model, { height: s, width: s, threads: 1 });
const many = await CpuEngine.create(model, { height: s, width: s, threads: n });
const x = Float32Array.from({ length: s * s * 3 }, (_, i) => Math.sin(i));
const median = (v: number[]) => v.toSorted((a, b) => a - b)[v.length >> 1];
try {
  for (let w = 0; w < 2; w++) [await one.run(x), await many.run(x)];
  const runs: [Map<string, number>, Map<string, number>][] = [];
  const walls: [number[], number[]] = [[], []];
  for (let r = 0; r < Number(rounds); r++) {
    const pair = [one, many].map((e, i) => {
      const t = performance.now();
      const rows = e.profile(x);
      walls[i].push(performance.now() - t);
      return new Map(rows.map((row) => [row.label, row.ms]));
    }) as [Map<string, number>, Map<string, number>];
    runs.push(pair);
  }
  const labels = [...runs[0][0].keys()];
  const rows = labels.map((label) => {
    const a = median(runs.map((p) => p[0].get(label) ?? 0));
    const b = median(runs.map((p) => p[1].get(label) ?? 0));
    return { label, ms1: +a.toFixed(2), msN: +b.toFixed(2), speedup: +(a / b).toFixed(2) };
  }).sort((p, q) => q.ms1 - p.ms1);
  for (const row of rows) console.log(JSON.stringify(row));
  console.log(JSON.stringify({
    arch,
    size: s,
    threads: n,
    wall1: +median(walls[0]).toFixed(1),
    wallN: +median(walls[1]).toFixed(1),
    lostMs: +rows.reduce((t, r) => t + (r.msN - r.ms1 / n), 0).toFixed(1),
  }));
} finally {
  one.dispose();
  many.dispose();
  model.dispose();
}
