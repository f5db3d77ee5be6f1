/**
 * The conv filter gradient on WebGPU as one implicit-GEMM kernel:
 *
 *   dW[t·Ci + ci, co] = Σ_k A[t·Ci + ci, k] · dy[k, co],
 *   A[t·Ci + ci, (b,y,x)] = x[b, y + ky·d − ph, x + kx·d − pw, ci] (0 outside),
 *
 * with t = ky·kw + kx the tap, k = (b·H + y)·W + x the pixel, M = kh·kw·Ci
 * rows and N = Co columns; the [M, N] result is the [kh, kw, Ci, Co] filter
 * gradient. Padding, dilation and the nine taps are read in place (no pad,
 * slice or stack), so one conv's gradient is one dispatch instead of ~21.
 *
 * The reduction over K = B·H·W (up to 1.3M at batch 16, 288²) is split
 * across workgroups ("split-K"): each of S splits writes its partial [M, N]
 * and a second kernel sums the S partials in a fixed order. No atomics: the
 * result is deterministic. Tiles: 64 (or 128) rows x {16, 32, 64} columns
 * (the smallest that covers N), 16 threads along y, 16 k per shared-memory
 * step.
 *
 * @module
 */
import type { tf } from "../../deps.ts";
import {
  currentTuning,
  disposeInfos,
  i32,
  registerWebgpuKernels,
  runCall,
  type WgslCall,
} from "../webgpu.ts";
import { filterGradCode, filterGradToOneCode, filterGradVec4Code } from "./_conv_grad_wgsl.ts";
import { convTileN } from "./conv_wgsl.ts";
import { scalarUnrolled } from "./scalar_tile_wgsl.ts";

/** Kernel names. */
export const CONV_GRAD_KERNELS = { filterGrad: "U2NetConvFilterGrad" } as const;

const TK = 16; // pixels per shared-memory step (the shaders' 16)

/** The split of K for tiles of `tm` rows: [splits, chunk] with chunk a multiple of TK. */
export function splitK(m: number, n: number, k: number, tm = 64): [number, number] {
  const tiles = Math.ceil(m / tm) * Math.ceil(n / convTileN(n));
  const maxSplits = Math.max(1, Math.ceil(k / currentTuning().gradMinChunk));
  const want = Math.max(
    1,
    Math.min(maxSplits, Math.ceil(currentTuning().gradTargetWorkgroups / tiles)),
  );
  const chunk = Math.ceil(k / want / TK) * TK;
  return [Math.ceil(k / chunk), chunk];
}

const SUM_SPLITS_CODE = `
fn main(index : i32) {
  if (index < uniforms.size) {
    var acc = 0.0;
    for (var s = 0; s < uniforms.splits; s++) { acc += p[s * uniforms.size + index]; }
    result[index] = acc;
  }
}`;

interface Attrs {
  kh: number;
  kw: number;
  dilation: number;
}

/**
 * The filter gradient of a stride-1 "same" conv of x `[B,H,W,Ci]` with a
 * `[kh,kw,Ci,Co]` filter as program calls: the implicit GEMM (writing
 * `[splits, kh·kw·Ci, Co]` partials) and, when K is split, the sum of the
 * splits in split order into `[kh,kw,Ci,Co]`. `half`: the vec4 GEMM's tiles
 * in f16 (`FilterGradShaderOptions.half`; the scalar and one-channel ones
 * stay f32).
 */
export function filterGradCalls(
  xShape: readonly number[],
  co: number,
  kh: number,
  kw: number,
  dilation: number,
  x2Channels = 0,
  half = false,
): { gemm: WgslCall; sum?: WgslCall } {
  const [b, h, w, c1] = xShape;
  const ci = c1 + x2Channels, concat = x2Channels > 0;
  const m = kh * kw * ci, k = b * h * w, tn = convTileN(co);
  // vec4 kernel when channels come in fours (all but the RGB and side convs).
  const quads = c1 % 4 === 0 && x2Channels % 4 === 0 && co % 4 === 0;
  // One output channel from channels in fours (the side convs): a reduction per row quad.
  const toOne = co === 1 && c1 % 4 === 0 && !concat;
  const t = currentTuning();
  const { rows, unrolled } = quads ? { rows: t.gradRows, unrolled: t.gradUnrolled } : {
    rows: 64 as const,
    unrolled: scalarUnrolled(t.gradUnrolled),
  };
  const cols = quads && unrolled ? t.gradCols : 1;
  const prefetch = quads && unrolled && t.gradPrefetch;
  const [splits, chunk] = splitK(m, co, k, rows);
  if (concat && !quads) {
    throw new RangeError(
      `Cannot plan a concat filter gradient: current channels are ${c1}+${x2Channels} → ${co}`,
    );
  }
  const uniforms = [
    i32(m),
    i32(k),
    i32(chunk),
    i32(kw),
    i32(dilation),
    i32(((kh - 1) / 2) * dilation),
    i32(((kw - 1) / 2) * dilation),
  ];
  const gemm: WgslCall = toOne ? toOneCall(m, splits, uniforms) : {
    spec: {
      key: `u2netConvFilterGrad_${quads ? `v${rows}${unrolled ? "u" : ""}x` : ""}${tn}${
        !quads && unrolled ? "u" : ""
      }${concat ? "_cat" : ""}${quads && half ? "_h" : ""}${cols > 1 ? `_c${cols}` : ""}${
        prefetch ? "_p" : ""
      }`,
      outputShape: [splits, m, co],
      inputs: concat ? ["x", "x2", "dy"] : ["x", "dy"],
      workgroupSize: quads ? [tn / 4 / cols, 16, 1] : [16, 16, 1],
      dispatch: [Math.ceil(co / tn), Math.ceil(m / rows), splits],
      uniforms: "m : i32, k : i32, chunk : i32, kw : i32, dil : i32, ph : i32, pw : i32,",
      code: quads
        ? filterGradVec4Code(tn, { concat, rows, unrolled, half, cols, prefetch })
        : filterGradCode(tn, unrolled),
      ...(quads ? { components: { inputs: concat ? [4, 4, 4] : [4, 4], output: 4 } } : {}),
    },
    uniforms,
  };
  if (splits === 1) return { gemm };
  const sum: WgslCall = {
    spec: {
      key: "u2netSumSplits",
      outputShape: [kh, kw, ci, co],
      inputs: ["p"],
      workgroupSize: [64, 1, 1],
      uniforms: "splits : i32,",
      code: SUM_SPLITS_CODE,
    },
    uniforms: [i32(splits)],
  };
  return { gemm, sum };
}

/** The one-output-channel program (`filterGradToOneCode`) with the filter gradient's uniforms. */
function toOneCall(m: number, splits: number, uniforms: WgslCall["uniforms"]): WgslCall {
  return {
    spec: {
      key: "u2netConvFilterGrad_one",
      outputShape: [splits, m, 1],
      inputs: ["x", "dy"],
      workgroupSize: [256, 1, 1],
      dispatch: [1, Math.ceil(m / 64), splits],
      uniforms: "m : i32, k : i32, chunk : i32, kw : i32, dil : i32, ph : i32, pw : i32,",
      code: filterGradToOneCode(),
      components: { inputs: [4, 1], output: 4 },
    },
    uniforms,
  };
}

function filterGradKernel(
  { inputs, backend, attrs }: { inputs: tf.NamedTensorMap; backend: unknown; attrs?: unknown },
): tf.TensorInfo {
  const { x, dy } = inputs as unknown as Record<string, tf.TensorInfo>;
  const { kh, kw, dilation } = attrs as Attrs;
  const [, , , ci] = x.shape;
  const co = dy.shape[3];
  const { gemm, sum } = filterGradCalls(x.shape, co, kh, kw, dilation);
  const partial = runCall(backend, gemm, [x, dy]);
  if (!sum) return { ...partial, shape: [kh, kw, ci, co] };
  const out = runCall(backend, sum, [partial]);
  disposeInfos(backend, [partial]);
  return out;
}

/** Registers the kernels on the webgpu backend (idempotent). */
export function ensureConvGradKernels(): void {
  registerWebgpuKernels({
    [CONV_GRAD_KERNELS.filterGrad]: filterGradKernel as unknown as tf.KernelFunc,
  });
}
