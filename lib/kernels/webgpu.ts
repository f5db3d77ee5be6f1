/**
 * Our own WGSL kernels on tfjs' WebGPU backend, registered as tfjs kernels
 * under our own names (no built-in kernel is replaced).
 *
 * tfjs writes each shader's header: one `result` output buffer (binding 0),
 * one read-only `array<f32>` per name in `variableNames` (bindings 1…), and a
 * `uniforms` struct holding every input's and the output's shape and strides
 * (`uniforms.xShape`, `uniforms.outShape`, …) plus the fields declared in
 * `uniforms`, filled per dispatch from `runWgsl`'s values. A flat program
 * (`flat: true`) writes `fn main(index : i32)` and guards `index <
 * uniforms.size`; a grid program writes `fn main()` and reads the builtins
 * `workgroupId`, `localId`, `localIndex`. Pipelines are cached by `key`
 * (plus input ranks), so shapes must come from uniforms, not from the code.
 *
 * @module
 */
import { tf } from "../deps.ts";

/** One uniform value as tfjs' WebGPU backend takes it. */
export interface WgslUniform {
  /** WGSL type: `int32` → i32, `float32` → f32. */
  type: "int32" | "float32";
  /** The values (one for a scalar field). */
  data: number[];
}

/** The description of one WGSL program. */
export interface WgslSpec {
  /** Pipeline cache key: must change whenever `code` does. */
  key: string;
  /** Output shape. */
  outputShape: number[];
  /** Input buffer names, in input order. */
  inputs: string[];
  /** Workgroup size. */
  workgroupSize: [number, number, number];
  /** Grid programs: the workgroup counts. Flat programs: omitted (one invocation per output). */
  dispatch?: [number, number, number];
  /** Extra uniform fields, WGSL struct syntax (`"k : i32, lr : f32,"`). */
  uniforms?: string;
  /** Flat programs: invocations when not one per output value (vec4 outputs: size / 4). */
  invocations?: number;
  /** Vector width of each input's and the output's elements (`array<vec4<f32>>` for 4). @default 1 */
  components?: { inputs: number[]; output: number };
  /** The shader body: `fn main(index : i32)` (flat) or `fn main()` (grid) and helpers. */
  code: string;
}

interface Program {
  shaderKey: string;
  outputShape: number[];
  variableNames: string[];
  workgroupSize: [number, number, number];
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  uniforms?: string;
  size?: boolean;
  variableComponents?: number[];
  outputComponent?: number;
  getUserCode(): string;
}

interface WebGpuBackendLike {
  runWebGPUProgram(
    program: Program,
    inputs: tf.TensorInfo[],
    dtype: string,
    uniforms?: WgslUniform[],
  ): tf.TensorInfo;
}

/**
 * One program invocation: its description and uniform values. Kernels build
 * these with pure functions of shapes, so the same WGSL runs on tfjs
 * (`runWgsl`) and in the recorded training step (`wgsl_standalone.ts`).
 */
export interface WgslCall {
  /** The program. */
  spec: WgslSpec;
  /** Values of the fields declared in `spec.uniforms`, in order. */
  uniforms: WgslUniform[];
}

/** {@linkcode runWgsl} of a {@linkcode WgslCall}. */
export function runCall(backend: unknown, call: WgslCall, inputs: tf.TensorInfo[]): tf.TensorInfo {
  return runWgsl(backend, call.spec, inputs, call.uniforms);
}

/**
 * Runs one WGSL program on tfjs' WebGPU backend (inside a kernel function)
 * and returns its float32 output.
 */
export function runWgsl(
  backend: unknown,
  spec: WgslSpec,
  inputs: tf.TensorInfo[],
  uniforms: WgslUniform[] = [],
): tf.TensorInfo {
  const flat = spec.dispatch === undefined;
  const wg = spec.workgroupSize;
  const size = spec.outputShape.reduce((a, b) => a * b, 1);
  const program: Program = {
    shaderKey: spec.key,
    outputShape: spec.outputShape,
    variableNames: spec.inputs,
    workgroupSize: wg,
    // A grid program's layout has a rank no output has, so tfjs writes no
    // getOutputCoords for it; a flat one maps every output dim to x.
    dispatchLayout: flat
      ? { x: spec.outputShape.map((_, i) => i) }
      : { x: [0], y: [1], z: [2, 3, 4, 5, 6] },
    dispatch: spec.dispatch ??
      [Math.ceil((spec.invocations ?? size) / (wg[0] * wg[1] * wg[2])), 1, 1],
    uniforms: spec.uniforms,
    size: flat,
    ...(spec.components
      ? { variableComponents: spec.components.inputs, outputComponent: spec.components.output }
      : {}),
    getUserCode: () => spec.code,
  };
  return (backend as WebGpuBackendLike).runWebGPUProgram(program, inputs, "float32", uniforms);
}

/**
 * Workgroup counts for `n` elements at `perGroup` per workgroup, spread
 * evenly over x and y so neither passes 65535 (for programs indexing with
 * tfjs' `getGlobalIndex()`).
 */
export function spreadGroups(n: number, perGroup: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / perGroup));
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

/** An i32 uniform value for {@linkcode runWgsl}. */
export function i32(v: number): WgslUniform {
  return { type: "int32", data: [v] };
}

/** An f32 uniform value for {@linkcode runWgsl}. */
export function f32(v: number): WgslUniform {
  return { type: "float32", data: [v] };
}

/** Frees intermediate outputs of {@linkcode runWgsl} inside a kernel function. */
export function disposeInfos(backend: unknown, infos: tf.TensorInfo[]): void {
  for (const info of infos) (backend as { disposeData(id: object): void }).disposeData(info.dataId);
}

/** tfjs' WebGPU device (undefined unless the webgpu backend is active). */
export function tfjsDevice(): GPUDevice | undefined {
  if (!onWebgpu()) return undefined;
  return (tf.backend() as unknown as { device?: GPUDevice }).device;
}

/** Registers kernels for the `webgpu` backend once (kernel name → function). */
export function registerWebgpuKernels(kernels: Record<string, tf.KernelFunc>): void {
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    if (tf.getKernel(kernelName, "webgpu")) continue;
    tf.registerKernel({ kernelName, backendName: "webgpu", kernelFunc });
  }
}

/**
 * Our WebGPU kernels' switches and the conv tiling, as one readonly options
 * object: each switch turns one of our kernels on (off: tfjs' own ops, for
 * A/B timing and parity tests); `convRows`/`convUnrolled` tile the vec4 conv
 * shader (`conv_wgsl.ts`). Engines take one (`createEngine(model, { tuning })`)
 * and apply it around their own calls with {@linkcode withTuning}; kernels
 * read the one in force with {@linkcode currentTuning}.
 */
export interface Tuning {
  /** Train-mode conv forward and input gradient as our vec4 implicit-GEMM kernel. @default true */
  readonly conv: boolean;
  /** Conv filter gradient as one implicit-GEMM kernel (+ split-K reduction). @default true */
  readonly convFilterGrad: boolean;
  /** Train-mode BatchNorm (+ ReLU) forward and backward as fused kernels. @default true */
  readonly batchNorm: boolean;
  /** AdamW as fused per-parameter kernels. @default true */
  readonly adamw: boolean;
  /** BatchNorm running-stat update as one kernel per buffer. @default true */
  readonly runningStats: boolean;
  /** Training criterion: fused BCE-with-logits forward and gradient kernels. @default true */
  readonly criterion: boolean;
  /** Bilinear resize gradient as one gather kernel (`resize_webgpu.ts`). @default true */
  readonly resizeGrad: boolean;
  /** Conv input gradient's flipped filter as one kernel (`resize_webgpu.ts`). @default true */
  readonly flipFilter: boolean;
  /**
   * Conv pixels per workgroup tile of the recorded training step (the tfjs
   * conv kernel keeps 64). @default 64
   */
  readonly convRows: 64 | 128;
  /**
   * Register tile of the recorded training step's vec4 convs: each thread
   * owns 4 rows x 4 channels, or 8 rows x 8 channels (x 4 on 16-channel
   * tiles): half the workgroup-memory loads a product, the same bits
   * (`convWideTile`). Not yet timed on a GPU. @default 4
   */
  readonly convRegs: 4 | 8;
  /**
   * Double buffering in the training step's unrolled vec4 convs (one
   * barrier a step, the next step's loads overlapping the products; the
   * same bits, `ConvShaderOptions.prefetch`). Not yet timed on a GPU.
   * @default false
   */
  readonly convPrefetch: boolean;
  /**
   * The unrolled conv shader (measured 3-4x faster on an H200, 2026-11-27:
   * lite b16 step 465 -> 150 ms). @default true
   */
  readonly convUnrolled: boolean;
  /**
   * The scalar conv and filter-gradient shaders (the RGB input layer) unrolled
   * where their caller asks for unrolled shaders. @default true
   */
  readonly scalarUnrolled: boolean;
  /** Filter-gradient dW rows per tile (channel counts in fours). @default 64 */
  readonly gradRows: 64 | 128;
  /** The unrolled filter-gradient shader. @default true */
  readonly gradUnrolled: boolean;
  /**
   * vec4 column groups a thread of the unrolled filter gradient owns: 1 (4
   * channels) or 2 (8: half the workgroup-memory loads a product, the same
   * bits). Not yet timed on a GPU. @default 1
   */
  readonly gradCols: 1 | 2;
  /**
   * Double buffering in the unrolled filter gradient (one barrier a step;
   * the same bits). Not yet timed on a GPU. @default false
   */
  readonly gradPrefetch: boolean;
  /**
   * Workgroups the filter gradient's split K aims at in all (2,048: 1% faster
   * than 1,024 on an H200, 2026-11-27). @default 2048
   */
  readonly gradTargetWorkgroups: number;
  /** Fewest pixels per split of the filter gradient's K (tests lower it). @default 1024 */
  readonly gradMinChunk: number;
}

/** The kernel switches of {@linkcode Tuning} (our kernel on or tfjs' ops). */
export const TUNING_SWITCHES = [
  "conv",
  "convFilterGrad",
  "batchNorm",
  "adamw",
  "runningStats",
  "criterion",
  "resizeGrad",
  "flipFilter",
] as const;

/**
 * Default {@linkcode Tuning}: every kernel of ours on, conv tiles of 64 rows, unrolled.
 *
 * @example
 * ```ts
 * import { DEFAULT_TUNING } from "./webgpu.ts";
 * DEFAULT_TUNING.convRows; // 64
 * ```
 */
export const DEFAULT_TUNING: Tuning = Object.freeze({
  conv: true,
  convFilterGrad: true,
  batchNorm: true,
  adamw: true,
  runningStats: true,
  criterion: true,
  resizeGrad: true,
  flipFilter: true,
  convRows: 64,
  convRegs: 4,
  convPrefetch: false,
  convUnrolled: true,
  scalarUnrolled: true,
  gradRows: 64,
  gradUnrolled: true,
  gradCols: 1,
  gradPrefetch: false,
  gradTargetWorkgroups: 2048,
  gradMinChunk: 1024,
});

let current: Tuning = DEFAULT_TUNING;

/**
 * A complete, frozen {@linkcode Tuning}: `changes` over `base`.
 *
 * @throws {TypeError} For an unknown field or a switch that is not a boolean.
 * @throws {RangeError} For `convRows` other than 64 or 128, `convRegs` other than 4 or 8,
 *   `gradCols` other than 1 or 2.
 * @example
 * ```ts
 * import { resolveTuning } from "./webgpu.ts";
 * resolveTuning({ conv: false }).conv; // false
 * ```
 */
export function resolveTuning(
  changes: Partial<Tuning> = {},
  base: Tuning = DEFAULT_TUNING,
): Tuning {
  if (Object.keys(changes).length === 0) return base;
  const t = { ...base, ...changes };
  for (const key of Object.keys(changes)) {
    if (!(key in DEFAULT_TUNING)) {
      throw new TypeError(`Cannot tune: current field is "${key}"`);
    }
  }
  for (
    const key of [
      ...TUNING_SWITCHES,
      "convUnrolled",
      "convPrefetch",
      "scalarUnrolled",
      "gradUnrolled",
      "gradPrefetch",
    ] as const
  ) {
    if (typeof t[key] !== "boolean") {
      throw new TypeError(`Cannot tune ${key}: current value is ${t[key]}`);
    }
  }
  for (const key of ["convRows", "gradRows"] as const) {
    if (t[key] !== 64 && t[key] !== 128) {
      throw new RangeError(`Cannot tune ${key}: current value is ${t[key]}`);
    }
  }
  if (t.convRegs !== 4 && t.convRegs !== 8) {
    throw new RangeError(`Cannot tune convRegs: current value is ${t.convRegs}`);
  }
  if (t.gradCols !== 1 && t.gradCols !== 2) {
    throw new RangeError(`Cannot tune gradCols: current value is ${t.gradCols}`);
  }
  for (const key of ["gradTargetWorkgroups", "gradMinChunk"] as const) {
    if (!Number.isInteger(t[key]) || t[key] < 1) {
      throw new RangeError(`Cannot tune ${key}: current value is ${t[key]}`);
    }
  }
  return Object.freeze(t);
}

/**
 * The {@linkcode Tuning} in force: {@linkcode DEFAULT_TUNING} outside any
 * {@linkcode withTuning} scope.
 *
 * @example
 * ```ts
 * import { currentTuning } from "./webgpu.ts";
 * currentTuning().conv; // true
 * ```
 */
export function currentTuning(): Tuning {
  return current;
}

/**
 * Runs `fn` with `tuning` (changes over the tuning in force) in force, and
 * restores the previous one when `fn` returns or, for a promise, settles.
 * Scopes nest; two async scopes with different tunings should not overlap
 * (the second would see the first's restore).
 *
 * @example
 * ```ts
 * import { currentTuning, withTuning } from "./webgpu.ts";
 * withTuning({ conv: false }, () => currentTuning().conv); // false
 * currentTuning().conv; // true
 * ```
 */
export function withTuning<T>(tuning: Partial<Tuning> | undefined, fn: () => T): T {
  if (!tuning || tuning === current) return fn();
  const restore = enterTuning(tuning);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

/**
 * Puts `tuning` (changes over the tuning in force) in force until the
 * returned function is called: the scope of a whole program (a benchmark's
 * `--tiling`); elsewhere use {@linkcode withTuning}.
 *
 * @example
 * ```ts
 * import { currentTuning, enterTuning } from "./webgpu.ts";
 * const restore = enterTuning({ convRows: 128 });
 * currentTuning().convRows; // 128
 * restore();
 * ```
 */
export function enterTuning(tuning: Partial<Tuning>): () => void {
  const prev = current;
  current = resolveTuning(tuning, prev);
  return () => {
    current = prev;
  };
}

/** True when the active backend is tfjs' WebGPU backend. */
export function onWebgpu(): boolean {
  return tf.getBackend() === "webgpu";
}
