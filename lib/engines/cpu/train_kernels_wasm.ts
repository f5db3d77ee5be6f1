/**
 * The WebAssembly SIMD {@linkcode TrainKernels} (`_wasm/cpu_train.c`,
 * embedded in `train_wasm.ts`): one instance on its own plain (not shared)
 * exported memory, grown once for the arrays the caller will `alloc`; `alloc` hands
 * out views into that memory from a bump pointer, and every kernel passes
 * their byte offsets. The memory never grows afterwards, so the views stay
 * valid. Single-threaded: results depend on the inputs only.
 *
 * @module
 */
import type { ConvShape, TrainKernels } from "./train_kernels.ts";
import { TRAIN_WASM, TRAIN_WASM_FMA } from "./train_wasm.ts";

/** The module's exports (see the C source for each kernel's arguments). */
interface TrainExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  max_channels(): number;
  conv(...args: number[]): void;
  conv_input_grad(...args: number[]): void;
  conv_filter_grad(...args: number[]): void;
  bn_relu_forward(...args: number[]): void;
  bn_relu_backward(...args: number[]): void;
  pool(...args: number[]): void;
  pool_grad(...args: number[]): void;
  resize(...args: number[]): void;
  resize_grad(...args: number[]): void;
  accumulate(...args: number[]): void;
}

/** Bytes each `alloc` is aligned to. */
const ALIGN = 64;
/** Bytes past the last array: 8-lane loads at a map's end may read a little past it. */
const SLACK = 256;
const PAGE = 65536;

/** Options of {@linkcode createWasmTrainKernels}. */
export interface WasmTrainKernelsOptions {
  /**
   * Fused multiply-add (relaxed SIMD) where the runtime has it: faster, and
   * the bits may differ between CPUs (still the same on every run); `false`
   * keeps mul + add, the same bits on every machine.
   * @default true
   */
  fma?: boolean;
}

/** Defaults of {@linkcode WasmTrainKernelsOptions}. */
export const DEFAULT_WASM_TRAIN_KERNELS_OPTIONS: Readonly<Required<WasmTrainKernelsOptions>> =
  Object.freeze({ fma: true });

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** The bytes of a base64 module. */
function decode(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Whether this runtime validates the FMA (relaxed SIMD) module. */
export function hasWasmFma(): boolean {
  return WebAssembly.validate(decode(TRAIN_WASM_FMA));
}

/** The compiled module, FMA or plain (decoded and compiled on first use). */
function wasmModule(fma: boolean): Promise<WebAssembly.Module> {
  const name = fma ? "fma" : "plain";
  let m = compiled.get(name);
  if (!m) {
    m = WebAssembly.compile(decode(fma ? TRAIN_WASM_FMA : TRAIN_WASM));
    compiled.set(name, m);
  }
  return m;
}

/**
 * Creates the wasm kernels with room for `floats` float32 values of arrays
 * (each `alloc` rounds up to 16 floats).
 *
 * @example
 * ```ts
 * const k = await createWasmTrainKernels(1 << 20);
 * const x = k.alloc(4 * 4 * 8), y = k.alloc(2 * 2 * 8);
 * k.pool(y, x, 1, 4, 4, 8);
 * ```
 */
export async function createWasmTrainKernels(
  floats: number,
  options: WasmTrainKernelsOptions = {},
): Promise<TrainKernels> {
  const fma = (options.fma ?? DEFAULT_WASM_TRAIN_KERNELS_OPTIONS.fma) && hasWasmFma();
  if (!(floats >= 0) || !Number.isFinite(floats)) {
    throw new RangeError(`Cannot create the wasm train kernels: current floats is ${floats}`);
  }
  const module = await wasmModule(fma);
  const instance = await WebAssembly.instantiate(module, {});
  const k = instance.exports as unknown as TrainExports;
  const memory = k.memory;
  const base = Math.ceil(k.heap_base() / ALIGN) * ALIGN;
  const bytes = base + Math.ceil(floats * 4 / ALIGN) * ALIGN + SLACK;
  const pages = Math.ceil(bytes / PAGE);
  if (pages > 65536) {
    throw new RangeError(
      `Cannot create the wasm train kernels: current size is ${bytes} bytes (limit: 4 GiB)`,
    );
  }
  memory.grow(pages - memory.buffer.byteLength / PAGE);
  const buffer = memory.buffer, end = bytes - SLACK, maxC = k.max_channels();
  let next = base;

  /** The byte offset of a view into this memory (0 for null). */
  const at = (x: Float32Array | null): number => {
    if (x === null) return 0;
    if (x.buffer !== buffer) {
      throw new TypeError("Cannot run a wasm train kernel: current array is not from its alloc");
    }
    return x.byteOffset;
  };
  const convArgs = (s: ConvShape): number[] => {
    if (s.ca + s.cb > maxC || s.co > maxC) {
      throw new RangeError(
        `Cannot run a wasm conv: current channels are ${s.ca}+${s.cb}->${s.co} (limit ${maxC})`,
      );
    }
    return [s.n, s.h, s.w, s.ca, s.cb, s.co, s.k, s.dil];
  };

  return {
    name: fma ? "wasm-fma" : "wasm",
    alloc(n: number): Float32Array {
      const size = Math.ceil(n * 4 / ALIGN) * ALIGN;
      if (next + size > end) {
        throw new RangeError(
          `Cannot alloc ${n} floats: current free space is ${(end - next) / 4} floats`,
        );
      }
      const view = new Float32Array(buffer, next, n);
      next += size;
      return view;
    },
    conv(out, a, b, w, bias, s) {
      k.conv(at(out), at(a), at(s.cb ? b : null), at(w), at(bias), ...convArgs(s));
    },
    convInputGrad(da, db, dy, w, s) {
      k.conv_input_grad(at(da), at(s.cb ? db : null), at(dy), at(w), ...convArgs(s));
    },
    convFilterGrad(dw, dbias, a, b, dy, s) {
      k.conv_filter_grad(at(dw), at(dbias), at(a), at(s.cb ? b : null), at(dy), ...convArgs(s));
    },
    bnReluForward(y, x, gamma, beta, stats, p, c, eps) {
      if (c > maxC) throw new RangeError(`Cannot run a wasm BatchNorm: current channels are ${c}`);
      k.bn_relu_forward(
        at(y),
        at(x),
        at(gamma),
        at(beta),
        at(stats.mean),
        at(stats.invstd),
        at(stats.varUnbiased),
        p,
        c,
        eps,
      );
    },
    bnReluBackward(dx, dgamma, dbeta, dy, x, y, gamma, mean, invstd, p, c) {
      if (c > maxC) throw new RangeError(`Cannot run a wasm BatchNorm: current channels are ${c}`);
      k.bn_relu_backward(
        at(dx),
        at(dgamma),
        at(dbeta),
        at(dy),
        at(x),
        at(y),
        at(gamma),
        at(mean),
        at(invstd),
        p,
        c,
      );
    },
    pool(out, x, n, h, w, c) {
      k.pool(at(out), at(x), n, h, w, c);
    },
    poolGrad(dx, dy, x, n, h, w, c) {
      k.pool_grad(at(dx), at(dy), at(x), n, h, w, c);
    },
    resize(out, x, n, h, w, c, oh, ow) {
      k.resize(at(out), at(x), n, h, w, c, oh, ow);
    },
    resizeGrad(dx, dy, n, h, w, c, oh, ow) {
      k.resize_grad(at(dx), at(dy), n, h, w, c, oh, ow);
    },
    accumulate(dst, src, len) {
      k.accumulate(at(dst), at(src), len);
    },
  };
}
