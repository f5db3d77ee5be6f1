/**
 * A recorded WebGPU inference engine for U2-Net: the folded network's ~190
 * dispatches are planned, compiled and bound once for a fixed input shape;
 * each call uploads the input, encodes every dispatch into one compute pass
 * and reads the probability map back. No tfjs on the hot path: per dispatch
 * the host does three encoder calls instead of a tfjs op (kernel lookup,
 * uniform buffer, bind group: ~50-100 µs each, measured here), which at
 * batch 1 costs more than the GPU work.
 *
 * @module
 */
import type { U2Net } from "../../model/u2net.ts";
import { type EnginePlan, planEngine } from "./engine_plan.ts";
import { hostWeights, shaderSource } from "./engine_setup.ts";
import { type GpuDispatch, GpuRuntime, mapRead } from "./gpu_runtime.ts";

/** Options of {@linkcode GpuEngine.create}. */
export interface GpuEngineOptions {
  /** Images per call. @default 1 */
  batch?: number;
  /** Input height. @default 320 */
  height?: number;
  /** Input width. @default 320 */
  width?: number;
  /**
   * Pixels per conv tile: 32, 64 or 128; `"auto"` is 32 at batch 1 (more
   * workgroups for the small deep layers) and 64 otherwise. Measured on an
   * H200 at 320², batch 1, with split K: full 21.2 ms with 64, 21.9 with
   * 32 and 22.1 with 128; lite 17.4 with each. (Before split K, 32 was
   * faster at batch 1: full 60.2 vs 64.7 ms, looped shaders.) @default 64
   */
  tileRows?: 32 | 64 | 128 | "auto";
  /**
   * The conv shader with its per-thread arrays and fixed loops unrolled (same
   * results). Measured on an H200 at 320², batch 1: lite 18.1 ms unrolled
   * and 25.9 looped, full 33.1 and 60.5. @default true
   */
  unrolled?: boolean;
  /**
   * A vec4 conv with fewer tiles than this many workgroups splits its K
   * reduction over about this many (a `splitsum` dispatch adds the parts):
   * the deep 20² and 10² layers, which alone cannot fill a large GPU. 0
   * turns it off. Measured on an H200 at 320², batch 1 (32-row tiles): full
   * 33.0 ms without, 23.5 with 256, 21.9 with 1,024, 21.8 with 4,096; lite
   * 18.1, 18.0, 17.4, 17.9; batch 8: full 64.5 → 59.7 ms. @default 1024
   */
  splitTarget?: number;
  /**
   * `f16`: mixed precision (needs the adapter's `shader-f16`): activations
   * and the convs' filters in f16, half the memory traffic; sums, biases,
   * the side maps and the output in f32 (see `PlanEngineOptions.precision`).
   * On the parity fixtures' lite weights (random, BN randomised) the probabilities are within
   * 2e-3 of f32 (tested on a software adapter). @default "f32"
   */
  precision?: "f32" | "f16";
  /**
   * With `precision: "f16"`: each 16-k step of a conv summed in f16 (packed
   * f16 arithmetic) before the f32 sum; false: in f32. @default true
   */
  halfSums?: boolean;
  /**
   * The unrolled vec4 convs' register tile: 4 (4 rows x 4 channels a
   * thread) or 8 (8 x 8; 8 x 4 on 16-channel tiles), the same results.
   * Measured on an H200 at 320², batch 1 (2026-12-04): 8 is slower, lite
   * 19.3 ms against 16.6, full 25.2 against 20.6. @default 4
   */
  regs?: 4 | 8;
  /**
   * Double buffering in the unrolled vec4 convs (one barrier a 16-k step,
   * the next step's loads overlapping the products), the same results.
   * Measured on an H200 with `regs: 8` (2026-12-04): 17.3 / 21.5 ms (lite /
   * full, batch 1), against 16.6 / 20.6 for the default. @default false
   */
  prefetch?: boolean;
  /**
   * Read-back buffers, so this many calls can be in flight at once (each
   * waits for the one `inflight` calls before it). Deno 2.9.6 resolves a
   * read-back at least 10 ms after the GPU is done, and the read-backs of
   * calls in flight wait together, so with enough of them the GPU, not
   * that floor, sets the pace. 1 to 16; each costs one output's bytes.
   * @default 4
   */
  inflight?: number;
  /** A device to use; by default the engine requests its own from `navigator.gpu`. */
  device?: GPUDevice;
}

/** Defaults of {@linkcode GpuEngineOptions}. */
export const DEFAULT_GPU_ENGINE_OPTIONS: Readonly<Required<Omit<GpuEngineOptions, "device">>> =
  Object.freeze({
    batch: 1,
    height: 320,
    width: 320,
    tileRows: 64 as 32 | 64 | 128 | "auto",
    unrolled: true,
    splitTarget: 1024,
    precision: "f32" as "f32" | "f16",
    halfSums: true,
    regs: 4 as 4 | 8,
    prefetch: false,
    inflight: 4,
  });

/** The plan's options from engine options (defaults filled, "auto" tile rows resolved). */
function planOptions(options: GpuEngineOptions) {
  const { device: _device, inflight: _inflight, tileRows, ...rest } = {
    ...DEFAULT_GPU_ENGINE_OPTIONS,
    ...options,
  };
  return { ...rest, tileRows: tileRows === "auto" ? (rest.batch === 1 ? 32 : 64) : tileRows };
}

/** A weight buffer's contents: `w:` keys f32, `h:` keys f16 (padded to 4-byte words). */
function weightData(binding: string, weights: Map<string, Float32Array>): ArrayBufferView {
  const data = weights.get(binding.slice(2));
  if (!data) {
    throw new RangeError(`Cannot create GpuEngine: current value lacks "${binding.slice(2)}"`);
  }
  if (binding.startsWith("w:")) return data;
  const half = new Float16Array(data.length + (data.length % 2));
  half.set(data);
  return half;
}

/**
 * U2-Net inference on WebGPU with every dispatch recorded at creation.
 *
 * @example
 * ```ts ignore
 * import { U2Net } from "../../model/u2net.ts";
 * import { GpuEngine } from "./gpu_engine.ts";
 * const engine = await GpuEngine.create(U2Net.create("lite"), { height: 64, width: 64 });
 * const probs = await engine.run(new Float32Array(64 * 64 * 3)); // NHWC, normalised
 * console.log(probs.length); // 4096
 * engine.dispose();
 * ```
 */
export class GpuEngine {
  /** The input shape [batch, height, width, 3]. */
  readonly inputShape: readonly [number, number, number, number];
  /** GPU dispatches per call. */
  readonly dispatches: number;
  readonly #rt: GpuRuntime;
  readonly #plan: EnginePlan;
  readonly #buffers: GPUBuffer[];
  /** The planned steps, compiled and bound. */
  readonly #list: GpuDispatch[];
  /** One read-back buffer per call that can be in flight. */
  readonly #readbacks: GPUBuffer[];
  /** The last call's submission (calls submit in order). */
  #submitted: Promise<unknown> = Promise.resolve();
  /** Per read-back slot: its last call's end (a slot's next call waits for it). */
  readonly #slotFree: Promise<unknown>[];
  #slot = 0;
  #disposed = false;
  /** The next call's commands, encoded while the GPU runs the current one. */
  #prepared?: { slot: number; commands: GPUCommandBuffer };
  #hostMs = 0;
  #criticalMs = 0;

  private constructor(
    rt: GpuRuntime,
    plan: EnginePlan,
    weights: Map<string, Float32Array>,
    shape: [number, number, number, number],
    inflight: number,
  ) {
    this.#rt = rt;
    this.#plan = plan;
    this.inputShape = shape;
    this.dispatches = plan.steps.length;
    this.#buffers = plan.buffers.map((n) => rt.storage(Math.max(16, 4 * n)));
    const weightBufs = new Map<string, GPUBuffer>();
    const weightBuf = (binding: string) => {
      let buf = weightBufs.get(binding);
      if (buf) return buf;
      const data = weightData(binding, weights);
      buf = rt.storage(Math.max(16, data.byteLength));
      rt.write(buf, data as Float32Array<ArrayBuffer>);
      weightBufs.set(binding, buf);
      return buf;
    };
    const sources = new Map<string, string>();
    const pipeline = (shader: string) => {
      let code = sources.get(shader);
      if (code === undefined) sources.set(shader, code = shaderSource(shader));
      return rt.pipeline(code, { label: shader });
    };
    const fuseW = weights.get("out_conv.weight"), fuseB = weights.get("out_conv.bias");
    this.#list = plan.steps.map((step) => {
      const p = pipeline(step.shader);
      const words = step.shader === "fuse" && fuseW && fuseB
        ? [step.uniforms[0], ...fuseW, fuseB[0]]
        : step.uniforms;
      const raw = new ArrayBuffer(Math.ceil((4 * words.length) / 16) * 16);
      const ints = new Int32Array(raw), floats = new Float32Array(raw);
      words.forEach((v, i) => (step.floats?.includes(i) ? (floats[i] = v) : (ints[i] = v)));
      const uniform = rt.uniform(raw);
      const group = rt.bindGroup(p.layout, [
        ...step.bindings.map((b) =>
          b === null ? null : { buffer: typeof b === "number" ? this.#buffers[b] : weightBuf(b) }
        ),
        { buffer: uniform },
      ]);
      return { label: step.shader, workgroups: step.workgroups, pipeline: p.pipeline, group };
    });
    const outBytes = 4 * plan.buffers[plan.output.buf];
    this.#readbacks = Array.from({ length: inflight }, () => rt.readback(outBytes));
    this.#slotFree = this.#readbacks.map(() => Promise.resolve());
  }

  /**
   * Bytes of GPU memory an engine for `options` would take: its activation
   * buffers, its `inflight` read-back buffers and the weights (counted unfolded, a
   * slight overestimate), from the plan alone (no device needed).
   *
   * @example
   * ```ts
   * import { U2Net } from "../../model/u2net.ts";
   * import { GpuEngine } from "./gpu_engine.ts";
   * const bytes = GpuEngine.estimateBytes(U2Net.create("lite"), { height: 320, width: 320 });
   * ```
   */
  static estimateBytes(
    model: Pick<U2Net, "config" | "numParameters">,
    options: Omit<GpuEngineOptions, "device"> = {},
  ): number {
    const { batch, height, width, ...planned } = planOptions(options);
    const plan = planEngine(model.config, [batch, height, width], planned);
    const buffers = plan.buffers.reduce((a, n) => a + Math.max(16, 4 * n), 0);
    // Weights: f32 (an f16 plan's filters: about half that, counted whole).
    const inflight = options.inflight ?? DEFAULT_GPU_ENGINE_OPTIONS.inflight;
    return buffers + inflight * 4 * plan.buffers[plan.output.buf] + 4 * model.numParameters();
  }

  /**
   * Plans, compiles and binds the engine for one input shape. A network with
   * BatchNorm is folded first (its weights are copied; the network is kept).
   */
  static async create(model: U2Net, options: GpuEngineOptions = {}): Promise<GpuEngine> {
    const { batch, height, width, tileRows, splitTarget, precision, ...planned } = planOptions(
      options,
    );
    if (tileRows !== 32 && tileRows !== 64 && tileRows !== 128) {
      throw new RangeError(`Cannot create GpuEngine: current tileRows is ${tileRows}`);
    }
    for (const [what, v] of [["batch", batch], ["height", height], ["width", width]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(`Cannot create GpuEngine: current ${what} is ${v}`);
      }
    }
    if (!Number.isInteger(splitTarget) || splitTarget < 0) {
      throw new RangeError(`Cannot create GpuEngine: current splitTarget is ${splitTarget}`);
    }
    if (precision !== "f32" && precision !== "f16") {
      throw new RangeError(`Cannot create GpuEngine: current precision is ${precision}`);
    }
    const inflight = options.inflight ?? DEFAULT_GPU_ENGINE_OPTIONS.inflight;
    if (!Number.isInteger(inflight) || inflight < 1 || inflight > 16) {
      throw new RangeError(`Cannot create GpuEngine: current inflight is ${inflight}`);
    }
    const plan = planEngine(model.config, [batch, height, width], {
      ...planned,
      tileRows,
      splitTarget,
      precision,
    });
    const weights = await hostWeights(model);
    const rt = await GpuRuntime.create({ device: options.device, who: "GpuEngine" });
    const device = rt.device;
    if (precision === "f16" && !device.features.has("shader-f16")) {
      rt.destroy();
      throw new TypeError(
        "Cannot create GpuEngine in f16: current device lacks shader-f16 (use precision f32)",
      );
    }
    const largest = 4 * Math.max(...plan.buffers);
    const groups = Math.max(...plan.steps.flatMap((s) => s.workgroups));
    const problem = largest > device.limits.maxStorageBufferBindingSize
      ? `largest buffer is ${largest} bytes, over the device's ${device.limits.maxStorageBufferBindingSize}`
      : groups > device.limits.maxComputeWorkgroupsPerDimension
      ? `most workgroups in one dimension is ${groups}, over the device's ${device.limits.maxComputeWorkgroupsPerDimension}`
      : "";
    if (problem) {
      rt.destroy();
      throw new RangeError(`Cannot create GpuEngine: current ${problem} (use a smaller batch)`);
    }
    try {
      return new GpuEngine(rt, plan, weights, [batch, height, width, 3], inflight);
    } catch (e) {
      rt.destroy();
      throw e;
    }
  }

  /**
   * Runs the network on a normalised NHWC input of `inputShape` and returns
   * the sigmoid of the fused map, [batch, height, width] flattened. Calls
   * made without awaiting the previous one overlap: a call's GPU work is
   * submitted while the previous call's result is read back (Deno 2.9.6
   * resolves every read-back at least 10 ms after the GPU is done),
   * `inflight` calls at most; each gets its own answer, in call order.
   */
  async run(input: Float32Array): Promise<Float32Array> {
    const want = this.#plan.buffers[0];
    if (this.#disposed) throw new TypeError("Cannot run GpuEngine: current value is disposed");
    if (input.length !== want) {
      throw new RangeError(
        `Cannot run GpuEngine: current input has ${input.length} values, expected ${want}`,
      );
    }
    const slot = this.#slot;
    this.#slot = (slot + 1) % this.#readbacks.length;
    const ready = Promise.all([this.#submitted, this.#slotFree[slot]]);
    let submitted!: () => void;
    this.#submitted = new Promise<void>((resolve) => (submitted = resolve));
    const job = ready.then(() => this.#run(input, slot, submitted));
    this.#slotFree[slot] = job.catch(() => {});
    return await job;
  }

  /** The whole network as one command buffer (input and output through fixed buffers). */
  #encodeCall(slot: number): GPUCommandBuffer {
    const readback = this.#readbacks[slot];
    const output = this.#buffers[this.#plan.output.buf];
    return this.#rt.encode(
      this.#list,
      (e) => e.copyBufferToBuffer(output, 0, readback, 0, readback.size),
    );
  }

  /**
   * One call: upload, submit (then `submitted()`), read back through
   * `slot`. The queue orders a later call's input upload after this
   * submission, so the activations can be shared by calls in flight.
   */
  async #run(input: Float32Array, slot: number, submitted: () => void): Promise<Float32Array> {
    const rt = this.#rt;
    try {
      const t0 = performance.now();
      rt.write(this.#buffers[0], input as Float32Array<ArrayBuffer>);
      const prepared = this.#prepared?.slot === slot ? this.#prepared.commands : undefined;
      this.#prepared = undefined;
      const commands = prepared ?? this.#encodeCall(slot);
      this.#criticalMs = performance.now() - t0;
      rt.submit(commands);
    } finally {
      submitted();
    }
    // The next call's commands, encoded while the GPU runs this one.
    const t1 = performance.now();
    const next = (slot + 1) % this.#readbacks.length;
    this.#prepared = { slot: next, commands: this.#encodeCall(next) };
    this.#hostMs = this.#criticalMs + performance.now() - t1;
    return await mapRead(this.#readbacks[slot]);
  }

  /**
   * Host ms of the last call: `total` (input upload and encoding, the next
   * call's included: it is encoded while the GPU runs this one) and
   * `beforeSubmit` (what delays the GPU's start). Neither counts
   * `queue.submit`, which a software adapter runs synchronously.
   */
  get lastHostMs(): { total: number; beforeSubmit: number } {
    return { total: this.#hostMs, beforeSubmit: this.#criticalMs };
  }

  /**
   * Times every dispatch once, after one normal call: with timestamp
   * queries (requested where the adapter offers them), each dispatch in its
   * own pass stamped on the GPU; without, each submitted and awaited on its
   * own (coarse: includes a submission's overhead).
   */
  async profile(input: Float32Array): Promise<{ step: number; shader: string; ms: number }[]> {
    await this.run(input); // warm, and validates the input
    const ms = await this.#rt.time(this.#list);
    return this.#plan.steps.map((step, i) => ({ step: i, shader: step.shader, ms: ms[i] }));
  }

  /** Frees the GPU buffers (and the device when the engine requested it). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#rt.destroy();
  }
}
