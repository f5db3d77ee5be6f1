/**
 * Forward benchmark: eval-mode inference of lite and full at 320x320, warm,
 * with `await data()` inside the timed region. Prints one JSON line per
 * workload with the backend and adapter it ran on.
 *
 * deno task bench [--backend auto|webgpu|cpu|wasm] [--models lite,full]
 *                 [--size 320] [--batch 1] [--runs 5] [--warmup 1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../lib/deps.ts";
import { type BackendName, selectBackend } from "../lib/backend.ts";
import { type ArchName, U2Net } from "../lib/model/mod.ts";

/** Defaults of the benchmark, printed by --help. */
export const FORWARD_BENCH_DEFAULTS = {
  backend: "auto",
  models: "lite,full",
  size: 320,
  batch: 1,
  runs: 5,
  warmup: 1,
} as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Times `runs` warm eval-mode forwards of one model; returns ms per batch. */
export async function benchForward(
  arch: ArchName,
  options: { size: number; batch: number; runs: number; warmup: number },
): Promise<number[]> {
  const model = U2Net.create(arch).eval();
  const x = tf.randomUniform([options.batch, options.size, options.size, 3], -2, 2) as tf.Tensor4D;
  const times: number[] = [];
  try {
    for (let i = 0; i < options.warmup + options.runs; i++) {
      const t0 = performance.now();
      const y = model.predict(x);
      await y.data();
      const ms = performance.now() - t0;
      y.dispose();
      if (i >= options.warmup) times.push(ms);
    }
  } finally {
    x.dispose();
    model.dispose();
  }
  return times;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backend: { type: "string", default: FORWARD_BENCH_DEFAULTS.backend },
      models: { type: "string", default: FORWARD_BENCH_DEFAULTS.models },
      size: { type: "string", default: String(FORWARD_BENCH_DEFAULTS.size) },
      batch: { type: "string", default: String(FORWARD_BENCH_DEFAULTS.batch) },
      runs: { type: "string", default: String(FORWARD_BENCH_DEFAULTS.runs) },
      warmup: { type: "string", default: String(FORWARD_BENCH_DEFAULTS.warmup) },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`forward_bench: eval-mode U2-Net inference timing\ndefaults: ${
      JSON.stringify(FORWARD_BENCH_DEFAULTS)
    }`);
  } else {
    const info = await selectBackend(values.backend as BackendName);
    const opts = {
      size: Number(values.size),
      batch: Number(values.batch),
      runs: Number(values.runs),
      warmup: Number(values.warmup),
    };
    for (const arch of values.models.split(",") as ArchName[]) {
      const times = await benchForward(arch, opts);
      console.log(JSON.stringify({
        workload: `forward_${arch}_b${opts.batch}_${opts.size}`,
        backend: info.backend,
        adapter: info.adapter ?? null,
        machine: `${Deno.build.os}-${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
        median_ms: Number(median(times).toFixed(2)),
        ms_per_image: Number((median(times) / opts.batch).toFixed(2)),
        runs: times.map((t) => Number(t.toFixed(1))),
      }));
    }
  }
}
