/**
 * The vec4 conv shader's options and tile geometry (`conv_wgsl.ts`): tile
 * widths, threads and register tiles, and the f16 store helpers shared
 * with the engine's other shaders.
 *
 * @module
 */

/** Largest finite f16. */
export const F16_MAX = 65504;

/**
 * WGSL that rounds the f32 vec4 expression `v` to f16, clamped to the
 * finite range first (WGSL leaves an out-of-range conversion undefined).
 */
export function halfStore4(v: string): string {
  return `vec4<f16>(clamp(${v}, vec4<f32>(-${F16_MAX}.0), vec4<f32>(${F16_MAX}.0)))`;
}

/** {@linkcode halfStore4} for a scalar f32 expression. */
export function halfStore(v: string): string {
  return `f16(clamp(${v}, -${F16_MAX}.0, ${F16_MAX}.0))`;
}

/** Conv tile width (output channels per workgroup) for `co` output channels. */
export function convTileN(co: number): number {
  return co <= 16 ? 16 : co <= 32 ? 32 : 64;
}

/**
 * The workgroup of a `convShaderVec4` tile: rows per thread `rm`
 * (4, or more so that a workgroup stays within 256 threads) and threads
 * along y `wy`; the x size is `tn / 4`.
 */
export function convThreads(tm: number, tn: number): { rm: number; wy: number } {
  const rm = Math.max(4, (tm * tn) / 4 / 256);
  return { rm, wy: tm / rm };
}

/** Options of `convShaderVec4` (`conv_wgsl.ts`) and `convToOneShader` (`conv_one_wgsl.ts`). */
export interface ConvShaderOptions {
  /**
   * tfjs mode: tfjs' header supplies the bindings (`result`, `A`, `Wt`) and
   * `uniforms`; one input, no bias, no residual. @default false
   */
  tfjs?: boolean;
  /**
   * Engine mode: `Wt` is the *forward* filter `[k,k,Co,C1]` of the conv this
   * one is the input gradient of, read flipped in space and transposed in
   * channels (`w'[ky,kx,c,o] = w[k−1−ky,k−1−kx,o,c]`), so no flipped copy is
   * needed. @default false
   */
  flipped?: boolean;
  /**
   * Engine mode: output channels `[0, p.split)` go to `result` (`[M, split]`)
   * and the rest to `result2` (binding 6, `[M, Co − split]`; the uniforms
   * move to binding 7): the input gradient of a concat, written as its two
   * parts. @default false
   */
  split?: boolean;
  /**
   * Per-thread arrays (pixel walkers, accumulators) and fixed loops unrolled
   * into scalars when the WGSL is written; the same sums in the same order.
   * @default false
   */
  unrolled?: boolean;
  /**
   * Engine mode, split K: workgroup z sums K values `[z·chunk, (z+1)·chunk)`
   * (uniform `chunk`, a multiple of 16) and writes its raw sums to `result`
   * at `[z, M, Co]`, with no bias, ReLU or residual (bindings 3 and 5 are
   * not declared); a `splitsum` dispatch adds the parts in order and
   * finishes. For layers with too few tiles to fill the GPU. @default false
   */
  splitK?: boolean;
  /**
   * Engine mode, mixed precision (needs `shader-f16`): activations, the
   * residual and the filter are f16 (`result` too, except the f32 parts of
   * a split-K conv), the tiles in workgroup memory f16, the bias f32. Each
   * 16-k step's products are summed in f16 ({@linkcode halfSums}) or f32,
   * and the steps always in f32; the epilogue runs in f32 and the store
   * rounds once to f16, clamped to its finite range. Not with `flipped` or
   * `split`. @default false
   */
  half?: boolean;
  /**
   * With `half`: each 16-k step's products summed in f16 (packed f16
   * arithmetic, twice the f32 rate on GPUs that have it) before the f32
   * running sum; false: f16 values widened and summed in f32. @default true
   */
  halfSums?: boolean;
  /**
   * With `half`: the filter `Wt` is stored in f16 too; false: in f32 (the
   * training step's master weights), rounded to f16 as the tile loads it.
   * @default true
   */
  halfFilter?: boolean;
  /**
   * Engine mode, mixed-precision training: the maps, filter and result stay
   * f32 but the workgroup tiles are f16 (each value rounded once as it is
   * loaded; one past f16's range becomes ±inf, which the trainer's loss
   * scaling detects) and each 16-k step's products are summed in f16, the
   * steps in f32. Works with `flipped` and `split`. @default false
   */
  tiles16?: boolean;
  /**
   * Engine mode, unrolled only: rows a thread owns (a divisor of `tm`;
   * {@linkcode convThreads}' choice when omitted). @default undefined
   */
  threadRows?: number;
  /**
   * Engine mode, unrolled only: vec4 column groups a thread owns, `tn / 4 /
   * cols` apart (2: an 8-channel register tile, half the workgroup-memory
   * loads per product of 1). The same sums in the same order either way.
   * @default 1
   */
  cols?: 1 | 2;
  /**
   * Engine mode, unrolled only: double buffering. Step k+1's loads go to
   * registers before step k's products and to the other half of twice the
   * workgroup memory after them, so one barrier a step (not two) and the
   * loads' latency overlaps the arithmetic. The same sums. @default false
   */
  prefetch?: boolean;
}

/**
 * The register tile of `regs` (`Tuning.convRegs`) for a `tn`-channel tile:
 * 8 rows x 8 channels (8 x 4 where `tn` is 16), or the default (4 x 4).
 */
export function convWideTile(
  regs: 4 | 8,
  tn: number,
): Pick<ConvShaderOptions, "threadRows" | "cols"> {
  return regs === 8 ? { threadRows: 8, cols: tn >= 32 ? 2 : 1 } : {};
}

/**
 * A `convShaderVec4` workgroup: threads along x (`tn / 4 / cols`)
 * and y (`tm / rows`), from the options' `threadRows` and `cols`.
 */
export function convWorkgroup(
  tm: number,
  tn: number,
  options: Pick<ConvShaderOptions, "threadRows" | "cols"> = {},
): { rm: number; wx: number; wy: number; cols: number } {
  const cols = options.cols ?? 1, rm = options.threadRows ?? convThreads(tm, tn).rm;
  const wx = tn / 4 / cols, wy = tm / rm;
  if (!Number.isInteger(wx) || !Number.isInteger(wy) || wx * wy > 256 || (wx * wy) % 4) {
    throw new RangeError(`Cannot tile: current value is ${tm}x${tn}, ${rm} rows x ${cols} quads`);
  }
  return { rm, wx, wy, cols };
}
