/**
 * The CPU training benchmarks' common setup: a fresh network (seed 1) with
 * AdamW (lr 1e-3) over the seed's groups in a CpuTrainer on given kernels,
 * and one fixed batch.
 *
 * @module
 */
import { U2Net } from "../../lib/model/u2net.ts";
import { AdamW } from "../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../lib/optim/params_groups.ts";
import { CpuTrainer } from "../../lib/engines/cpu/cpu_trainer.ts";
import type { TrainKernels } from "../../lib/engines/cpu/train_kernels.ts";

/** A CpuTrainer for `arch` at batch `n` of `s` x `s` on `kernels`, and what frees it. */
export async function benchTrainer(
  arch: "lite" | "full",
  [n, s]: [number, number],
  kernels: TrainKernels,
): Promise<{ trainer: CpuTrainer; dispose: () => void }> {
  const model = U2Net.create(arch, { seed: 1 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const trainer = await CpuTrainer.create({ model, optimizer }, {
    batch: n,
    height: s,
    width: s,
    kernels,
  });
  const dispose = () => {
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
  };
  return { trainer, dispose };
}

/** The benchmarks' batch: n images of s x s (NHWC) and their masks. */
export function benchBatch(n: number, s: number): { x: Float32Array; y: Float32Array } {
  return {
    x: new Float32Array(n * s * s * 3).map((_, i) => Math.sin(i)),
    y: new Float32Array(n * s * s).map((_, i) => (i % 7) > 3 ? 1 : 0),
  };
}
