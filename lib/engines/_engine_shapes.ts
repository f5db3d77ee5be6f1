/**
 * The gpu and cpu engines of {@linkcode EngineShapes}: one engine per input
 * shape, sized before it is built (over `maxEngineBytes`: an
 * `EngineMemoryError`), built on first use and kept (the least recently used
 * dropped past {@linkcode ENGINE_CACHE_SIZE} engines or `maxCacheBytes`); the
 * recorded WebGPU engine on tfjs' device, or the CPU engine (our WebAssembly
 * kernels) elsewhere. Used through `createEngine` (`create_engine.ts`).
 *
 * @module
 */
import type { U2Net } from "../model/u2net.ts";
import { GpuEngine } from "./gpu/gpu_engine.ts";
import { CpuEngine } from "./cpu/cpu_engine.ts";
import { CpuWeightCache } from "./cpu/cpu_weight_cache.ts";
import { DEFAULT_MAX_ENGINE_CACHE_BYTES, EngineMemoryError } from "./memory/engine_memory.ts";
import { tfjsDevice } from "../kernels/webgpu.ts";

/** Engines kept per predictor (one per input shape). */
export const ENGINE_CACHE_SIZE = 4;

/**
 * CPU engines kept per predictor (one per input size; each holds its own
 * copy of the packed weights, 528 MiB for full at 320²).
 */
export const CPU_ENGINE_CACHE_SIZE = 2;

/** What the runner needs of an engine. */
interface Engine {
  run(input: Float32Array): Promise<Float32Array>;
  dispose(): void;
}

/** Options of {@linkcode EngineShapes} (and of `createEngine`). */
export interface EngineShapesOptions {
  /** Threads of the cpu engines. @default 1 */
  threads?: number;
  /**
   * Largest engine in bytes (estimated before it is built); a shape that
   * needs more is refused with an `EngineMemoryError`. The predictor passes
   * `DEFAULT_MAX_ENGINE_BYTES`; evaluate() (one square shape) no limit.
   * @default Infinity
   */
  maxEngineBytes?: number;
  /**
   * Largest sum of the kept engines' bytes: the least recently used are
   * dropped (and their memory released) before a new engine is built.
   * @default DEFAULT_MAX_ENGINE_CACHE_BYTES
   */
  maxCacheBytes?: number;
  /**
   * An input of this side squared (the predictor's own input size) is always
   * allowed, even when its engine is over `maxEngineBytes`. @default 0
   */
  inputSize?: number;
  /**
   * The gpu engines' arithmetic: `f16` is mixed precision (`GpuEngine`'s
   * `precision`; needs the adapter's `shader-f16`, on a device of the
   * engine's own when tfjs' lacks it); cpu engines run f32. @default "f32"
   */
  precision?: "f32" | "f16";
}

/** One kept engine and its estimated bytes. */
interface Kept {
  engine: Promise<Engine>;
  /** The engine once created: disposed at once (its threads stop before a worker closes). */
  ready?: Engine;
  bytes: number;
}

/**
 * Runs host NHWC batches through per-shape engines: at most
 * {@linkcode ENGINE_CACHE_SIZE} (cpu: {@linkcode CPU_ENGINE_CACHE_SIZE}) kept,
 * least recently used dropped first, each and all together bounded in bytes.
 */
export class EngineShapes {
  readonly #model: U2Net;
  readonly #kind: "gpu" | "cpu";
  readonly #threads: number;
  readonly #maxEngineBytes: number;
  readonly #maxCacheBytes: number;
  readonly #inputSize: number;
  readonly #precision: "f32" | "f16";
  readonly #engines = new Map<string, Kept>();
  readonly #limits = new Map<number, number>();
  /** The cpu engines' folded and packed weights, shared across input sizes. */
  #weights = new CpuWeightCache();

  /**
   * Shares `model` (not owned); gpu engines use tfjs' WebGPU device, cpu
   * engines run on `threads` threads.
   */
  constructor(model: U2Net, kind: "gpu" | "cpu" = "gpu", options: EngineShapesOptions = {}) {
    this.#model = model;
    this.#kind = kind;
    this.#threads = options.threads ?? 1;
    this.#maxEngineBytes = options.maxEngineBytes ?? Infinity;
    this.#maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_ENGINE_CACHE_BYTES;
    this.#inputSize = options.inputSize ?? 0;
    this.#precision = options.precision ?? "f32";
    if (this.#precision !== "f32" && this.#precision !== "f16") {
      throw new RangeError(`Cannot create an engine: current precision is ${this.#precision}`);
    }
    for (
      const [what, v] of [["maxEngineBytes", this.#maxEngineBytes], [
        "maxCacheBytes",
        this.#maxCacheBytes,
      ]]
    ) {
      if (!(v as number > 0)) {
        throw new RangeError(`Cannot create an engine: current ${what} is ${v}`);
      }
    }
  }

  /** Engines kept now. */
  get size(): number {
    return this.#engines.size;
  }

  /** Estimated bytes of the engines kept now. */
  get keptBytes(): number {
    let n = 0;
    for (const k of this.#engines.values()) n += k.bytes;
    return n;
  }

  /** Estimated bytes of the engine for a `[batch, height, width]` input (nothing is built). */
  estimateBytes(height: number, width: number, batch = 1): number {
    return this.#kind === "cpu"
      ? CpuEngine.estimateBytes(this.#model, { height, width, threads: this.#threads })
      : GpuEngine.estimateBytes(this.#model, { batch, height, width, precision: this.#precision });
  }

  /**
   * The engine limit in force for a batch: `maxEngineBytes`, or the engine
   * of the square input size when larger.
   */
  engineLimit(batch = 1): number {
    const s = this.#inputSize;
    if (s <= 0) return this.#maxEngineBytes;
    const b = this.#kind === "cpu" ? 1 : batch;
    let limit = this.#limits.get(b);
    if (limit === undefined) {
      limit = Math.max(this.#maxEngineBytes, this.estimateBytes(s, s, b));
      this.#limits.set(b, limit);
    }
    return limit;
  }

  /**
   * Throws the `EngineMemoryError` that {@linkcode EngineShapes.run} would
   * for this input size; returns the engine's estimated bytes otherwise.
   */
  checkSize(height: number, width: number, batch = 1): number {
    const b = this.#kind === "cpu" ? 1 : batch;
    const bytes = this.estimateBytes(height, width, b);
    const limit = this.engineLimit(b);
    if (bytes > limit) throw new EngineMemoryError({ height, width }, bytes, limit);
    return bytes;
  }

  /** Probabilities `[n, h, w]` for a normalised NHWC input of shape `[n, h, w, 3]`. */
  async run(input: Float32Array, shape: readonly [number, number, number]): Promise<Float32Array> {
    const [batch, height, width] = shape;
    // The CPU engine takes any number of images: one per size.
    const key = this.#kind === "cpu" ? `${height}x${width}` : shape.join("x");
    let kept = this.#engines.get(key);
    if (kept) {
      this.#engines.delete(key); // most recently used last
      this.#engines.set(key, kept);
    } else {
      const bytes = this.checkSize(height, width, batch);
      this.#makeRoom(bytes);
      const engine: Promise<Engine> = this.#kind === "cpu"
        ? CpuEngine.create(this.#model, {
          height,
          width,
          threads: this.#threads,
          weightCache: this.#weights,
        })
        : GpuEngine.create(this.#model, {
          batch,
          height,
          width,
          precision: this.#precision,
          device: this.#gpuDevice(),
        });
      const k: Kept = kept = { engine, bytes };
      this.#engines.set(key, k);
      engine.then((e) => void (k.ready = e), () => {
        if (this.#engines.get(key) === k) this.#engines.delete(key);
      });
    }
    return await (await kept.engine).run(input);
  }

  /** tfjs' WebGPU device, unless f16 needs a feature it was not given (the engine then asks its own). */
  #gpuDevice(): GPUDevice | undefined {
    const device = tfjsDevice();
    return this.#precision === "f16" && !device?.features.has("shader-f16") ? undefined : device;
  }

  /** Frees every engine's buffers. */
  dispose(): void {
    for (const k of this.#engines.values()) disposeKept(k);
    this.#engines.clear();
    this.#weights = new CpuWeightCache();
  }

  /** Drops the least recently used engines until one of `bytes` fits both limits. */
  #makeRoom(bytes: number): void {
    const most = this.#kind === "cpu" ? CPU_ENGINE_CACHE_SIZE : ENGINE_CACHE_SIZE;
    let total = this.keptBytes;
    for (const [key, old] of this.#engines) {
      if (this.#engines.size < most && total + bytes <= this.#maxCacheBytes) break;
      this.#engines.delete(key);
      total -= old.bytes;
      disposeKept(old);
    }
  }
}

/** Disposes a kept engine now if it exists, else as soon as it does. */
function disposeKept(k: Kept): void {
  if (k.ready) k.ready.dispose();
  else k.engine.then((e) => e.dispose(), () => {});
}
