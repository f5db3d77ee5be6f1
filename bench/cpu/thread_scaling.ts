/**
 * How each CpuTrainer kernel scales from one thread to more: two trainers in
 * one process (1 and THREADS threads, fresh weights, the same batch), steps
 * alternating, every wasm kernel call timed and keyed by kernel and conv
 * shape; prints both sides' step times, then each key's ms a step at one
 * thread and at THREADS, and their ratio, slowest first. The kernels that
 * scale worst are where a split loses.
 *
 *   deno run --allow-read=. --allow-env=ARCH,TOP bench/cpu/thread_scaling.ts BATCH SIZE [THREADS] [ROUNDS]
 *
 * `ARCH=full` for the full network (default lite), `TOP=n` rows (default 30).
 *
 * @module
 */
import { createWasmTrainKernels } from "../../lib/engines/cpu/train_kernels_wasm.ts";
import { shapeLabel, timedKernels } from "./_timed_kernels.ts";
import { benchBatch, benchTrainer } from "./_bench_trainer.ts";
import { selectBackend } from "../../lib/backend.ts";

await selectBackend("cpu");
const [n, s, threads = 2, rounds = 4] = Deno.args.map(Number);
if (![n, s, threads, rounds].every((v) => Number.isInteger(v) && v > 0)) {
  throw new RangeError(
    `Cannot time: current arguments are ${Deno.args.join(" ")} (BATCH SIZE [THREADS] [ROUNDS])`,
  );
}
const arch = Deno.env.get("ARCH") === "full" ? "full" : "lite";
const top = Number(Deno.env.get("TOP") ?? 30);

/** A trainer whose kernels add their time under `times`. */
async function timed(t: number) {
  const inner = await createWasmTrainKernels(3 * 2 ** 28, { threads: t });
  const { kernels, times } = timedKernels(
    inner,
    (name, sh) => sh ? `${name} ${shapeLabel(sh)}` : name,
  );
  const { trainer, dispose } = await benchTrainer(arch, [n, s], kernels);
  return { trainer, times, steps: [] as number[], dispose };
}

const sides = [await timed(1), await timed(threads)];
const { x, y } = benchBatch(n, s);
try {
  for (const side of sides) await side.trainer.step(x, y);
  for (const side of sides) side.times.clear();
  for (let r = 0; r < rounds; r++) {
    for (const side of sides) {
      const t0 = performance.now();
      await side.trainer.step(x, y);
      side.steps.push(performance.now() - t0);
    }
  }
  const [one, many] = sides;
  const fmt = (a: number[]) => a.map((v) => v.toFixed(0)).join(" ");
  console.log(
    `${arch} b${n}@${s}: steps 1 thread ${fmt(one.steps)} | ${threads} ${fmt(many.steps)}`,
  );
  let s1 = 0, s2 = 0;
  for (const [key, v] of one.times) (s1 += v), (s2 += many.times.get(key) ?? 0);
  console.log(
    `all kernels ${(s1 / rounds).toFixed(0)} ${(s2 / rounds).toFixed(0)} ms, ${
      (s1 / s2).toFixed(2)
    }x`,
  );
  const rows = [...one.times].sort((p, q) => q[1] - p[1]).slice(0, top);
  for (const [key, v] of rows) {
    const w = many.times.get(key) ?? 0;
    const cells = [(v / rounds).toFixed(1), (w / rounds).toFixed(1)].map((c) => c.padStart(8));
    console.log(key.padEnd(44), ...cells, `${(v / w).toFixed(2)}x`);
  }
} finally {
  for (const side of sides) side.dispose();
}
