/**
 * Time per kernel of one CpuTrainer step (lite, fresh weights): wraps every
 * wasm kernel call with a timer, runs one warm-up step and three timed ones,
 * and prints the step time and each kernel's share (the BENCHMARKS.md profile).
 * With `SHAPES=1` in the environment, convs are keyed by shape too;
 * `ARCH=full` profiles the full network (default lite).
 *
 *   deno run --allow-read=. --allow-env=SHAPES,ARCH bench/cpu/train_profile.ts BATCH SIZE THREADS
 *
 * @module
 */
import { createWasmTrainKernels } from "../../lib/engines/cpu/train_kernels_wasm.ts";
import { shapeLabel, timedKernels } from "./_timed_kernels.ts";
import { benchBatch, benchTrainer } from "./_bench_trainer.ts";
import { selectBackend } from "../../lib/backend.ts";
await selectBackend("cpu");
const [n, s, threads] = Deno.args.map(Number);
const byShape = Deno.env.get("SHAPES") === "1";
if (![n, s, threads].every((v) => Number.isInteger(v) && v > 0)) {
  throw new RangeError(
    `Cannot profile: current arguments are ${Deno.args.join(" ")} (BATCH SIZE THREADS)`,
  );
}
const arch = Deno.env.get("ARCH") === "full" ? "full" : "lite";
const inner = await createWasmTrainKernels(3 * 2 ** 28, { threads });
const { kernels: k, times } = timedKernels(inner, (name, sh) => {
  if (!sh) return name;
  const kind = sh.k === 1 ? "_1x1" : sh.co === 1 ? "_co1" : "";
  return byShape ? `${name}${kind} ${shapeLabel(sh)}` : name + kind;
});
const { trainer: t, dispose } = await benchTrainer(arch, [n, s], k);
const { x, y } = benchBatch(n, s);
await t.step(x, y);
times.clear();
const t0 = performance.now();
for (let i = 0; i < 3; i++) await t.step(x, y);
const total = (performance.now() - t0) / 3;
let sum = 0;
const rows = [...times].map(([k, v]) => [k, v / 3] as const).sort((a, b) => b[1] - a[1]);
for (const [, v] of rows) sum += v;
console.log(
  `step ${total.toFixed(0)} ms, kernels ${sum.toFixed(0)} ms, other ${(total - sum).toFixed(0)} ms`,
);
for (const [k, v] of rows) {
  console.log(k.padEnd(20), v.toFixed(1), (100 * v / total).toFixed(1) + "%");
}
dispose();
