/**
 * The runtime shared by the recorded engines (`GpuEngine`, `GpuTrainer`):
 * the device (requested or lent), a pipeline cache keyed by WGSL source,
 * buffers and bind groups (freed together), a list of prepared dispatches
 * recorded into one compute pass, submission, read-back with `mapAsync`,
 * and per-dispatch timing.
 *
 * @module
 */
import { timeEach } from "./gpu_profile.ts";

/**
 * One prepared dispatch: its pipeline, bind group and workgroup counts.
 *
 * @example
 * ```ts ignore
 * const d: GpuDispatch = { label: "pool", workgroups: [64, 1], pipeline, group };
 * ```
 */
export interface GpuDispatch {
  /** What it computes (profiles group by it). */
  label: string;
  /** Workgroup counts (x, y[, z]). */
  workgroups: readonly number[];
  /** Its compiled pipeline. */
  pipeline: GPUComputePipeline;
  /** Its bind group (group 0). */
  group: GPUBindGroup;
}

/** Options of {@linkcode GpuRuntime.create}. */
export interface GpuRuntimeOptions {
  /** A device to use (kept at `destroy()`); by default one is requested from `navigator.gpu`. */
  device?: GPUDevice;
  /** Who asks, for error messages. @default "GpuRuntime" */
  who?: string;
  /** Adapter limits the requested device gets. @default ["maxStorageBufferBindingSize", "maxBufferSize"] */
  limits?: readonly (keyof GPUSupportedLimits)[];
}

/** Defaults of {@linkcode GpuRuntimeOptions}. */
export const DEFAULT_GPU_RUNTIME_OPTIONS: Readonly<Required<Omit<GpuRuntimeOptions, "device">>> =
  Object.freeze({
    who: "GpuRuntime",
    limits: ["maxStorageBufferBindingSize", "maxBufferSize"] as const,
  });

/** A compiled pipeline with the layout its bind groups use. */
export interface GpuPipeline {
  /** The pipeline. */
  pipeline: GPUComputePipeline;
  /** Its group-0 layout. */
  layout: GPUBindGroupLayout;
}

/** Options of {@linkcode GpuRuntime.pipeline}. */
export interface GpuPipelineOptions {
  /** Entry point. @default "main" */
  entry?: string;
  /** Label of the module and the pipeline. @default undefined */
  label?: string;
  /** Binding types of group 0 in order (an explicit layout); by default `"auto"`. @default undefined */
  bindings?: readonly GPUBufferBindingType[];
}

/**
 * A device of the first adapter with the adapter's `limits` (and, where
 * offered, timestamp queries for {@linkcode GpuRuntime.time} and
 * `shader-f16` for mixed precision).
 *
 * @example
 * ```ts ignore
 * const device = await requestGpuDevice({ who: "GpuTrainer" });
 * ```
 */
export async function requestGpuDevice(options: Omit<GpuRuntimeOptions, "device"> = {}) {
  const { who, limits } = { ...DEFAULT_GPU_RUNTIME_OPTIONS, ...options };
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new TypeError(`Cannot create ${who}: current value is no WebGPU adapter`);
  const requiredLimits: Record<string, number> = {};
  for (const k of limits) requiredLimits[k] = adapter.limits[k] as number;
  const requiredFeatures = (["timestamp-query", "shader-f16"] as const).filter((f) =>
    adapter.features.has(f)
  );
  return await adapter.requestDevice({ requiredFeatures, requiredLimits });
}

/**
 * A copy of `buffer`'s contents, read back through a staging buffer.
 *
 * @example
 * ```ts ignore
 * const values = await readBuffer(device, buffer); // Float32Array of buffer.size / 4
 * ```
 */
export async function readBuffer(device: GPUDevice, buffer: GPUBuffer): Promise<Float32Array> {
  const staging = device.createBuffer({
    size: buffer.size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
    device.queue.submit([encoder.finish()]);
    return await mapRead(staging);
  } finally {
    staging.destroy();
  }
}

/**
 * Maps a `MAP_READ` buffer, copies its first `bytes` (all by default) and unmaps it.
 *
 * @example
 * ```ts ignore
 * const loss = (await mapRead(readback, 4))[0];
 * ```
 */
export async function mapRead(buffer: GPUBuffer, bytes?: number): Promise<Float32Array> {
  await buffer.mapAsync(GPUMapMode.READ);
  try {
    return new Float32Array(buffer.getMappedRange(0, bytes).slice(0));
  } finally {
    buffer.unmap();
  }
}

/**
 * A device with its pipelines and buffers: what a recorded engine compiles,
 * binds, records, submits and reads back through.
 *
 * @example
 * ```ts ignore
 * import { GpuRuntime } from "./gpu_runtime.ts";
 * const rt = await GpuRuntime.create();
 * const out = rt.storage(16);
 * const { pipeline, layout } = rt.pipeline(
 *   "@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n" +
 *     "@compute @workgroup_size(1) fn main() { o[0] = 42.0; }",
 * );
 * const group = rt.bindGroup(layout, [{ buffer: out }]);
 * rt.submit(rt.encode([{ label: "set", workgroups: [1], pipeline, group }]));
 * console.log((await rt.read(out))[0]); // 42
 * rt.destroy();
 * ```
 */
export class GpuRuntime {
  /** The device. */
  readonly device: GPUDevice;
  readonly #ownDevice: boolean;
  readonly #pipelines = new Map<string, GpuPipeline>();
  readonly #buffers: GPUBuffer[] = [];
  #destroyed = false;

  /** A runtime on `device`; `ownDevice`: destroy it at {@linkcode GpuRuntime.destroy}. */
  constructor(device: GPUDevice, ownDevice = false) {
    this.device = device;
    this.#ownDevice = ownDevice;
  }

  /** A runtime on `options.device`, or on a device it requests (and owns). */
  static async create(options: GpuRuntimeOptions = {}): Promise<GpuRuntime> {
    if (options.device) return new GpuRuntime(options.device);
    return new GpuRuntime(await requestGpuDevice(options), true);
  }

  /** Pipelines compiled so far (distinct source, entry and layout). */
  get pipelines(): number {
    return this.#pipelines.size;
  }

  /** Buffers created by this runtime and not yet destroyed. */
  get buffers(): number {
    return this.#buffers.length;
  }

  /** Whether {@linkcode GpuRuntime.destroy} ran. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The compute pipeline of WGSL `code`, compiled once per source, entry and layout. */
  pipeline(code: string, options: GpuPipelineOptions = {}): GpuPipeline {
    const { entry = "main", label, bindings } = options;
    const key = `${entry}|${bindings?.join(",") ?? "auto"}|${code}`;
    let p = this.#pipelines.get(key);
    if (p) return p;
    const device = this.device;
    const module = device.createShaderModule({ code, label });
    const explicit = bindings && device.createBindGroupLayout({
      entries: bindings.map((type, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type },
      })),
    });
    const pipeline = device.createComputePipeline({
      layout: explicit ? device.createPipelineLayout({ bindGroupLayouts: [explicit] }) : "auto",
      compute: { module, entryPoint: entry },
      label,
    });
    p = { pipeline, layout: explicit ?? pipeline.getBindGroupLayout(0) };
    this.#pipelines.set(key, p);
    return p;
  }

  /** A buffer of `size` bytes, freed at {@linkcode GpuRuntime.destroy}. */
  buffer(size: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const buffer = this.device.createBuffer({ size, usage, label });
    this.#buffers.push(buffer);
    return buffer;
  }

  /** A storage buffer (also a copy source and destination) of `size` bytes. */
  storage(size: number, label?: string): GPUBuffer {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    return this.buffer(size, usage, label);
  }

  /** A uniform buffer of `data`'s size, its contents queued. */
  uniform(data: ArrayBuffer): GPUBuffer {
    const buffer = this.buffer(data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.write(buffer, data);
    return buffer;
  }

  /** A buffer of `size` bytes to copy results into and map ({@linkcode mapRead}). */
  readback(size: number): GPUBuffer {
    return this.buffer(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  }

  /** Queues `data` into `buffer` (ordered before later submissions). */
  write(buffer: GPUBuffer, data: ArrayBuffer | ArrayBufferView<ArrayBuffer>): void {
    this.device.queue.writeBuffer(buffer, 0, data);
  }

  /** A group-0 bind group: `resources[i]` at binding i (`null`: not bound). */
  bindGroup(layout: GPUBindGroupLayout, resources: readonly (GPUBufferBinding | null)[]) {
    const entries = resources.flatMap((resource, binding) =>
      resource === null ? [] : [{ binding, resource }]
    );
    return this.device.createBindGroup({ layout, entries });
  }

  /** Records `list` in order into one compute pass of `encoder`. */
  record(encoder: GPUCommandEncoder, list: readonly GpuDispatch[]): void {
    const pass = encoder.beginComputePass();
    for (const { pipeline, group, workgroups: w } of list) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(w[0], w[1] ?? 1, w[2] ?? 1);
    }
    pass.end();
  }

  /** One command buffer: `list` in one compute pass, then what `after` encodes (copies). */
  encode(list: readonly GpuDispatch[], after?: (e: GPUCommandEncoder) => void): GPUCommandBuffer {
    const encoder = this.device.createCommandEncoder();
    this.record(encoder, list);
    after?.(encoder);
    return encoder.finish();
  }

  /** Submits `commands` to the queue. */
  submit(commands: GPUCommandBuffer): void {
    this.device.queue.submit([commands]);
  }

  /** {@linkcode readBuffer} on this runtime's device (one read-back). */
  read(buffer: GPUBuffer): Promise<Float32Array> {
    return readBuffer(this.device, buffer);
  }

  /** Milliseconds of each dispatch of `list`, each run once on its own ({@linkcode timeEach}). */
  time(list: readonly GpuDispatch[]): Promise<number[]> {
    return timeEach(this.device, list);
  }

  /** Frees every buffer created here (and the device when the runtime requested it). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const b of this.#buffers) b.destroy();
    this.#buffers.length = 0;
    this.#pipelines.clear();
    if (this.#ownDevice) this.device.destroy();
  }
}
