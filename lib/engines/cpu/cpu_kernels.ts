/**
 * The CPU engine's WebAssembly kernels (`_wasm/cpu_engine.c`, embedded in
 * `cpu_engine_wasm.ts`): compiled once per process, instantiated per
 * engine on its own shared memory (threads instantiate it again on the same
 * memory, each with its own stack). Two builds of the one source: plain
 * (mul + add) and FMA (relaxed SIMD), see {@linkcode CpuKernelsOptions}.
 * Pointers are byte offsets into that memory; the caller's arrays start at
 * `base`. Every kernel takes `part, parts` last: the share of the call it
 * does.
 *
 * @module
 */
import { CPU_ENGINE_WASM, CPU_ENGINE_WASM_FMA } from "./cpu_engine_wasm.ts";

/** The module's exports (see the C source for each kernel's arguments). */
export interface CpuKernels {
  /** First byte after the module's stack and data. */
  heap_base(): number;
  /** Direct conv (any k, dilation, padding; weights `packDirect`). */
  conv_direct(...args: number[]): void;
  /** Winograd F(2x2, 3x3) conv (weights `packWinograd(…, 2)`). */
  conv_wino(...args: number[]): void;
  /** Winograd F(4x4, 3x3) conv (weights `packWinograd(…, 4)`). */
  conv_wino4(...args: number[]): void;
  /** A conv to one channel (the side outputs). */
  conv_one(...args: number[]): void;
  /** 2x2 max pool, ceil mode. */
  pool(...args: number[]): void;
  /** Bilinear resize, half-pixel centres. */
  resize(...args: number[]): void;
}

/** Options of {@linkcode loadCpuKernels}. */
export interface CpuKernelsOptions {
  /**
   * The FMA module (relaxed SIMD's `f32x4.relaxed_madd` in the convs) where
   * this WebAssembly engine accepts it: fused on CPUs with FMA, so results
   * depend on the CPU (the same on any thread count); false: the plain
   * module, mul + add, the same bits on every machine. @default true
   */
  fma?: boolean;
}

/** Defaults of {@linkcode CpuKernelsOptions}. */
export const DEFAULT_CPU_KERNELS_OPTIONS: Readonly<Required<CpuKernelsOptions>> = Object.freeze({
  fma: true,
});

const compiled: { plain?: WebAssembly.Module; fma?: WebAssembly.Module | null } = {};

/** Decodes a base64 module. */
function decode(b64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/**
 * The compiled module (decoded and compiled on first use): the FMA one when
 * asked for and valid here, else the plain one.
 */
function wasmModule(fma: boolean): { module: WebAssembly.Module; fma: boolean } {
  if (fma && compiled.fma === undefined) {
    const bytes = decode(CPU_ENGINE_WASM_FMA);
    compiled.fma = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  if (fma && compiled.fma) return { module: compiled.fma, fma: true };
  compiled.plain ??= new WebAssembly.Module(decode(CPU_ENGINE_WASM));
  return { module: compiled.plain, fma: false };
}

/**
 * An instance with `bytes` free from `base` (64-byte aligned); `fma` says
 * which module it is (threads instantiate `module` again).
 */
export function loadCpuKernels(
  bytes: number,
  options: CpuKernelsOptions = {},
): {
  kernels: CpuKernels;
  memory: WebAssembly.Memory;
  base: number;
  module: WebAssembly.Module;
  fma: boolean;
} {
  const o = { ...DEFAULT_CPU_KERNELS_OPTIONS, ...options };
  // Shared, so that threads can work on it; the module's stack and data take 2 pages.
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
  const { module, fma } = wasmModule(o.fma);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const kernels = instance.exports as unknown as CpuKernels;
  const base = Math.ceil(kernels.heap_base() / 64) * 64;
  const pages = Math.ceil((base + bytes) / 65536);
  memory.grow(Math.max(0, pages - memory.buffer.byteLength / 65536));
  return { kernels, memory, base, module, fma };
}
