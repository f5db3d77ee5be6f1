/**
 * A/B timing of one CpuTrainer kernel between two trees in one process
 * (alternating calls, medians), for changes to the wasm kernels:
 *
 *   deno run --allow-read=.,OTHER_TREE --allow-env=THREADS bench/cpu/kernel_ab.ts OTHER_TREE KERNEL N H W CA[+CB] CO [DIL]
 *
 * KERNEL: conv | convInputGrad | convFilterGrad, or bnReluForward | bnReluBackward with
 * `N H W C`. Prints each tree's median ms and whether both wrote the same bits.
 *
 * @module
 */
import { createWasmTrainKernels } from "../../lib/engines/cpu/train_kernels_wasm.ts";
import type { ConvShape, TrainKernels } from "../../lib/engines/cpu/train_kernels.ts";

const [other, kernel, ...dims] = Deno.args;
const [cb] = (dims[3] ?? "").split("+").slice(1).map(Number);
const [n, h, w, ca, co, dil = 1] = dims.map((d) => parseInt(d));
const { createWasmTrainKernels: otherCreate } = await import(
  new URL(`file://${other}/lib/engines/cpu/train_kernels_wasm.ts`).href
);
const bn = kernel.startsWith("bn");
const s: ConvShape = { n, h, w, ca, cb: cb ?? 0, co: bn ? ca : co, k: 3, dil };
const ci = s.ca + s.cb;
const floats = n * h * w * (ci + s.co) * 4 + 9 * ci * s.co * 2 + 4096;
async function setup(create: typeof createWasmTrainKernels) {
  const k: TrainKernels = await create(floats, { threads: Number(Deno.env.get("THREADS") ?? 1) });
  const a = k.alloc(n * h * w * ca), b = k.alloc(n * h * w * s.cb), y = k.alloc(n * h * w * s.co);
  const wt = k.alloc(9 * ci * s.co), dw = k.alloc(9 * ci * s.co), bias = k.alloc(s.co);
  const db = k.alloc(s.co), dy = k.alloc(n * h * w * s.co), dx = k.alloc(n * h * w * s.co);
  const stats = { mean: k.alloc(s.co), invstd: k.alloc(s.co), varUnbiased: k.alloc(s.co) };
  for (const x of [a, b, y, wt, dy, bias]) {
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  }
  // BatchNorm: gamma = bias, beta = db; dgamma and dbeta into dw's first 2·C values.
  const p = n * h * w, c = s.co, [dgamma, dbeta] = [dw.subarray(0, c), dw.subarray(c, 2 * c)];
  if (kernel === "bnReluBackward") k.bnReluForward(y, a, bias, db, stats, p, c, 1e-5);
  const run = () => {
    if (kernel === "conv") k.conv(y, a, b, wt, bias, s);
    else if (kernel === "convInputGrad") k.convInputGrad(a, b, y, wt, s);
    else if (kernel === "convFilterGrad") k.convFilterGrad(dw, db, a, b, y, s);
    else if (kernel === "bnReluForward") k.bnReluForward(y, a, bias, db, stats, p, c, 1e-5);
    else k.bnReluBackward(dx, dgamma, dbeta, dy, a, y, bias, stats.mean, stats.invstd, p, c);
  };
  // What the kernel writes (for the bit comparison).
  const outs = () =>
    kernel === "conv" || kernel === "bnReluForward"
      ? [y, stats.mean, stats.invstd]
      : kernel === "convInputGrad"
      ? [a, b]
      : kernel === "convFilterGrad"
      ? [dw, db]
      : [dx, dw.subarray(0, 2 * c)];
  return { run, k, outs };
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
const [mine, theirs] = sides.map((x) => x.outs());
const same = mine.every((m, i) => m.every((v, j) => Object.is(v, theirs[i][j])));
console.log(
  JSON.stringify({ kernel, shape: s, this_ms: med(times[0]), other_ms: med(times[1]), same }),
);
for (const x of sides) x.k.dispose?.();
