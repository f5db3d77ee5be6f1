/**
 * The kernels of the CPU training step (`cpu_trainer.ts`), as one interface
 * with two implementations: plain JS (`train_kernels_js.ts`, the reference)
 * and our WebAssembly SIMD module (`train_kernels_wasm.ts`). Every map is
 * NHWC float32; `p = n * h * w` pixels. Arrays come from the set's own
 * `alloc` (the wasm set's views live in its memory). Unless a kernel says
 * "adds", it overwrites its outputs.
 *
 * @module
 */
import type { AdamWStepConstants } from "./_cpu_train_math.ts";
export { adamwConstants, type AdamWScalars, type AdamWStepConstants } from "./_cpu_train_math.ts";

/** The shape of a stride-1 "same" conv whose input is the channel concat `a ‖ b`. */
export interface ConvShape {
  /** Batch. */
  n: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
  /** Channels of `a`. */
  ca: number;
  /** Channels of `b` (0: no second input). */
  cb: number;
  /** Output channels. */
  co: number;
  /** Kernel size: 3 (padding = dilation) or 1. */
  k: 1 | 3;
  /** Dilation. */
  dil: number;
}

/** The CPU training step's kernels. */
export interface TrainKernels {
  /** `js` or `wasm`. */
  readonly name: string;
  /** A zeroed array of `floats` values (setup only, never in a step). */
  alloc(floats: number): Float32Array;
  /**
   * `out[p, co] = bias[co] + Σ w[ky, kx, ci, co] · in[p + ((ky - r)·dil, (kx - r)·dil), ci]`
   * with `in = a ‖ b`, `r = (k - 1) / 2`, zeros outside the map; `w` is HWIO
   * `[k, k, ca + cb, co]`.
   */
  conv(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array | null,
    w: Float32Array,
    bias: Float32Array | null,
    s: ConvShape,
  ): void;
  /**
   * The input gradient of {@linkcode TrainKernels.conv}: `da` (channels of
   * `a`) and `db` (of `b`, when `s.cb > 0`) from `dy` `[p, co]`.
   */
  convInputGrad(
    da: Float32Array,
    db: Float32Array | null,
    dy: Float32Array,
    w: Float32Array,
    s: ConvShape,
  ): void;
  /**
   * The filter gradient `dw` (HWIO, like `w`) and, when given, the bias
   * gradient `dbias[co] = Σ_p dy[p, co]`.
   */
  convFilterGrad(
    dw: Float32Array,
    dbias: Float32Array | null,
    a: Float32Array,
    b: Float32Array | null,
    dy: Float32Array,
    s: ConvShape,
  ): void;
  /**
   * Train-mode BatchNorm then ReLU over `p` pixels of `c` channels:
   * `y = max(0, (x - mean) · invstd · gamma + beta)` with the batch mean and
   * biased variance; writes `mean`, `invstd = 1 / sqrt(var + eps)` and the
   * unbiased variance `varUnbiased = var · p / (p - 1)`.
   */
  bnReluForward(
    y: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    stats: { mean: Float32Array; invstd: Float32Array; varUnbiased: Float32Array },
    p: number,
    c: number,
    eps: number,
  ): void;
  /**
   * The backward of {@linkcode TrainKernels.bnReluForward} from `dy` and the
   * forward's `x`, `y`, `mean`, `invstd`: `g = dy · (y > 0)`,
   * `dbeta = Σ g`, `dgamma = Σ g · xhat`,
   * `dx = gamma · invstd / p · (p · g - dbeta - xhat · dgamma)`.
   */
  bnReluBackward(
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    dy: Float32Array,
    x: Float32Array,
    y: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    invstd: Float32Array,
    p: number,
    c: number,
  ): void;
  /** 2x2 max pool, stride 2, ceil mode (a window past the edge takes its in-map values). */
  pool(out: Float32Array, x: Float32Array, n: number, h: number, w: number, c: number): void;
  /**
   * The pool's input gradient: each `dy` goes to the first maximum of its
   * window (row-major order), as tfjs' `maxPool` gradient does.
   */
  poolGrad(
    dx: Float32Array,
    dy: Float32Array,
    x: Float32Array,
    n: number,
    h: number,
    w: number,
    c: number,
  ): void;
  /**
   * Bilinear resize `[n, h, w, c]` → `[n, oh, ow, c]`, PyTorch's
   * `align_corners=False` (the weights of `bilinearMatrix` in
   * `lib/engines/tfjs/ops.ts`).
   */
  resize(
    out: Float32Array,
    x: Float32Array,
    n: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
  ): void;
  /** The resize's input gradient `dx` `[n, h, w, c]` from `dy` `[n, oh, ow, c]`. */
  resizeGrad(
    dx: Float32Array,
    dy: Float32Array,
    n: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
  ): void;
  /** `dst[i] += src[i]` for `i < len`. */
  accumulate(dst: Float32Array, src: Float32Array, len: number): void;
  /**
   * One AdamW step on `p` (its gradient `g`, moments `m` and `v`), bit for
   * bit `adamwUpdate` (`_cpu_train_math.ts`); a set without it runs that.
   */
  adamw?(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    k: AdamWStepConstants,
  ): void;
  /** Ends the set's threads, if it has any (its arrays stay readable). */
  dispose?(): void;
}
