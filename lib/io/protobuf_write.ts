/**
 * A tiny protobuf wire-format writer, the counterpart of `_protobuf.ts`:
 * each helper returns the bytes of one encoded field, and {@linkcode pbMessage}
 * joins fields into a message. Enough for ONNX `ModelProto` (varints,
 * fixed32 floats, length-delimited strings, bytes and sub-messages).
 *
 * @module
 */

const utf8 = new TextEncoder();

function varintBytes(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function tag(no: number, wire: number): number[] {
  return varintBytes(BigInt(no) << 3n | BigInt(wire));
}

/**
 * A varint field (int32, int64, enum, bool); negative values take ten bytes, as in protobuf.
 *
 * @example
 * ```ts
 * import { pbVarint } from "./protobuf_write.ts";
 * pbVarint(1, 300); // Uint8Array [0x08, 0xac, 0x02]
 * ```
 */
export function pbVarint(no: number, value: number | bigint): Uint8Array {
  const v = typeof value === "bigint" ? value : BigInt(Math.trunc(value));
  return new Uint8Array([...tag(no, 0), ...varintBytes(v)]);
}

/**
 * A fixed32 float field (wire type 5, little-endian).
 *
 * @example
 * ```ts
 * import { pbFloat } from "./protobuf_write.ts";
 * pbFloat(2, 1).length; // 5
 * ```
 */
export function pbFloat(no: number, value: number): Uint8Array {
  const t = tag(no, 5);
  const out = new Uint8Array(t.length + 4);
  out.set(t);
  new DataView(out.buffer).setFloat32(t.length, value, true);
  return out;
}

/**
 * A length-delimited field: raw bytes, a UTF-8 string, or an encoded message
 * (a list of fields, joined).
 *
 * @example
 * ```ts
 * import { pbBytes, pbVarint } from "./protobuf_write.ts";
 * pbBytes(7, "x"); // Uint8Array [0x3a, 0x01, 0x78]
 * pbBytes(8, [pbVarint(2, 17)]); // a sub-message
 * ```
 */
export function pbBytes(no: number, value: Uint8Array | string | Uint8Array[]): Uint8Array {
  const body = typeof value === "string"
    ? utf8.encode(value)
    : Array.isArray(value)
    ? pbMessage(value)
    : value;
  const head = [...tag(no, 2), ...varintBytes(BigInt(body.byteLength))];
  const out = new Uint8Array(head.length + body.byteLength);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/**
 * Joins encoded fields into one message.
 *
 * @example
 * ```ts
 * import { pbMessage, pbVarint } from "./protobuf_write.ts";
 * pbMessage([pbVarint(1, 1), pbVarint(2, 2)]).length; // 4
 * ```
 */
export function pbMessage(fields: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const f of fields) n += f.byteLength;
  const out = new Uint8Array(n);
  let p = 0;
  for (const f of fields) {
    out.set(f, p);
    p += f.byteLength;
  }
  return out;
}
