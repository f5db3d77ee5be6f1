/**
 * A/B timing of whole CpuTrainer steps with this tree's wasm kernels and
 * another tree's (the model, optimizer and trainer are this tree's; only
 * `createWasmTrainKernels` comes from OTHER_TREE), steps alternating in one
 * process, so that a slow period of the machine hits both; prints each side's
 * median and runs, and old / new:
 *
 *   deno run --allow-read=.,OTHER_TREE bench/cpu/step_ab.ts OTHER_TREE ARCH BATCH SIZE THREADS [ROUNDS]
 *
 * @module
 */
import { selectBackend } from "../../lib/backend.ts";
import { createWasmTrainKernels } from "../../lib/engines/cpu/train_kernels_wasm.ts";
import { benchBatch, benchTrainer } from "./_bench_trainer.ts";

await selectBackend("cpu");
const [other, archArg, ...rest] = Deno.args;
const [n, s, threads, rounds = 5] = rest.map(Number);
if (
  !other || (archArg !== "lite" && archArg !== "full") ||
  ![n, s, threads, rounds].every((v) => Number.isInteger(v) && v > 0)
) {
  throw new RangeError(
    `Cannot time: current arguments are ${Deno.args.join(" ")} ` +
      "(OTHER_TREE lite|full BATCH SIZE THREADS [ROUNDS])",
  );
}
const arch: "lite" | "full" = archArg;
const { createWasmTrainKernels: otherCreate } = await import(
  new URL(`file://${other}/lib/engines/cpu/train_kernels_wasm.ts`).href
);
const { x, y } = benchBatch(n, s);

/** One side: a fresh model and trainer on the kernels `create` makes. */
async function side(create: typeof createWasmTrainKernels) {
  const { trainer, dispose } = await benchTrainer(
    arch,
    [n, s],
    await create(3 * 2 ** 28, { threads }),
  );
  await trainer.step(x, y);
  return { trainer, ms: [] as number[], dispose };
}

const sides = [await side(createWasmTrainKernels), await side(otherCreate)];
try {
  for (let r = 0; r < rounds; r++) {
    for (const e of sides) {
      const t0 = performance.now();
      await e.trainer.step(x, y);
      e.ms.push(performance.now() - t0);
    }
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
  const [mine, theirs] = sides;
  console.log(JSON.stringify({
    workload: `train_${arch}_b${n}_${s}`,
    threads,
    this_ms: Math.round(med(mine.ms)),
    other_ms: Math.round(med(theirs.ms)),
    other_over_this: Number((med(theirs.ms) / med(mine.ms)).toFixed(3)),
    this_runs: mine.ms.map(Math.round),
    other_runs: theirs.ms.map(Math.round),
  }));
} finally {
  for (const e of sides) e.dispose();
}
