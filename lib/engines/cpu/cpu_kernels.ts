/**
 * The CPU engine's WebAssembly kernels (`_wasm/cpu_engine.c`, embedded in
 * `cpu_engine_wasm.ts`): compiled once per process, instantiated per
 * engine on its own shared memory (threads instantiate it again on the same
 * memory, each with its own stack). Pointers are byte offsets into that
 * memory; the caller's arrays start at `base`. Every kernel takes `part,
 * parts` last: the share of the call it does.
 *
 * @module
 */
import { CPU_ENGINE_WASM } from "./cpu_engine_wasm.ts";

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

let compiled: WebAssembly.Module | undefined;

/** The compiled module (decoded and compiled on first use). */
function wasmModule(): WebAssembly.Module {
  if (!compiled) {
    const bytes = Uint8Array.from(atob(CPU_ENGINE_WASM), (c) => c.charCodeAt(0));
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/** An instance with `bytes` free from `base` (64-byte aligned). */
export function loadCpuKernels(
  bytes: number,
): { kernels: CpuKernels; memory: WebAssembly.Memory; base: number; module: WebAssembly.Module } {
  // Shared, so that threads can work on it; the module's stack and data take 2 pages.
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
  const module = wasmModule();
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const kernels = instance.exports as unknown as CpuKernels;
  const base = Math.ceil(kernels.heap_base() / 64) * 64;
  const pages = Math.ceil((base + bytes) / 65536);
  memory.grow(Math.max(0, pages - memory.buffer.byteLength / 65536));
  return { kernels, memory, base, module };
}
