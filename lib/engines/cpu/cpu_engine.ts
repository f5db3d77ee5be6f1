/**
 * U2-Net inference on the CPU in our own WebAssembly (SIMD128) kernels, no
 * tfjs on the hot path: the same plan as the WebGPU engine
 * (`engine_plan.ts`, one image), run step by step on one linear memory,
 * on one thread or several (Web Workers on shared memory). 3x3 convs use
 * Winograd F(4x4, 3x3) (4x fewer multiplications; F(2x2, 3x3) for the
 * largest convs on small maps; every dilation, by phases); the side
 * outputs are direct. The module is embedded (`cpu_engine_wasm.ts`), so
 * it needs no file access or permission. Measured on a 2-core EPYC at
 * 320²: lite 470 ms, full 1,353 ms on one thread (onnxruntime: 432 and
 * 1,175 ms; tfjs-wasm: 1,358 and 3,964 ms).
 *
 * @module
 */
import type { U2Net } from "../../model/u2net.ts";
import { planEngine, type PlannedStep } from "../gpu/engine_plan.ts";
import { hostWeights } from "../gpu/engine_setup.ts";
import { type CpuKernels, loadCpuKernels } from "./cpu_kernels.ts";
import {
  bindStep,
  callArgs,
  neededWeights,
  runCall,
  type StepCall,
  type StepContext,
} from "./_cpu_engine_steps.ts";
import {
  type CpuThreads,
  STACK_BYTES,
  startThreads,
  stepThreads,
  stopThreads,
} from "./_cpu_engine_threads.ts";
import type { CpuWeightCache } from "./cpu_weight_cache.ts";
import { EngineMemoryError } from "../memory/engine_memory.ts";
import { padTo8 } from "./cpu_engine_pack.ts";

/** Options of {@linkcode CpuEngine.create}. */
export interface CpuEngineOptions {
  /** Input height. @default 320 */
  height?: number;
  /** Input width. @default 320 */
  width?: number;
  /**
   * 3x3 convs by Winograd F(m x m, 3x3) with output tiles of this side: 4
   * (4x fewer multiplications than direct), 2 (2.25x), or 0 (every conv
   * direct). @default 4
   */
  winograd?: 0 | 2 | 4;
  /**
   * A 3x3 conv with more weights than this (9 · in · out), on a map under
   * 40² (`F4_MIN_PIXELS`), runs F(2x2, 3x3) instead of F(4x4, 3x3): F(4x4)
   * keeps 4x the weights (F(2x2) 16/9x). Only full has such convs (its 20²
   * and 10² layers at 320²). Measured for full at 320² on a 2-core EPYC,
   * same run: 2^20 → 1,361 ms and 576 MiB of engine memory, Infinity →
   * 1,276 ms and 806 MiB. Lite (18 MiB of F(4x4) weights) is all F(4x4).
   * @default 1048576
   */
  maxWinograd4Weights?: number;
  /**
   * Threads that split each kernel call (rows or Winograd blocks): the
   * caller's and `threads - 1` Web Workers on the engine's shared memory.
   * A split step is cut into 4 chunks per thread that the threads take
   * from a shared counter (a preempted thread holds up one chunk, not its
   * share); steps estimated under 0.2 ms run whole on the caller's thread.
   * @default 1
   */
  threads?: number;
  /**
   * Shares the packed weights with the other engines of this network (other
   * input sizes): a new engine copies them from the last one instead of
   * folding and packing again (full: ~3 s). Only while the network's
   * weights do not change. @default undefined
   */
  weightCache?: CpuWeightCache;
  /** Winograd tiles per block (a multiple of 4, at most 256). @default 16 */
  tileBlock?: number;
  /**
   * Largest engine memory, in bytes: a larger engine (see
   * {@linkcode CpuEngine.estimateBytes}) is refused with an
   * `EngineMemoryError` before anything is allocated. @default Infinity
   */
  maxBytes?: number;
  /**
   * Fused multiply-add in the convs (relaxed SIMD's `f32x4.relaxed_madd`),
   * where this WebAssembly engine has it (Deno 2.x): faster on CPUs with
   * FMA, and the results then depend on the CPU's FMA (one rounding per
   * multiply-add) but stay identical on any thread count. False: mul + add,
   * the same bits on every machine. {@linkcode CpuEngine.fma} tells which
   * ran. @default true
   */
  fma?: boolean;
}

/** Defaults of {@linkcode CpuEngineOptions}. */
export const DEFAULT_CPU_ENGINE_OPTIONS: Readonly<Required<Omit<CpuEngineOptions, "weightCache">>> =
  Object.freeze({
    height: 320,
    width: 320,
    winograd: 4,
    maxWinograd4Weights: 1048576,
    tileBlock: 16,
    threads: 1,
    maxBytes: Infinity,
    fma: true,
  });

/** Bytes of the module's own data and stack before the engine's heap (measured: 2 pages). */
const MODULE_BYTES = 2 * 65536;

/** Most bytes an engine may lay out (wasm32 addresses 4 GiB; the module's own data comes first). */
const MAX_ENGINE_BYTES = 2 ** 32 - 2 ** 20;

/**
 * U2-Net inference on the CPU (WebAssembly SIMD), planned once per input
 * size, on one thread or split over `threads` (Web Workers sharing the
 * engine's memory; call {@linkcode CpuEngine.dispose} to end them).
 *
 * @example
 * ```ts
 * import { U2Net } from "../../model/u2net.ts";
 * import { CpuEngine } from "./cpu_engine.ts";
 * const engine = await CpuEngine.create(U2Net.create("lite"), { height: 32, width: 32 });
 * const probs = await engine.run(new Float32Array(32 * 32 * 3)); // NHWC, normalised
 * console.log(probs.length); // 1024
 * engine.dispose();
 * ```
 */
export class CpuEngine {
  /** The input image size [height, width] (any number of images per call). */
  readonly inputSize: readonly [number, number];
  /** Kernel calls per image. */
  readonly steps: number;
  /** Threads that split each kernel call. */
  readonly threads: number;
  /** Whether the kernels use fused multiply-add (see {@linkcode CpuEngineOptions.fma}). */
  readonly fma: boolean;
  /** Bytes of the engine's WebAssembly memory (activations, packed weights, scratch). */
  get memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }
  readonly #memory: WebAssembly.Memory;
  readonly #kernels: CpuKernels;
  readonly #calls: StepCall[];
  readonly #args: number[][];
  readonly #input: number;
  readonly #output: number;
  readonly #pixels: number;
  readonly #threads: CpuThreads | null;
  #disposed = false;

  private constructor(
    size: [number, number],
    loaded: { memory: WebAssembly.Memory; kernels: CpuKernels; fma: boolean },
    calls: StepCall[],
    args: number[][],
    [input, output]: [number, number],
    threads: CpuThreads | null,
  ) {
    this.inputSize = size;
    this.#memory = loaded.memory;
    this.#kernels = loaded.kernels;
    this.fma = loaded.fma;
    this.#calls = calls;
    this.#args = args;
    this.steps = calls.length;
    this.#input = input;
    this.#output = output;
    this.#pixels = size[0] * size[1];
    this.#threads = threads;
    this.threads = threads ? threads.workers.length + 1 : 1;
  }

  /**
   * Bytes of the WebAssembly memory an engine for `options` would take
   * (activations, packed weights, scratch, thread stacks), from the plan
   * alone: no weights are read or packed. Within a page of
   * {@linkcode CpuEngine.memoryBytes} of the engine built.
   *
   * @example
   * ```ts
   * import { U2Net } from "../../model/u2net.ts";
   * import { CpuEngine } from "./cpu_engine.ts";
   * const bytes = CpuEngine.estimateBytes(U2Net.create("lite"), { height: 320, width: 5120 });
   * console.log(bytes > 2 ** 30); // true: ~1.6 GiB
   * ```
   */
  static estimateBytes(model: Pick<U2Net, "config">, options: CpuEngineOptions = {}): number {
    const o = { ...DEFAULT_CPU_ENGINE_OPTIONS, ...options };
    const plan = planEngine(model.config, [1, o.height, o.width], { splitTarget: 0 });
    const layout = new Layout();
    plan.buffers.forEach((n, i) => layout.take(i === 0 ? (n / 3) * 4 : n));
    const seen = new Set<string>();
    let step = plan.steps[0];
    let scratch = 0;
    const ctx: StepContext = {
      bufs: plan.buffers.map(() => 0),
      param: (key, form) => {
        const id = `${key}#${form}`;
        if (!seen.has(id)) (seen.add(id), layout.take(packedFloats(step, key, form)));
        return 0;
      },
      winograd: o.winograd,
      maxWinograd4Weights: o.maxWinograd4Weights,
      tileBlock: o.tileBlock,
      threads: o.threads,
      needScratch: (n) => (scratch = Math.max(scratch, n)),
      fuse: [new Float32Array(6), new Float32Array(1)],
    };
    for (step of plan.steps) bindStep(step, ctx);
    for (let t = 0; t < o.threads; t++) layout.take(scratch);
    for (let t = 1; t < o.threads; t++) layout.take(STACK_BYTES / 4);
    return MODULE_BYTES + layout.bytes;
  }

  /** Plans the network of `model` (BatchNorm folded; the model is kept) for one input size. */
  static async create(model: U2Net, options: CpuEngineOptions = {}): Promise<CpuEngine> {
    const o = { ...DEFAULT_CPU_ENGINE_OPTIONS, ...options };
    for (const what of ["height", "width", "tileBlock", "threads"] as const) {
      if (!Number.isInteger(o[what]) || o[what] < 1) {
        throw new RangeError(`Cannot create CpuEngine: current ${what} is ${o[what]}`);
      }
    }
    if (!(o.maxWinograd4Weights >= 0)) {
      throw new RangeError(
        `Cannot create CpuEngine: current maxWinograd4Weights is ${o.maxWinograd4Weights}`,
      );
    }
    if (![0, 2, 4].includes(o.winograd)) {
      throw new RangeError(`Cannot create CpuEngine: current winograd is ${o.winograd}`);
    }
    if (o.tileBlock % 4 !== 0 || o.tileBlock > 256) {
      throw new RangeError(`Cannot create CpuEngine: current tileBlock is ${o.tileBlock}`);
    }
    if (o.threads > 64) {
      throw new RangeError(`Cannot create CpuEngine: current threads is ${o.threads}`);
    }
    if (o.maxBytes < Infinity) {
      const need = CpuEngine.estimateBytes(model, o);
      if (need > o.maxBytes) throw new EngineMemoryError(o, need, o.maxBytes);
    }
    const plan = planEngine(model.config, [1, o.height, o.width], { splitTarget: 0 });
    const layout = new Layout();
    // The RGB input is held with a fourth, zero channel, so that the first
    // conv (3 → 64) runs as Winograd like the rest (weights padded to match).
    const bufs = plan.buffers.map((n, i) => layout.take(i === 0 ? (n / 3) * 4 : n));
    // Packed weights come from the last engine of this network when it has
    // every one this plan needs; else from the folded network.
    const cache = options.weightCache;
    const src =
      cache?.source && neededWeights(plan.steps, o).every((id) => cache.source!.packed.has(id))
        ? cache.source
        : undefined;
    const weights = src ? undefined : await hostWeights(model);
    /** Packed weights by `key#form`: where they go, and their floats or their place in `src`. */
    const packed = new Map<string, { at: number; data?: Float32Array; from?: number; n: number }>();
    const param = (key: string, form: string, pack: (w: Float32Array) => Float32Array) => {
      const id = `${key}#${form}`;
      const known = packed.get(id);
      if (known) return known.at;
      const old = src?.packed.get(id);
      if (old) {
        packed.set(id, { at: layout.take(old[1]), from: old[0], n: old[1] });
      } else {
        const w = weights?.get(key);
        if (!w) throw new RangeError(`Cannot create CpuEngine: current weights lack "${key}"`);
        const data = pack(w);
        packed.set(id, { at: layout.take(data.length), data, n: data.length });
      }
      return packed.get(id)!.at;
    };
    const fuse = src?.fuse ??
      [weights?.get("out_conv.weight"), weights?.get("out_conv.bias")] as const;
    let scratch = 0;
    const ctx: StepContext = {
      bufs,
      param,
      winograd: o.winograd,
      maxWinograd4Weights: o.maxWinograd4Weights,
      tileBlock: o.tileBlock,
      threads: o.threads,
      needScratch: (n) => (scratch = Math.max(scratch, n)),
      fuse: [fuse[0], fuse[1]],
    };
    const calls = plan.steps.map((step) => bindStep(step, ctx));
    const scratches = Array.from({ length: o.threads }, () => layout.take(scratch));
    const stacks = Array.from({ length: o.threads - 1 }, () => layout.take(STACK_BYTES / 4));
    if (layout.bytes > MAX_ENGINE_BYTES) {
      throw new RangeError(
        `Cannot create CpuEngine: current size ${o.height}x${o.width} needs ${
          (layout.bytes / 2 ** 30).toFixed(1)
        } GiB of memory (WebAssembly's limit: 4 GiB)`,
      );
    }
    const loaded = loadCpuKernels(layout.bytes, { fma: o.fma });
    const { memory, base } = loaded;
    for (const { at, data, from, n } of packed.values()) {
      const to = new Float32Array(memory.buffer, base + at, n);
      to.set(data ?? new Float32Array(src!.memory.buffer, src!.base + from!, n));
    }
    if (cache) {
      cache.source = {
        memory,
        base,
        packed: new Map([...packed].map(([id, p]) => [id, [p.at, p.n]])),
        fuse: [fuse[0], fuse[1]],
      };
    }
    const args = calls.map((c) => callArgs(c, base, base + scratches[0]));
    const threads = o.threads > 1
      ? await startThreads(loaded, calls, [base, scratches, stacks])
      : null;
    return new CpuEngine(
      [o.height, o.width],
      loaded,
      calls,
      args,
      [base + bufs[0], base + bufs[plan.output.buf]],
      threads,
    );
  }

  /**
   * Probabilities `[n, height, width]` for a normalised NHWC input
   * `[n, height, width, 3]` (images one after the other; the caller's
   * thread waits for the work).
   */
  run(input: Float32Array): Promise<Float32Array> {
    const px = this.#pixels, n = input.length / (px * 3);
    if (this.#disposed) {
      return Promise.reject(new TypeError("Cannot run CpuEngine: current engine is disposed"));
    }
    if (!Number.isInteger(n) || n < 1) {
      return Promise.reject(
        new RangeError(`Cannot run CpuEngine: current input length is ${input.length}`),
      );
    }
    const out = new Float32Array(n * px);
    try {
      for (let i = 0; i < n; i++) {
        this.#write(input.subarray(i * px * 3, (i + 1) * px * 3));
        for (let s = 0; s < this.#calls.length; s++) this.#step(s);
        out.set(new Float32Array(this.#memory.buffer, this.#output, px), i * px);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(out);
  }

  /**
   * Times every kernel call of one image (the input as given), summed by
   * kernel and shape, slowest first.
   */
  profile(input: Float32Array): { label: string; count: number; ms: number }[] {
    const px = this.#pixels;
    this.#write(input.subarray(0, px * 3));
    const rows = new Map<string, { label: string; count: number; ms: number }>();
    this.#calls.forEach((call, s) => {
      const t = performance.now();
      this.#step(s);
      const ms = performance.now() - t;
      const row = rows.get(call.label) ?? { label: call.label, count: 0, ms: 0 };
      row.ms += ms;
      row.count++;
      rows.set(call.label, row);
    });
    return [...rows.values()].sort((a, b) => b.ms - a.ms);
  }

  /** Ends the engine's threads (the memory goes with the engine). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#threads) stopThreads(this.#threads);
  }

  /** Runs step `s`, split over the threads (small steps whole on this one). */
  #step(s: number): void {
    const call = this.#calls[s], t = this.#threads;
    if (!t || t.chunks[s] === 1) {
      runCall(this.#kernels, this.#memory, call, this.#args[s], [0, 1]);
      return;
    }
    stepThreads(t, s, (k, n) => runCall(this.#kernels, this.#memory, call, this.#args[s], [k, n]));
  }

  /** Writes one image (RGB) into the input buffer's four channels. */
  #write(rgb: Float32Array): void {
    const dst = new Float32Array(this.#memory.buffer, this.#input, this.#pixels * 4);
    for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
      dst[q] = rgb[p];
      dst[q + 1] = rgb[p + 1];
      dst[q + 2] = rgb[p + 2];
    }
  }
}

/**
 * Floats of the packed weights `key` in layout `form` of a planned step, as
 * `bindStep` packs them (`cpu_engine_pack.ts`): biases padded to 8, direct
 * `[co/8][k*k][ci][8]`, Winograd `[(m+2)²][co/8][ci][8]`, side convs as they are.
 */
function packedFloats(step: PlannedStep, key: string, form: string): number {
  const u = step.uniforms;
  if (step.shader === "side") {
    const [, , , c, k] = u;
    return key === (step.bindings[2] as string).slice(2) ? k * k * c : 1;
  }
  const ci = (step.bindings[1] === 0 ? 4 : u[3]) + u[4], co = u[5], k = u[6];
  if (form === "pad8") return padTo8(co);
  if (form === "direct") return padTo8(co) * k * k * ci;
  const m = Number(form.slice(4));
  return (m + 2) ** 2 * padTo8(co) * ci;
}

/** Byte offsets of 64-byte aligned float arrays, relative to the heap's base. */
class Layout {
  bytes = 0;
  take(floats: number): number {
    const at = this.bytes;
    this.bytes += Math.ceil((4 * Math.max(floats, 4)) / 64) * 64;
    return at;
  }
}
