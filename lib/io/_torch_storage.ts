/**
 * PyTorch storages as the .pth readers see them, and the copy of a strided
 * tensor view out of one into a contiguous {@linkcode RawTensor}.
 *
 * @module
 */
import type { PickleTensor } from "./_pickle_globals.ts";
import { numElements, type RawDType, type RawTensor, toFloat32 } from "./raw_tensor.ts";

/** A storage named by a persistent id; `bytes` is filled once its data is located. */
export interface TorchStorage {
  /** Storage key in the file. */
  key: string;
  /** Element type as stored (BF16 is converted on copy). */
  dtype: RawDType | "BF16";
  /** Bytes per element. */
  elemBytes: number;
  /** Number of elements. */
  numel: number;
  /** Raw little-endian data (exactly `numel * elemBytes` bytes) once known. */
  bytes?: Uint8Array;
  /** For legacy views: the root storage and the element offset into it. */
  root?: { storage: TorchStorage; offset: number };
}

const STORAGE_TYPES: Record<string, [RawDType | "BF16", number]> = {
  FloatStorage: ["F32", 4],
  DoubleStorage: ["F64", 8],
  HalfStorage: ["F16", 2],
  BFloat16Storage: ["BF16", 2],
  LongStorage: ["I64", 8],
  IntStorage: ["I32", 4],
  ShortStorage: ["I16", 2],
  CharStorage: ["I8", 1],
  ByteStorage: ["U8", 1],
  BoolStorage: ["BOOL", 1],
  UntypedStorage: ["U8", 1],
};

/** Element type and size of a `torch.XxxStorage` class name; throws for others. */
export function storageType(name: string): [RawDType | "BF16", number] {
  const t = STORAGE_TYPES[name];
  if (!t) throw new TypeError(`Cannot read .pth: current storage type is torch.${name}`);
  return t;
}

function rootBytes(s: TorchStorage): { bytes: Uint8Array; offset: number } {
  if (s.root) {
    const r = rootBytes(s.root.storage);
    return { bytes: r.bytes, offset: r.offset + s.root.offset };
  }
  if (!s.bytes) throw new RangeError(`Cannot read .pth: storage "${s.key}" has no data`);
  return { bytes: s.bytes, offset: 0 };
}

const CTORS = {
  F32: Float32Array,
  F64: Float64Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as const;

/**
 * Copies a (possibly strided, offset) tensor view out of its storage.
 * Floating tensors (F64, F16, BF16) come back as F32; integers keep their type.
 */
export function materialize(t: PickleTensor, name: string): RawTensor {
  const s = t.storage as TorchStorage;
  if (!s || typeof s !== "object" || !("elemBytes" in s)) {
    throw new TypeError(`Cannot read tensor "${name}": current storage is not a torch storage`);
  }
  const { bytes, offset: base } = rootBytes(s);
  const n = numElements(t.shape);
  if (t.stride.length !== t.shape.length || t.shape.some((d) => d < 0)) {
    throw new RangeError(`Cannot read tensor "${name}": current shape/stride are invalid`);
  }
  // Largest element index touched, to bound-check once.
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) last += Math.max(0, t.shape[d] - 1) * t.stride[d];
  const limit = bytes.byteLength / s.elemBytes - base;
  if (n > 0 && (t.offset < 0 || last >= limit || t.stride.some((x) => x < 0))) {
    throw new RangeError(
      `Cannot read tensor "${name}": current view (offset ${t.offset}, shape [${t.shape}], ` +
        `stride [${t.stride}]) lies outside its storage of ${limit} elements`,
    );
  }
  if (n > limit) {
    // A stride-0 view could otherwise ask for any size from a tiny storage.
    throw new RangeError(
      `Cannot read tensor "${name}": current view has ${n} elements, more than its storage's ${limit}`,
    );
  }
  const eb = s.elemBytes;
  const out = new Uint8Array(n * eb);
  let contiguous = true;
  for (let d = t.shape.length - 1, want = 1; d >= 0; d--) {
    if (t.shape[d] !== 1 && t.stride[d] !== want) contiguous = false;
    want *= t.shape[d];
  }
  const start = (base + t.offset) * eb;
  if (contiguous) {
    out.set(bytes.subarray(start, start + n * eb));
  } else {
    const idx = new Array(t.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let off = 0;
      for (let d = 0; d < idx.length; d++) off += idx[d] * t.stride[d];
      out.set(bytes.subarray(start + off * eb, start + (off + 1) * eb), i * eb);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < t.shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  const data = new CTORS[s.dtype](out.buffer, 0, n);
  const shape = [...t.shape];
  if (s.dtype === "BF16") {
    const f = new Float32Array(n);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < n; i++) u[i] = (data[i] as number) << 16;
    return { dtype: "F32", shape, data: f };
  }
  if (s.dtype === "F16" || s.dtype === "F64") {
    return { dtype: "F32", shape, data: toFloat32({ dtype: s.dtype, shape, data }) };
  }
  return { dtype: s.dtype, shape, data };
}
