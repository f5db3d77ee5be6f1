/**
 * A minimal safetensors reader and writer (8-byte little-endian header
 * length, JSON header, raw little-endian data), compatible with
 * `safetensors.torch.load_file` / `save_file`.
 *
 * @module
 */
import {
  DTYPE_BYTES,
  numElements,
  type RawData,
  type RawDType,
  type StateDict,
} from "./raw_tensor.ts";

/** What {@linkcode readSafetensors} returns. */
export interface SafetensorsFile {
  /** Tensors in file order. */
  tensors: StateDict;
  /** The `__metadata__` string map, empty when absent. */
  metadata: Record<string, string>;
}

const CTORS: Record<RawDType, (b: ArrayBuffer, n: number) => RawData> = {
  F32: (b, n) => new Float32Array(b, 0, n),
  F16: (b, n) => new Uint16Array(b, 0, n),
  F64: (b, n) => new Float64Array(b, 0, n),
  I64: (b, n) => new BigInt64Array(b, 0, n),
  I32: (b, n) => new Int32Array(b, 0, n),
  I16: (b, n) => new Int16Array(b, 0, n),
  I8: (b, n) => new Int8Array(b, 0, n),
  U8: (b, n) => new Uint8Array(b, 0, n),
  BOOL: (b, n) => new Uint8Array(b, 0, n),
};

/**
 * Parses a safetensors file. Every tensor gets its own aligned copy.
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const bytes = writeSafetensors(new Map([["a", { dtype: "F32", shape: [1], data: new Float32Array([3]) }]]));
 * readSafetensors(bytes).tensors.get("a")!.data[0]; // 3
 * ```
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw new RangeError(`Cannot read safetensors: current size is ${bytes.byteLength} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.byteLength - 8 || headerLen > 100_000_000) {
    throw new RangeError(`Cannot read safetensors: current header length is ${headerLen}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw new TypeError("Cannot read safetensors: current header is not valid JSON");
  }
  const base = 8 + headerLen;
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offs } = (entry ?? {}) as {
      dtype: RawDType;
      shape: number[];
      data_offsets: [number, number];
    };
    const ctor = CTORS[dtype];
    if (!ctor) throw new TypeError(`Cannot read tensor "${name}": current dtype is ${dtype}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(
        `Cannot read tensor "${name}": current shape is ${JSON.stringify(shape)}`,
      );
    }
    const n = numElements(shape);
    const [start, end] = Array.isArray(offs) ? offs : [NaN, NaN];
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end ||
      end - start !== n * DTYPE_BYTES[dtype] || base + end > bytes.byteLength
    ) {
      throw new RangeError(
        `Cannot read tensor "${name}": current data offsets are ${start}..${end} ` +
          `(shape [${shape}] of ${dtype} needs ${n * DTYPE_BYTES[dtype]} bytes, ` +
          `${bytes.byteLength - base} after the header)`,
      );
    }
    spans.push([start, end, name]);
  }
  // As the reference implementation: tensors tile the data exactly, no overlap, no gap.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [start, end, name] of spans) {
    if (start !== at) {
      throw new RangeError(
        `Cannot read tensor "${name}": current data offsets ${start}..${end} ` +
          (start < at
            ? `overlap the tensor before it (which ends at ${at})`
            : `leave a gap after byte ${at}`),
      );
    }
    at = end;
  }
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [start, end] } = entry as {
      dtype: RawDType;
      shape: number[];
      data_offsets: [number, number];
    };
    const copy = bytes.slice(base + start, base + end);
    tensors.set(name, {
      dtype,
      shape: [...shape],
      data: CTORS[dtype](copy.buffer, numElements(shape)),
    });
  }
  return { tensors, metadata };
}

/**
 * Serialises tensors (in map order) to safetensors bytes.
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors.ts";
 * const bytes = writeSafetensors(new Map(), { format: "pt" });
 * ```
 */
export function writeSafetensors(
  tensors: StateDict,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of tensors) {
    const n = numElements(t.shape);
    if (t.data.length !== n) {
      throw new RangeError(
        `Cannot write tensor "${name}": current length is ${t.data.length}, shape needs ${n}`,
      );
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, n * DTYPE_BYTES[t.dtype]);
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    parts.push(bytes);
    offset += bytes.length;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(Math.ceil(raw.length / 8) * 8).fill(0x20);
  head.set(raw);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}
