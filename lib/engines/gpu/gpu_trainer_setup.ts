/**
 * GPU setup of the recorded training step (`gpu_trainer.ts`): the device,
 * the planned buffers, one pipeline per distinct shader (explicit layouts:
 * the output as read-write storage, the inputs read-only, the uniforms
 * last), one bind group and uniform buffer per dispatch, the first upload
 * of parameters, running statistics and moments, and buffer read-backs.
 *
 * @module
 */
import type { U2Net } from "../../model/u2net.ts";
import type { AdamWState } from "../../optim/adamw_types.ts";
import type { TrainDispatch, TrainPlan } from "./trainer_plan.ts";

const up = (v: number, a: number) => Math.ceil(v / a) * a;

/** A device with the adapter's buffer limits and 8 storage buffers per stage. */
export async function requestTrainerDevice(): Promise<GPUDevice> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new TypeError("Cannot create GpuTrainer: current value is no WebGPU adapter");
  const { maxStorageBufferBindingSize, maxBufferSize, maxStorageBuffersPerShaderStage } =
    adapter.limits;
  // Timestamp queries, where offered, let `profile()` time each dispatch on the GPU.
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query")
    ? ["timestamp-query"]
    : [];
  return await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: { maxStorageBufferBindingSize, maxBufferSize, maxStorageBuffersPerShaderStage },
  });
}

/**
 * Throws a RangeError when the plan exceeds the device: its largest storage
 * binding, its largest buffer, or a dispatch's workgroups per dimension (a
 * batch of 16 at 512x512 needs 65,536 conv workgroups along one).
 */
export function checkFits(device: GPUDevice, plan: TrainPlan): void {
  const all = [...plan.steps, ...plan.optimizer];
  const binding = 4 * Math.max(...all.flatMap((d) => d.bindings.map((b) => b.len)));
  const buffer = 4 * Math.max(...plan.buffers.values());
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
export function createBuffers(device: GPUDevice, plan: TrainPlan): Map<string, GPUBuffer> {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const out = new Map<string, GPUBuffer>();
  for (const [id, len] of plan.buffers) {
    out.set(id, device.createBuffer({ size: up(Math.max(4 * len, 16), 16), usage, label: id }));
  }
  return out;
}

/** Pipelines, uniform buffers and bind groups of a dispatch list. */
export function bindAll(
  device: GPUDevice,
  list: TrainDispatch[],
  buffers: Map<string, GPUBuffer>,
): { pipeline: GPUComputePipeline; group: GPUBindGroup; uniform: GPUBuffer }[] {
  const pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  const pipelineOf = (d: TrainDispatch) => {
    const key = `${d.bindings.length}|${d.writable ?? ""}|${d.entry}|${d.code}`;
    let p = pipelines.get(key);
    if (!p) {
      const entries: GPUBindGroupLayoutEntry[] = d.bindings.map((_, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: i === 0 || d.writable?.includes(i) ? "storage" : "read-only-storage" },
      }));
      entries.push({
        binding: d.bindings.length,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform" },
      });
      const layout = device.createBindGroupLayout({ entries });
      const module = device.createShaderModule({ code: d.code, label: d.label });
      const pipeline = device.createComputePipeline({
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: d.entry },
        label: d.label,
      });
      p = { pipeline, layout };
      pipelines.set(key, p);
    }
    return p;
  };
  return list.map((d) => {
    const { pipeline, layout } = pipelineOf(d);
    const uniform = device.createBuffer({
      size: d.uniform.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(uniform, 0, d.uniform);
    const entries: GPUBindGroupEntry[] = d.bindings.map((s, binding) => {
      const buffer = buffers.get(s.buf);
      if (!buffer) {
        throw new RangeError(`Cannot bind ${d.label}: current value lacks buffer ${s.buf}`);
      }
      const size = Math.min(up(Math.max(4 * s.len, 16), 16), buffer.size - 4 * s.off);
      return { binding, resource: { buffer, offset: 4 * s.off, size } };
    });
    entries.push({ binding: entries.length, resource: { buffer: uniform } });
    return { pipeline, group: device.createBindGroup({ layout, entries }), uniform };
  });
}

/** Uploads the model's parameters and running statistics and the optimizer's moments. */
export async function uploadStart(
  device: GPUDevice,
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
  device.queue.writeBuffer(buffers.get("params")!, 0, flat);
  const running = new Float32Array(plan.buffers.get("state")!);
  const stats = new Map(model.namedBuffers());
  for (const [name, { off, channels }] of plan.state) {
    running.set(await stats.get(`${name}.bn.running_mean`)!.data() as Float32Array, off);
    running.set(await stats.get(`${name}.bn.running_var`)!.data() as Float32Array, off + channels);
  }
  device.queue.writeBuffer(buffers.get("state")!, 0, running);
  plan.chunks.forEach((c, i) => {
    const mv = new Float32Array(2 * c.len);
    for (const [key, slot] of plan.params) {
      const s = state.params[key];
      if (slot.chunk !== i || !s) continue;
      mv.set(s.expAvg, slot.off - c.off);
      mv.set(s.expAvgSq, c.len + slot.off - c.off);
    }
    device.queue.writeBuffer(buffers.get(`mv${i}`)!, 0, mv);
  });
  await device.queue.onSubmittedWorkDone();
}

/** A copy of `buffer`'s contents, read back through a staging buffer. */
export async function readBuffer(device: GPUDevice, buffer: GPUBuffer): Promise<Float32Array> {
  const staging = device.createBuffer({
    size: buffer.size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new Float32Array(staging.getMappedRange().slice(0));
  } finally {
    staging.destroy();
  }
}
