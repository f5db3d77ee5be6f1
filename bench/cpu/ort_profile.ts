/**
 * onnxruntime's time per node for one image, grouped like
 * `bench/profile.ts --cpu-engine` groups ours (by operator, and by operator
 * + shapes), so that the two can be read side by side: where onnxruntime is
 * faster, layer by layer (issue 18). Runs `--runs` timed inferences after
 * `--warmup`, with onnxruntime's own profiler on, and averages the timed
 * runs' node times.
 *
 *     deno run --lock=deno.dev.lock --allow-read=.,$HOME/.cache/deno/npm/registry.npmjs.org --allow-write=./.tmp \
 *       --allow-ffi=$HOME/.cache/deno/npm/registry.npmjs.org/onnxruntime-node \
 *       --allow-sys=cpus bench/cpu/ort_profile.ts --models lite --threads 1
 *
 * onnxruntime writes its trace through its own file calls (outside Deno's
 * permissions) to `./.tmp/ort_profile_<arch>_<time>_*.json` (git-ignored), which
 * this reads.
 *
 * @module
 */
import { parseArgs } from "node:util";
// deno-lint-ignore no-import-prefix -- bench-only; lib/deps.ts names the library's packages
import * as ort from "npm:onnxruntime-node@1.30.0";
import { exportOnnx } from "../../lib/engines/onnx/onnx_export.ts";
import { foldedModel, machineName, modelList } from "../common.ts";
import { groupTrace } from "./ort_trace.ts";

/** Prints one JSON line (the profile rows are not timing records). */
const emit = (row: Record<string, unknown>) => console.log(JSON.stringify(row));

/** Defaults, printed by --help. */
export const ORT_PROFILE_DEFAULTS = {
  models: "lite",
  size: 320,
  threads: 1,
  runs: 3,
  warmup: 2,
  top: 25,
} as const;

/** Runs the profile with command-line `args`; prints JSON lines. */
export async function main(args: string[]): Promise<void> {
  const d = ORT_PROFILE_DEFAULTS;
  const { values } = parseArgs({
    args,
    options: {
      models: { type: "string", default: d.models },
      size: { type: "string", default: String(d.size) },
      threads: { type: "string", default: String(d.threads) },
      runs: { type: "string", default: String(d.runs) },
      warmup: { type: "string", default: String(d.warmup) },
      top: { type: "string", default: String(d.top) },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`ort_profile: onnxruntime's time per node (by op, by op + shapes)
defaults: ${JSON.stringify(d)}`);
    return;
  }
  const [size, threads, runs, warmup, top] = [
    values.size,
    values.threads,
    values.runs,
    values.warmup,
    values.top,
  ].map(Number);
  await Deno.mkdir("./.tmp", { recursive: true });
  for (const arch of modelList(values.models)) {
    const model = await foldedModel(arch);
    const onnx = await exportOnnx(model);
    model.dispose();
    const prefix = `ort_profile_${arch}_${Date.now()}`;
    const session = await ort.InferenceSession.create(onnx, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      enableProfiling: true,
      profileFilePrefix: `./.tmp/${prefix}`,
    });
    const x = new Float32Array(3 * size * size).map((_, i) => Math.sin(i) * 2);
    const feed = { input: new ort.Tensor("float32", x, [1, 3, size, size]) };
    for (let i = 0; i < warmup + runs; i++) await session.run(feed);
    // onnxruntime-node's endProfiling() does not return the file's name: find it by its prefix.
    (session as unknown as { endProfiling(): void }).endProfiling();
    await session.release();
    const file = [...Deno.readDirSync("./.tmp")].find((e) => e.name.startsWith(prefix));
    if (!file) throw new Error(`Cannot read onnxruntime's profile: no ./.tmp/${prefix}*`);
    const g = groupTrace(JSON.parse(await Deno.readTextFile(`./.tmp/${file.name}`)), runs);
    const profile = `infer_ort_${arch}_b1_${size}`;
    const total = g.ops.reduce((s, [, , ms]) => s + ms, 0);
    const row = (group: string) => ([name, count, ms]: [string, number, number]) =>
      emit({
        profile,
        group,
        name,
        count,
        ms: Number(ms.toFixed(3)),
        share: +(ms / total).toFixed(4),
      });
    g.ops.forEach(row("kernel"));
    g.shapes.slice(0, top).forEach(row("kernel+shape"));
    emit({
      profile,
      group: "total",
      run_ms: g.runMs.map((ms) => Number(ms.toFixed(1))),
      sum_ms: Number(total.toFixed(2)),
      threads,
      machine: machineName(),
      ort_version: ort.env.versions.common,
    });
  }
}

if (import.meta.main) await main(Deno.args);
