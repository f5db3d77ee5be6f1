/**
 * The kernels behind `fast_eval.ts`, for the `wasm` and `cpu` backends:
 * plain loops over the backends' float32 buffers, registered under our own
 * kernel names (no built-in kernel is replaced), without gradients.
 *
 * @module
 */
import { tf } from "../../deps.ts";

/** Kernel names: channel concat, side-conv tap sum, side fuse, 3x3 im2col. */
export const FAST_KERNELS = {
  concat: "U2NetConcatChannels",
  taps: "U2NetSideTaps",
  fuse: "U2NetFuseSides",
  im2col: "U2NetIm2col3x3",
} as const;

type Info = tf.TensorInfo;
type Inputs = Record<string, Info>;
// The two backends' data access, typed loosely: neither is exported by tfjs' core types.
interface WasmLike {
  typedArrayFromHeap(t: Info): Float32Array;
  makeOutput(shape: number[], dtype: string): Info;
}
interface CpuLike {
  data: { get(id: unknown): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): Info;
}

/** Allocates the output, then returns views of the inputs (wasm memory may grow first). */
function io(
  backend: unknown,
  inputs: Info[],
  shape: number[],
): [Info, Float32Array, Float32Array[]] {
  const size = shape.reduce((a, b) => a * b, 1);
  if (typeof (backend as WasmLike).typedArrayFromHeap === "function") {
    const b = backend as WasmLike;
    const out = b.makeOutput(shape, "float32");
    return [out, b.typedArrayFromHeap(out), inputs.map((t) => b.typedArrayFromHeap(t))];
  }
  const b = backend as CpuLike;
  const vals = new Float32Array(size);
  const ins = inputs.map((t) => b.data.get(t.dataId).values);
  return [b.makeTensorInfo(shape, "float32", vals), vals, ins];
}

function concatKernel({ inputs, backend }: { inputs: Inputs; backend: unknown }) {
  const xs = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k]);
  const chans = xs.map((t) => t.shape[3]);
  const total = chans.reduce((a, b) => a + b, 0);
  const [n, h, w] = xs[0].shape;
  const [out, o, ins] = io(backend, xs, [n, h, w, total]);
  const pixels = n * h * w;
  let base = 0;
  for (let i = 0; i < ins.length; i++) {
    const c = chans[i], src = ins[i];
    for (let p = 0, q = base, s = 0; p < pixels; p++, q += total) {
      for (let k = 0; k < c; k++) o[q + k] = src[s++];
    }
    base += c;
  }
  return out;
}

function tapsKernel({ inputs, backend }: { inputs: Inputs; backend: unknown }) {
  const { z, bias } = inputs;
  const [n, h, w] = z.shape;
  const [out, o, [t, b]] = io(backend, [z, bias], [n, h, w, 1]);
  const bv = b[0];
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let ky = 0; ky < 3; ky++) {
          const yy = y + ky - 1;
          if (yy < 0 || yy >= h) continue;
          for (let kx = 0; kx < 3; kx++) {
            const xx = x + kx - 1;
            if (xx >= 0 && xx < w) s += t[((i * h + yy) * w + xx) * 9 + ky * 3 + kx];
          }
        }
        o[(i * h + y) * w + x] = s + bv;
      }
    }
  }
  return out;
}

function fuseKernel({ inputs, backend }: { inputs: Inputs; backend: unknown }) {
  const sides = Object.keys(inputs).filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k]);
  const [n, h, w] = sides[0].shape;
  const [out, o, ins] = io(backend, [...sides, inputs.weight, inputs.bias], [n, h, w, 1]);
  const m = sides.length, wt = ins[m], bv = ins[m + 1][0];
  for (let p = 0; p < o.length; p++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += wt[k] * ins[k][p];
    o[p] = s + bv;
  }
  return out;
}

function im2colKernel({ inputs, backend }: { inputs: Inputs; backend: unknown }) {
  const { x } = inputs;
  const [n, h, w, c] = x.shape;
  const k = 9 * c;
  const [out, o, [src]] = io(backend, [x], [n, h, w, k]);
  o.fill(0);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const base = ((i * h + y) * w + xx) * k;
        for (let ky = 0; ky < 3; ky++) {
          const sy = y + ky - 1;
          if (sy < 0 || sy >= h) continue;
          for (let kx = 0; kx < 3; kx++) {
            const sx = xx + kx - 1;
            if (sx < 0 || sx >= w) continue;
            const from = ((i * h + sy) * w + sx) * c, to = base + (ky * 3 + kx) * c;
            for (let ch = 0; ch < c; ch++) o[to + ch] = src[from + ch];
          }
        }
      }
    }
  }
  return out;
}

/**
 * Registers the kernels for a backend (once).
 *
 * @example
 * ```ts ignore
 * ensureFastKernels("wasm");
 * ```
 */
export function ensureFastKernels(backendName: string): void {
  const table = [
    [FAST_KERNELS.concat, concatKernel],
    [FAST_KERNELS.taps, tapsKernel],
    [FAST_KERNELS.fuse, fuseKernel],
    [FAST_KERNELS.im2col, im2colKernel],
  ] as const;
  for (const [kernelName, fn] of table) {
    if (tf.getKernel(kernelName, backendName)) continue;
    tf.registerKernel({ kernelName, backendName, kernelFunc: fn as unknown as tf.KernelFunc });
  }
}
