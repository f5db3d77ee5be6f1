/**
 * One entry for the GPU machine's bundle (`deno bundle` of this file): the
 * first argument picks the benchmark, the rest are its flags.
 *
 *   deno run --allow-read=. --allow-env --allow-sys=cpus bench.js forward --backend webgpu --models lite --batches 1
 *   deno run --allow-read=. --allow-env --allow-sys=cpus bench.js train   --backend webgpu --models lite --batches 8
 *   deno run --allow-read=. --allow-env --allow-sys=cpus bench.js profile --backend webgpu --models lite
 *
 * @module
 */
import { main as forward } from "../forward_bench.ts";
import { main as train } from "../train_bench.ts";
import { main as profile } from "../profile.ts";
import { main as host } from "../host_overhead.ts";
import { main as gemm } from "../gemm_bench.ts";
import { main as coop } from "../coop_gemm_bench.ts";
import { main as converge } from "../gpu_converge.ts";

/** The benchmarks the bundle can run. */
export const GPU_ENTRIES: Record<string, (args: string[]) => Promise<void>> = {
  forward,
  train,
  profile,
  host,
  gemm,
  coop,
  converge,
};

if (import.meta.main) {
  const [cmd, ...rest] = Deno.args;
  const run = GPU_ENTRIES[cmd ?? ""];
  if (!run) {
    console.error(
      `Cannot run: current value is "${cmd}", expected one of ${Object.keys(GPU_ENTRIES)}`,
    );
    Deno.exit(2);
  }
  await run(rest);
}
