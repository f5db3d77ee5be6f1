/**
 * A tiny protobuf wire-format reader: varints, fixed32/64 and length-delimited
 * fields. It is written here (about 100 lines) instead of pulling a protobuf
 * dependency and generated ONNX bindings into the module; only reading is
 * needed, and only the few messages `onnx.ts` decodes.
 *
 * @module
 */

/** One decoded field: number, wire type and its raw value. */
export interface PbField {
  /** Field number. */
  no: number;
  /** Wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  wire: 0 | 1 | 2 | 5;
  /** Varint value (wire 0), as a signed 64-bit bigint. */
  varint: bigint;
  /** Payload bytes for wire types 1, 2 and 5 (a view, no copy). */
  bytes: Uint8Array;
}

function fail(what: string, pos: number): never {
  throw new RangeError(`Cannot parse protobuf: ${what} at byte ${pos}`);
}

function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.byteLength) fail("current varint runs past the end", pos);
    const byte = b[pos++];
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [BigInt.asIntN(64, v), pos];
    shift += 7n;
  }
  fail("current varint is longer than 10 bytes", pos);
}

/**
 * Splits a message into its fields, in wire order.
 *
 * @example
 * ```ts
 * import { pbFields } from "./_protobuf.ts";
 * pbFields(new Uint8Array([0x08, 0x07]))[0].varint; // 7n
 * ```
 */
export function pbFields(b: Uint8Array): PbField[] {
  const out: PbField[] = [];
  let pos = 0;
  const empty = new Uint8Array(0);
  while (pos < b.byteLength) {
    const start = pos;
    const [key, p] = readVarint(b, pos);
    pos = p;
    const no = Number(BigInt.asUintN(64, key) >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) fail("current field number is 0", start);
    if (wire === 0) {
      const [v, q] = readVarint(b, pos);
      out.push({ no, wire, varint: v, bytes: empty });
      pos = q;
      continue;
    }
    let len: number;
    if (wire === 1) len = 8;
    else if (wire === 5) len = 4;
    else if (wire === 2) {
      const [l, q] = readVarint(b, pos);
      if (l < 0n || l > BigInt(b.byteLength)) fail(`current length ${l} is invalid`, pos);
      len = Number(l);
      pos = q;
    } else fail(`current wire type ${wire} is not supported`, start);
    if (pos + len > b.byteLength) fail(`current field ${no} runs past the end`, start);
    out.push({ no, wire, varint: 0n, bytes: b.subarray(pos, pos + len) });
    pos += len;
  }
  return out;
}

const utf8 = new TextDecoder();

/** A length-delimited field as UTF-8 text. */
export function pbString(f: PbField): string {
  return utf8.decode(f.bytes);
}

/** Int64 values of a repeated field given packed (wire 2) or unpacked (wire 0). */
export function pbInts(fields: PbField[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === 0) out.push(Number(f.varint));
    else if (f.wire === 2) {
      for (let p = 0; p < f.bytes.byteLength;) {
        const [v, q] = readVarint(f.bytes, p);
        out.push(Number(v));
        p = q;
      }
    }
  }
  return out;
}

/** Float values of a repeated float field given packed (wire 2) or unpacked (wire 5). */
export function pbFloats(fields: PbField[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no || (f.wire !== 2 && f.wire !== 5)) continue;
    const v = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
    for (let p = 0; p + 4 <= f.bytes.byteLength; p += 4) out.push(v.getFloat32(p, true));
  }
  return out;
}
