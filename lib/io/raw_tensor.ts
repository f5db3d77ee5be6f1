/**
 * Host-side tensors: the currency of state dicts and weight files.
 *
 * @module
 */

/** Element types a {@linkcode RawTensor} can hold (safetensors spelling). */
export type RawDType = "F32" | "F16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** A typed array that can back a {@linkcode RawTensor}. */
export type RawData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

/**
 * A host tensor in PyTorch layout (NCHW activations, OIHW conv weights).
 *
 * @example
 * ```ts
 * import type { RawTensor } from "./raw_tensor.ts";
 * const t: RawTensor = { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) };
 * ```
 */
export interface RawTensor {
  /** Element type. */
  dtype: RawDType;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** Elements in row-major order. `F16` data is kept as raw `Uint16Array` bits. */
  data: RawData;
}

/** A state dict: names (PyTorch keys) to host tensors, in insertion order. */
export type StateDict = Map<string, RawTensor>;

/** Number of elements of a shape. */
export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes per element of each {@linkcode RawDType}. */
export const DTYPE_BYTES: Readonly<Record<RawDType, number>> = {
  F32: 4,
  F16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Converts any numeric raw tensor's data to a new Float32Array. */
export function toFloat32(t: RawTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.dtype === "F16") return f16ToF32(t.data as Uint16Array);
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}

function f16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) out[i] = s * 2 ** -14 * (f / 1024);
    else if (e === 31) out[i] = f ? NaN : s * Infinity;
    else out[i] = s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return out;
}
