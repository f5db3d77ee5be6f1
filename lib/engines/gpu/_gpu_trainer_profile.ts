/**
 * The profile of the recorded training step (`gpu_trainer.ts`,
 * `GpuTrainer.profileDispatches` and `GpuTrainer.summary`): one step's
 * dispatches replayed and timed one by one, with the state the in-place
 * update changes copied aside and put back, and the dispatch labels
 * counted.
 *
 * @module
 */
import type { TrainDispatch } from "./trainer_plan.ts";
import type { GpuRuntime } from "./gpu_runtime.ts";
import { GUARD_BUFFER } from "./_gpu_trainer_update.ts";
import type { TrainerGpu } from "./_gpu_trainer_state.ts";

/**
 * Copies `names`' buffers aside and returns what puts them back (and frees
 * the copies): a profile's replay of the in-place update must not change
 * the trainer's state.
 */
export async function snapshot(
  rt: GpuRuntime,
  buffers: Map<string, GPUBuffer>,
  names: readonly string[],
): Promise<() => Promise<void>> {
  const { device } = rt;
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const saved = names.map((id) => {
    const from = buffers.get(id)!;
    return { from, copy: device.createBuffer({ size: from.size, usage }) };
  });
  const copyAll = (back: boolean) => {
    const encoder = device.createCommandEncoder();
    for (const { from, copy } of saved) {
      const [a, b] = back ? [copy, from] : [from, copy];
      encoder.copyBufferToBuffer(a, 0, b, 0, from.size);
    }
    device.queue.submit([encoder.finish()]);
  };
  copyAll(false);
  await device.queue.onSubmittedWorkDone();
  return async () => {
    copyAll(true);
    await device.queue.onSubmittedWorkDone();
    for (const { copy } of saved) copy.destroy();
  };
}

/**
 * Times every dispatch of a step with `GpuRuntime.time`, then puts back
 * what the replay changed (parameters, running statistics, the latch, the
 * moments): one row per dispatch in step order, its label, workgroups and
 * storage bindings' sizes (floats).
 */
export async function timeDispatches(
  gpu: TrainerGpu,
): Promise<{ label: string; workgroups: number[]; sizes: number[]; ms: number }[]> {
  const { rt, plan, buffers } = gpu;
  const dispatches = gpu.dispatches;
  // The update runs in place: what the replay changes is put back after it.
  const kept = ["params", "state", GUARD_BUFFER, ...plan.chunks.map((_, i) => `mv${i}`)];
  const restore = await snapshot(rt, buffers, kept);
  let ms: number[];
  try {
    ms = await rt.time(gpu.bound);
  } finally {
    await restore();
  }
  return dispatches.map((d, i) => ({
    label: d.label,
    workgroups: [...d.workgroups],
    sizes: d.bindings.map((b) => b.len),
    ms: ms[i],
  }));
}

/** The dispatches' labels with their counts. */
export function countLabels(dispatches: readonly TrainDispatch[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of dispatches) out[d.label] = (out[d.label] ?? 0) + 1;
  return out;
}
