/**
 * The one place npm packages are named. Every module imports them through
 * this file by full `npm:name@version` specifier, so that importing the
 * module by URL works without our `deno.json` import map.
 *
 * `@tensorflow/tfjs` (not only `-core`) is used because it registers the
 * gradients and the cpu backend as side effects.
 *
 * @module
 */
import * as tfjs from "npm:@tensorflow/tfjs@4.22.0";

// Silences tfjs' "you are running in Node.js, install tfjs-node" banner.
tfjs.env().set("PROD", true);

/**
 * The full `@tensorflow/tfjs@4.22.0` namespace (ops, `tidy`, `memory`,
 * backends, gradients), re-exported as one symbol so that users of this
 * module share its tfjs instance and registered backends. Its documentation
 * is tfjs' own: https://js.tensorflow.org/api/4.22.0/
 *
 * The tensor types used in our public signatures are available as types
 * under the same name (`tf.Tensor4D`, `tf.Variable`, …).
 *
 * @example
 * ```ts
 * import { tf } from "./deps.ts";
 * const x: tf.Tensor4D = tf.zeros([1, 8, 8, 3]);
 * console.log(x.shape); // [1, 8, 8, 3]
 * x.dispose();
 * ```
 */
export const tf: typeof tfjs = tfjs;

/**
 * Type-only companion of {@linkcode tf}: the tfjs types our public
 * signatures use, so that `tf.Tensor4D` etc. work in type positions.
 */
export declare namespace tf {
  /** A tfjs tensor of any rank. */
  export type Tensor = tfjs.Tensor;
  /** A rank-0 tensor. */
  export type Scalar = tfjs.Scalar;
  /** A rank-1 tensor. */
  export type Tensor1D = tfjs.Tensor1D;
  /** A rank-2 tensor. */
  export type Tensor2D = tfjs.Tensor2D;
  /** A rank-3 tensor. */
  export type Tensor3D = tfjs.Tensor3D;
  /** A rank-4 tensor; images are NHWC. */
  export type Tensor4D = tfjs.Tensor4D;
  /** A trainable (mutable) tensor of any rank. */
  export type Variable = tfjs.Variable;
  /** A tensor rank (`R0` … `R6`). */
  export type Rank = tfjs.Rank;
  /** A tensor element type (`"float32"`, `"int32"`, `"bool"`, …). */
  export type DataType = tfjs.DataType;
  /** Nested arrays / maps of tensors, as `tf.tidy` may return. */
  export type TensorContainer = tfjs.TensorContainer;
  /** A map from names to tensors. */
  export type NamedTensorMap = tfjs.NamedTensorMap;
  /** A kernel's view of a tensor (id, shape, dtype). */
  export type TensorInfo = tfjs.TensorInfo;
  /** A backend kernel implementation. */
  export type KernelFunc = tfjs.KernelFunc;
}

/** Loads (and so registers) the WebGPU backend; called by `selectBackend`. */
export const loadWebgpuBackend = (): Promise<unknown> =>
  import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");

/** Loads (and so registers) the wasm backend; called by `selectBackend`. */
export const loadWasmBackend = (): Promise<
  typeof import("npm:@tensorflow/tfjs-backend-wasm@4.22.0")
> => import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");

// The image codecs live in their own module, so that the data loader's
// decode workers load them without tfjs.
export { encodePngBytes, loadJpegWasm, loadPngWasm } from "./deps_codecs.ts";
