/**
 * The packed weights that CPU engines of one network share across input
 * sizes.
 *
 * @module
 */

/**
 * Where the last CPU engine of a network keeps its packed weights, for the
 * next one (see {@linkcode CpuEngineOptions.weightCache}); it keeps that
 * engine's memory alive.
 *
 * @example
 * ```ts
 * import { U2Net } from "../../model/u2net.ts";
 * import { CpuEngine } from "./cpu_engine.ts";
 * import { CpuWeightCache } from "./cpu_weight_cache.ts";
 * const model = U2Net.create("lite");
 * const weightCache = new CpuWeightCache();
 * const a = await CpuEngine.create(model, { height: 32, width: 32, weightCache });
 * const b = await CpuEngine.create(model, { height: 32, width: 48, weightCache }); // copies a's
 * console.log(weightCache.source !== undefined); // true
 * a.dispose();
 * b.dispose();
 * ```
 */
export class CpuWeightCache {
  /** The last engine's memory, base, and packed weights (`key#form` → [offset, floats]). */
  source?: {
    memory: WebAssembly.Memory;
    base: number;
    packed: Map<string, [number, number]>;
    fuse: [Float32Array | undefined, Float32Array | undefined];
  };
}
