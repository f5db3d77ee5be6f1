/**
 * Test helpers that write small PyTorch-style files by hand: a ZIP writer
 * (stored or deflated entries, CRC left 0 since the reader does not check it)
 * and pickle byte builders.
 *
 * @module
 */

const enc = new TextEncoder();

/** Concatenates byte arrays and numbers (single bytes). */
export function cat(...parts: Array<Uint8Array | number | string>): Uint8Array {
  const arrays = parts.map((p) =>
    typeof p === "number"
      ? new Uint8Array([p])
      : typeof p === "string"
      ? Uint8Array.from([...p].map((c) => c.charCodeAt(0)))
      : p
  );
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) (out.set(a, o), o += a.length);
  return out;
}

/** BINUNICODE opcode for `s`. */
export function pStr(s: string): Uint8Array {
  const b = enc.encode(s);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, b.length, true);
  return cat("X", len, b);
}

/** GLOBAL opcode. */
export function pGlobal(module: string, name: string): Uint8Array {
  return cat(`c${module}\n${name}\n`);
}

/** Small non-negative int (BININT1 / BININT2). */
export function pInt(n: number): Uint8Array {
  return n < 256 ? cat("K", n) : cat("M", n & 0xff, n >> 8);
}

/** Tuple of small ints. */
export function pInts(xs: number[]): Uint8Array {
  return cat("(", ...xs.map(pInt), "t");
}

/** A `_rebuild_tensor_v2` call on a persistent-id storage (zip-format id). */
export function pTensor(
  storage: { type: string; key: string; numel: number },
  offset: number,
  shape: number[],
  stride: number[],
): Uint8Array {
  const pid = cat(
    "(",
    pStr("storage"),
    pGlobal("torch", storage.type),
    pStr(storage.key),
    pStr("cpu"),
    pInt(storage.numel),
    "t",
    "Q",
  );
  return cat(
    pGlobal("torch._utils", "_rebuild_tensor_v2"),
    "(",
    pid,
    pInt(offset),
    pInts(shape),
    pInts(stride),
    0x89,
    pGlobal("collections", "OrderedDict"),
    ")R",
    "t",
    "R",
  );
}

/** One entry of {@linkcode makeZip}. */
export interface ZipInput {
  /** Path in the archive. */
  name: string;
  /** Uncompressed bytes. */
  data: Uint8Array;
  /** Deflate the entry. */
  deflate?: boolean;
  /** Uncompressed size written in both headers (a lie, for hostile-file tests). @default data.length */
  declaredSize?: number;
  /** Uncompressed size written in the local header only. @default declaredSize */
  localSize?: number;
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Writes a ZIP archive (no ZIP64). */
export async function makeZip(entries: ZipInput[]): Promise<Uint8Array> {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const body = e.deflate ? await deflateRaw(e.data) : e.data;
    const h = new Uint8Array(30);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(8, e.deflate ? 8 : 0, true);
    v.setUint32(18, body.length, true);
    v.setUint32(22, e.localSize ?? e.declaredSize ?? e.data.length, true);
    v.setUint16(26, name.length, true);
    const c = new Uint8Array(46);
    const w = new DataView(c.buffer);
    w.setUint32(0, 0x02014b50, true);
    w.setUint16(4, 20, true);
    w.setUint16(6, 20, true);
    w.setUint16(10, e.deflate ? 8 : 0, true);
    w.setUint32(20, body.length, true);
    w.setUint32(24, e.declaredSize ?? e.data.length, true);
    w.setUint16(28, name.length, true);
    w.setUint32(42, offset, true);
    locals.push(h, name, body);
    centrals.push(c, name);
    offset += 30 + name.length + body.length;
  }
  const cd = cat(...centrals);
  const end = new Uint8Array(22);
  const d = new DataView(end.buffer);
  d.setUint32(0, 0x06054b50, true);
  d.setUint16(8, entries.length, true);
  d.setUint16(10, entries.length, true);
  d.setUint32(12, cd.length, true);
  d.setUint32(16, offset, true);
  return cat(...locals, cd, end);
}

/** Little-endian bytes of a Float32Array. */
export function f32Bytes(xs: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(xs).buffer);
}
