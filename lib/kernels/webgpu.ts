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

/** Switches for A/B timing and tests: our WebGPU kernels are on by default. */
export const webgpuKernelSettings: {
  /** Train-mode conv forward and input gradient as our vec4 implicit-GEMM kernel. */
  conv: boolean;
  /** Conv filter gradient as one implicit-GEMM kernel (+ split-K reduction). */
  convFilterGrad: boolean;
  /** Train-mode BatchNorm (+ ReLU) forward and backward as fused kernels. */
  batchNorm: boolean;
  /** AdamW as fused per-parameter kernels. */
  adamw: boolean;
  /** BatchNorm running-stat update as one kernel per buffer. */
  runningStats: boolean;
  /** Training criterion: fused BCE-with-logits forward and gradient kernels. */
  criterion: boolean;
  /** Bilinear resize gradient as one gather kernel (`resize_webgpu.ts`). */
  resizeGrad: boolean;
  /** Conv input gradient's flipped filter as one kernel (`resize_webgpu.ts`). */
  flipFilter: boolean;
} = {
  conv: true,
  convFilterGrad: true,
  batchNorm: true,
  adamw: true,
  runningStats: true,
  criterion: true,
  resizeGrad: true,
  flipFilter: true,
};

/** True when the active backend is tfjs' WebGPU backend. */
export function onWebgpu(): boolean {
  return tf.getBackend() === "webgpu";
}
