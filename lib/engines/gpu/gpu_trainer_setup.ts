/**
 * GPU setup of the recorded training step (`gpu_trainer.ts`) on the shared
 * runtime (`gpu_runtime.ts`): the device's limits, the planned buffers, one
 * pipeline per distinct shader (explicit layouts: the output as read-write
 * storage, the inputs read-only, the uniforms last), one bind group and
 * uniform buffer per dispatch, and the first upload of parameters, running
 * statistics and moments.
 *
 * @module
 */
import type { U2Net } from "../../model/u2net.ts";
import type { AdamWState } from "../../optim/adamw_types.ts";
import type { TrainDispatch, TrainPlan } from "./trainer_plan.ts";
import { type GpuDispatch, GpuRuntime, type GpuRuntimeOptions } from "./gpu_runtime.ts";
import { planUpdate, updateBuffers } from "./_gpu_trainer_update.ts";

export { readBuffer } from "./gpu_runtime.ts";

const up = (v: number, a: number) => Math.ceil(v / a) * a;

/** A runtime on `device`, or on its own device with the adapter's buffer limits and 8 storage buffers per stage. */
export async function trainerRuntime(device?: GPUDevice): Promise<GpuRuntime> {
  const limits: GpuRuntimeOptions["limits"] = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxStorageBuffersPerShaderStage",
  ];
  return await GpuRuntime.create({ device, who: "GpuTrainer", limits });
}

/**
 * Throws a RangeError when the plan, with the trainer's update phase and
 * buffers (`_gpu_trainer_update.ts`), exceeds the device: its largest
 * storage binding, its largest buffer, or a dispatch's workgroups per
 * dimension (a batch of 16 at 512x512 needs 65,536 conv workgroups along one).
 */
export function checkFits(device: GPUDevice, plan: TrainPlan): void {
  const all = [...plan.steps, ...planUpdate(plan)];
  const binding = 4 * Math.max(...all.flatMap((d) => d.bindings.map((b) => b.len)));
  const buffer = 4 * Math.max(...updateBuffers(plan).values());
  const groups = Math.max(...all.flatMap((d) => d.workgroups));
  for (
    const [what, value, limit] of [
      ["largest binding", binding, device.limits.maxStorageBufferBindingSize],
      ["largest buffer", buffer, device.limits.maxBufferSize],
      ["most workgroups in one dimension", groups, device.limits.maxComputeWorkgroupsPerDimension],
    ] as const
  ) {
    if (value > limit) {
      throw new RangeError(
        `Cannot create GpuTrainer: current ${what} is ${value}, over the device's ${limit} (use a smaller batch or crop)`,
      );
    }
  }
}

/** Creates every planned buffer (sizes rounded up to 16 bytes). */
export function createBuffers(rt: GpuRuntime, plan: TrainPlan): Map<string, GPUBuffer> {
  const out = new Map<string, GPUBuffer>();
  for (const [id, len] of plan.buffers) out.set(id, rt.storage(up(Math.max(4 * len, 16), 16), id));
  return out;
}

/** A bound dispatch with its uniform buffer. */
export type BoundDispatch = GpuDispatch & { uniform: GPUBuffer };

/** Pipelines, uniform buffers and bind groups of a dispatch list. */
export function bindAll(
  rt: GpuRuntime,
  list: TrainDispatch[],
  buffers: Map<string, GPUBuffer>,
): BoundDispatch[] {
  return list.map((d) => {
    const bindings: GPUBufferBindingType[] = d.bindings.map((_, i) =>
      i === 0 || d.writable?.includes(i) ? "storage" : "read-only-storage"
    );
    bindings.push("uniform");
    const { pipeline, layout } = rt.pipeline(d.code, { entry: d.entry, label: d.label, bindings });
    const uniform = rt.uniform(d.uniform);
    const resources: GPUBufferBinding[] = d.bindings.map((s) => {
      const buffer = buffers.get(s.buf);
      if (!buffer) {
        throw new RangeError(`Cannot bind ${d.label}: current value lacks buffer ${s.buf}`);
      }
      const size = Math.min(up(Math.max(4 * s.len, 16), 16), buffer.size - 4 * s.off);
      return { buffer, offset: 4 * s.off, size };
    });
    resources.push({ buffer: uniform });
    const group = rt.bindGroup(layout, resources);
    return { label: d.label, workgroups: d.workgroups, pipeline, group, uniform };
  });
}

/** Uploads the model's parameters and running statistics and the optimizer's moments. */
export async function uploadStart(
  rt: GpuRuntime,
  plan: TrainPlan,
  buffers: Map<string, GPUBuffer>,
  model: U2Net,
  state: AdamWState,
): Promise<void> {
  const flat = new Float32Array(plan.buffers.get("params")!);
  const named = new Map(model.namedParameters());
  for (const [key, slot] of plan.params) {
    flat.set(await named.get(key)!.data() as Float32Array, slot.off);
  }
  rt.write(buffers.get("params")!, flat);
  const running = new Float32Array(plan.buffers.get("state")!);
  const stats = new Map(model.namedBuffers());
  for (const [name, { off, channels }] of plan.state) {
    running.set(await stats.get(`${name}.bn.running_mean`)!.data() as Float32Array, off);
    running.set(await stats.get(`${name}.bn.running_var`)!.data() as Float32Array, off + channels);
  }
  rt.write(buffers.get("state")!, running);
  plan.chunks.forEach((c, i) => {
    const mv = new Float32Array(2 * c.len);
    for (const [key, slot] of plan.params) {
      const s = state.params[key];
      if (slot.chunk !== i || !s) continue;
      mv.set(s.expAvg, slot.off - c.off);
      mv.set(s.expAvgSq, c.len + slot.off - c.off);
    }
    rt.write(buffers.get(`mv${i}`)!, mv);
  });
  await rt.device.queue.onSubmittedWorkDone();
}
