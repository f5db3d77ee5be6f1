/**
 * A/B timing of one CpuTrainer kernel between two trees in one process
 * (alternating calls, medians), for changes to the wasm kernels:
 *
 *   deno run --allow-read=.,OTHER_TREE --allow-env=THREADS bench/cpu/kernel_ab.ts OTHER_TREE KERNEL N H W CA[+CB] CO [DIL]
 *
 * KERNEL: conv | convInputGrad | convFilterGrad. Prints each tree's median ms.
 *
 * @module
 */
import { createWasmTrainKernels } from "../../lib/engines/cpu/train_kernels_wasm.ts";
import type { ConvShape, TrainKernels } from "../../lib/engines/cpu/train_kernels.ts";

const [other, kernel, ...dims] = Deno.args;
const [cb] = dims[3].split("+").slice(1).map(Number);
const [n, h, w, ca, co, dil = 1] = dims.map((d) => parseInt(d));
const { createWasmTrainKernels: otherCreate } = await import(
  new URL(`file://${other}/lib/engines/cpu/train_kernels_wasm.ts`).href
);
const s: ConvShape = { n, h, w, ca, cb: cb ?? 0, co, k: 3, dil };
const ci = s.ca + s.cb;
const floats = n * h * w * (ci + co) * 2 + 9 * ci * co * 2 + 4096;
async function setup(create: typeof createWasmTrainKernels) {
  const k: TrainKernels = await create(floats, { threads: Number(Deno.env.get("THREADS") ?? 1) });
  const a = k.alloc(n * h * w * ca), b = k.alloc(n * h * w * s.cb), y = k.alloc(n * h * w * co);
  const wt = k.alloc(9 * ci * co), dw = k.alloc(9 * ci * co), bias = k.alloc(co), db = k.alloc(co);
  for (const x of [a, b, y, wt]) for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const run = () => {
    if (kernel === "conv") k.conv(y, a, b, wt, bias, s);
    else if (kernel === "convInputGrad") k.convInputGrad(a, b, y, wt, s);
    else k.convFilterGrad(dw, db, a, b, y, s);
  };
  return { run, k };
}
const sides = [await setup(createWasmTrainKernels), await setup(otherCreate)];
const times: number[][] = [[], []];
for (let r = 0; r < 15; r++) {
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    for (let j = 0; j < 3; j++) sides[i].run();
    times[i].push((performance.now() - t0) / 3);
  }
}
const med = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1];
console.log(JSON.stringify({ kernel, shape: s, this_ms: med(times[0]), other_ms: med(times[1]) }));
for (const x of sides) x.k.dispose?.();
