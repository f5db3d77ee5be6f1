/**
 * The WebAssembly SIMD {@linkcode TrainKernels} (`_wasm/cpu_train.c`,
 * embedded in `train_wasm.ts`): one instance on a shared memory, grown once
 * for the arrays the caller will `alloc`; `alloc` hands out views into that
 * memory from a bump pointer, and every kernel passes their byte offsets.
 * The memory never grows afterwards, so the views stay valid. With
 * `threads` > 1, Web Workers instantiate the same module on that memory
 * (`_train_threads.ts`) and every large enough call is split between them
 * and the caller's thread, each computing a share of the outputs exactly as
 * one thread would: results depend on the inputs only, never on `threads`.
 *
 * @module
 */
import type { ConvShape, TrainKernels } from "./train_kernels.ts";
import { TRAIN_WASM, TRAIN_WASM_FMA } from "./train_wasm.ts";
import {
  MAX_ARGS,
  runTrainThreads,
  STACK_BYTES,
  startTrainThreads,
  stopTrainThreads,
  TRAIN_KERNEL_NAMES,
  type TrainKernelName,
  type TrainThreads,
} from "./_train_threads.ts";

/** The module's exports (see the C source for each kernel's arguments). */
type TrainExports =
  & {
    heap_base(): number;
    max_channels(): number;
    packed_floats(): number;
    set_packed(at: number): void;
  }
  & { [name in TrainKernelName]: (...args: number[]) => void };

/** Bytes each `alloc` is aligned to. */
const ALIGN = 64;
/** Bytes past the last array: 8-lane loads at a map's end may read a little past it. */
const SLACK = 256;
const PAGE = 65536;

/** The most threads (the module's MAXPARTS). */
export const MAX_TRAIN_THREADS = 16;
/**
 * Work (units of four multiply-adds or of a value touched: about 0.4 ns on
 * a 2.6 GHz Xeon) under which a call runs on the caller's thread alone. A
 * split call costs ~10 µs of waking and waiting (measured), more where the
 * cores are shared. Measured at lite b8@48 (b4@128): the calls under this
 * are 550 (394) of the step's 805 and hold 1.4% (0.4%) of its kernel time.
 */
export const SPLIT_WORK = 1 << 17;

/** Options of {@linkcode createWasmTrainKernels}. */
export interface WasmTrainKernelsOptions {
  /**
   * Fused multiply-add (relaxed SIMD) where the runtime has it: faster, and
   * the bits may differ between CPUs (still the same on every run); `false`
   * keeps mul + add, the same bits on every machine.
   * @default true
   */
  fma?: boolean;
  /**
   * Threads that split each kernel call: the caller's and `threads - 1` Web
   * Workers on the kernels' shared memory (call `dispose()` to end them).
   * The same bits for any count.
   * @default 1
   */
  threads?: number;
  /**
   * With threads: work (see {@linkcode SPLIT_WORK}) under which a call runs
   * on the caller's thread alone (0: split every call). Never changes results.
   * @default 131072
   */
  splitWork?: number;
}

/** Defaults of {@linkcode WasmTrainKernelsOptions}. */
export const DEFAULT_WASM_TRAIN_KERNELS_OPTIONS: Readonly<Required<WasmTrainKernelsOptions>> =
  Object.freeze({ fma: true, threads: 1, splitWork: SPLIT_WORK });

/**
 * Pages of the memory the module imports (its data and stack), from its
 * import section (the module imports the memory and nothing else but functions).
 */
function importedPages(bytes: Uint8Array): number {
  let at = 8;
  const leb = (): number => {
    let v = 0, shift = 0, b;
    do {
      b = bytes[at++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (at < bytes.length) {
    const id = bytes[at++], size = leb(), end = at + size;
    for (let i = id === 2 ? leb() : 0; i > 0; i--) {
      for (const _ of ["module", "field"]) {
        const length = leb(); // then the name's bytes
        at += length;
      }
      const kind = bytes[at++];
      if (kind === 2) {
        at++; // limits' flags
        return leb();
      }
      if (kind !== 0) break;
      leb(); // a function's type
    }
    at = end;
  }
  throw new TypeError("Cannot load the wasm train kernels: current module imports no memory");
}

const compiled = new Map<string, { module: WebAssembly.Module; pages: number }>();

/** The bytes of a base64 module. */
function decode(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Whether this runtime validates the FMA (relaxed SIMD) module. */
export function hasWasmFma(): boolean {
  return WebAssembly.validate(decode(TRAIN_WASM_FMA));
}

/** The compiled module, FMA or plain, and the pages it imports (decoded and compiled on first use). */
async function wasmModule(fma: boolean): Promise<{ module: WebAssembly.Module; pages: number }> {
  const name = fma ? "fma" : "plain";
  let m = compiled.get(name);
  if (!m) {
    const bytes = decode(fma ? TRAIN_WASM_FMA : TRAIN_WASM);
    m = { module: await WebAssembly.compile(bytes), pages: importedPages(bytes) };
    compiled.set(name, m);
  }
  return m;
}

/** Rough work of a kernel call (see {@linkcode SPLIT_WORK}). */
function workOf(kernel: TrainKernelName, args: readonly number[]): number {
  if (kernel.startsWith("conv")) {
    const [n, h, w, ca, cb, co, k] = args.slice(-8);
    return n * h * w * (ca + cb) * co * k * k / 4;
  }
  // A BatchNorm's calls all count the whole BatchNorm (3 passes), so they split alike.
  if (kernel === "bn_apply") return 3 * args[7] * args[8];
  if (kernel.startsWith("bn_")) return 3 * args[args.length - 2] * args[args.length - 1];
  if (kernel.startsWith("pool")) return args.slice(-4).reduce((a, b) => a * b);
  if (kernel === "adamw") return 4 * args[4];
  if (kernel.startsWith("resize")) {
    const [n, , , c, oh, ow] = args.slice(-6);
    return 4 * n * oh * ow * c;
  }
  return args[2];
}

/**
 * Creates the wasm kernels with room for `floats` float32 values of arrays
 * (each `alloc` rounds up to 16 floats). With `threads` > 1, call
 * `dispose()` to end the workers.
 *
 * @example
 * ```ts
 * const k = await createWasmTrainKernels(1 << 20, { threads: 2 });
 * const x = k.alloc(4 * 4 * 8), y = k.alloc(2 * 2 * 8);
 * k.pool(y, x, 1, 4, 4, 8);
 * k.dispose?.();
 * ```
 */
export async function createWasmTrainKernels(
  floats: number,
  options: WasmTrainKernelsOptions = {},
): Promise<TrainKernels> {
  const o = { ...DEFAULT_WASM_TRAIN_KERNELS_OPTIONS, ...options };
  const fma = o.fma && hasWasmFma();
  if (!(floats >= 0) || !Number.isFinite(floats)) {
    throw new RangeError(`Cannot create the wasm train kernels: current floats is ${floats}`);
  }
  if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > MAX_TRAIN_THREADS) {
    throw new RangeError(
      `Cannot create the wasm train kernels: current threads is ${o.threads} (1 to ${MAX_TRAIN_THREADS})`,
    );
  }
  const { module, pages: own } = await wasmModule(fma);
  const memory = new WebAssembly.Memory({ initial: own, maximum: 65536, shared: true });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const k = instance.exports as unknown as TrainExports;
  // The heap: each part's packed weights, the workers' stacks, then the arrays.
  const packedAt = Math.ceil(k.heap_base() / ALIGN) * ALIGN;
  const stacksAt = packedAt + o.threads * Math.ceil(k.packed_floats() * 4 / ALIGN) * ALIGN;
  const base = stacksAt + (o.threads - 1) * STACK_BYTES;
  const bytes = base + Math.ceil(floats * 4 / ALIGN) * ALIGN + SLACK;
  const pages = Math.ceil(bytes / PAGE);
  if (pages > 65536) {
    throw new RangeError(
      `Cannot create the wasm train kernels: current size is ${bytes} bytes (limit: 4 GiB)`,
    );
  }
  memory.grow(Math.max(0, pages - memory.buffer.byteLength / PAGE));
  k.set_packed(packedAt);
  const stackTops = Array.from(
    { length: o.threads - 1 },
    (_, i) => stacksAt + (i + 1) * STACK_BYTES,
  );
  const threads: TrainThreads | null = o.threads > 1
    ? await startTrainThreads(module, memory, stackTops)
    : null;
  const buffer = memory.buffer, end = bytes - SLACK, maxC = k.max_channels();
  let next = base;
  let disposed = false;

  /** Runs `kernel`, split over the threads when it is large enough. */
  const run = (kernel: TrainKernelName, args: number[]): void => {
    const fn = k[kernel];
    if (!threads || workOf(kernel, args) < o.splitWork) {
      fn(...args, 0, 1);
      return;
    }
    if (disposed) throw new TypeError("Cannot run a wasm train kernel: current set is disposed");
    if (args.length > MAX_ARGS) throw new RangeError(`Cannot split ${kernel}: ${args.length} args`);
    runTrainThreads(
      threads,
      TRAIN_KERNEL_NAMES.indexOf(kernel),
      args,
      (parts) => fn(...args, 0, parts),
    );
  };
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
      run("conv", [at(out), at(a), at(s.cb ? b : null), at(w), at(bias), ...convArgs(s)]);
    },
    convInputGrad(da, db, dy, w, s) {
      run("conv_input_grad", [at(da), at(s.cb ? db : null), at(dy), at(w), ...convArgs(s)]);
    },
    convFilterGrad(dw, dbias, a, b, dy, s) {
      run("conv_filter_grad", [
        at(dw),
        at(dbias),
        at(a),
        at(s.cb ? b : null),
        at(dy),
        ...convArgs(s),
      ]);
    },
    bnReluForward(y, x, gamma, beta, stats, p, c, eps) {
      if (c > maxC) throw new RangeError(`Cannot run a wasm BatchNorm: current channels are ${c}`);
      // Three calls (each a barrier): block sums, block squared deviations, apply.
      run("bn_sum", [at(x), p, c]);
      run("bn_sqdev", [at(x), p, c]);
      run("bn_apply", [
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
      ]);
    },
    bnReluBackward(dx, dgamma, dbeta, dy, x, y, gamma, mean, invstd, p, c) {
      if (c > maxC) throw new RangeError(`Cannot run a wasm BatchNorm: current channels are ${c}`);
      // Two calls (each a barrier): block sums, then dgamma, dbeta and dx.
      run("bn_grad_sums", [at(dy), at(x), at(y), at(mean), at(invstd), p, c]);
      run("bn_grad_apply", [
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
      ]);
    },
    pool(out, x, n, h, w, c) {
      run("pool", [at(out), at(x), n, h, w, c]);
    },
    poolGrad(dx, dy, x, n, h, w, c) {
      run("pool_grad", [at(dx), at(dy), at(x), n, h, w, c]);
    },
    resize(out, x, n, h, w, c, oh, ow) {
      run("resize", [at(out), at(x), n, h, w, c, oh, ow]);
    },
    resizeGrad(dx, dy, n, h, w, c, oh, ow) {
      run("resize_grad", [at(dx), at(dy), n, h, w, c, oh, ow]);
    },
    accumulate(dst, src, len) {
      run("accumulate", [at(dst), at(src), len]);
    },
    adamw(p, g, m, v, c) {
      run("adamw", [
        at(p),
        at(g),
        at(m),
        at(v),
        p.length,
        c.decay,
        c.stepSize,
        c.bc2,
        c.b1,
        c.b2,
        c.c1,
        c.c2,
        c.eps,
      ]);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      if (threads) stopTrainThreads(threads);
    },
  };
}
