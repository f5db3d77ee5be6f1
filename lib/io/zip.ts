/**
 * A minimal ZIP reader for PyTorch's zip checkpoints: central directory,
 * ZIP64 sizes and offsets, stored entries read without copying, and deflated
 * entries inflated asynchronously with `DecompressionStream("deflate-raw")`.
 * CRC-32 is not checked (sizes and bounds are).
 *
 * @module
 */

/** One file of a {@linkcode ZipArchive}. */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** Compression method: 0 = stored, 8 = deflate. */
  method: number;
  /** Uncompressed size in bytes. */
  size: number;
  /** The entry's bytes as stored in the file (compressed when `method` is 8). */
  raw: Uint8Array;
}

/** A parsed archive: entries by name, in central-directory order. */
export type ZipArchive = Map<string, ZipEntry>;

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Largest entry the reader accepts (the full model's weights are 176 MB). */
export const MAX_ZIP_ENTRY_BYTES = 2 ** 30;

/** Largest sum of the deflated entries' declared sizes (a checkpoint of U2-Net full is ~0.5 GiB). */
export const MAX_ZIP_TOTAL_BYTES = 2 ** 31;

/** Compressed bytes fed to the inflater at a time. */
const INFLATE_SLICE = 4096;

/** Deflate's largest possible expansion (258 bytes per 2 bits, ~1032:1). */
const MAX_DEFLATE_RATIO = 1032;

function fail(what: string): never {
  throw new RangeError(`Cannot read zip: ${what}`);
}

/**
 * Parses a ZIP archive's directory. Entry data are views into `bytes`.
 *
 * @example
 * ```ts
 * import { readZip } from "./zip.ts";
 * const zip = readZip(await Deno.readFile("tests/testdata/lite_wz.pth"));
 * [...zip.keys()][0]; // "lite_wz/data.pkl"
 * ```
 */
export function readZip(bytes: Uint8Array): ZipArchive {
  const n = bytes.byteLength;
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const u16 = (p: number) => view.getUint16(p, true);
  const u32 = (p: number) => view.getUint32(p, true);
  const u64 = (p: number) => Number(view.getBigUint64(p, true));
  let eocd = -1;
  for (let p = n - 22; p >= Math.max(0, n - 22 - 0xffff); p--) {
    if (u32(p) === EOCD && p + 22 + u16(p + 20) <= n) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) {
    fail(`current file (${n} bytes) has no end-of-central-directory record (truncated?)`);
  }
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== EOCD64_LOCATOR) fail("current ZIP64 locator is missing");
    const p = u64(loc + 8);
    if (p + 56 > n || u32(p) !== EOCD64) fail(`current ZIP64 record offset ${p} is invalid`);
    count = u64(p + 32);
    cdSize = u64(p + 40);
    cdOffset = u64(p + 48);
  }
  if (cdOffset + cdSize > n) {
    fail(`current central directory (${cdOffset}+${cdSize}) lies past the end (${n} bytes)`);
  }
  const archive: ZipArchive = new Map();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > n || u32(p) !== CENTRAL) {
      fail(`current central entry ${i} at byte ${p} is invalid`);
    }
    const method = u16(p + 10);
    let compSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: u64 fields for those set to 0xffffffff.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(e);
      const len = u16(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = u64(q), q += 8);
        if (compSize === 0xffffffff) (compSize = u64(q), q += 8);
        if (local === 0xffffffff) local = u64(q);
      }
      e += 4 + len;
    }
    p = extraEnd + commentLen;
    if (local + 30 > n || u32(local) !== LOCAL) {
      fail(`current local header of "${name}" at byte ${local} is invalid`);
    }
    // A local header that states sizes (no data descriptor, bit 3) must agree.
    const localComp = u32(local + 18), localSize = u32(local + 22);
    if (
      (u16(local + 6) & 8) === 0 && localComp !== 0xffffffff && localSize !== 0xffffffff &&
      (localComp !== compSize || localSize !== size)
    ) {
      fail(
        `current entry "${name}" has sizes ${compSize}/${size} in the central directory ` +
          `but ${localComp}/${localSize} in its local header`,
      );
    }
    if (
      size > MAX_ZIP_ENTRY_BYTES || (method === 8 && size > MAX_DEFLATE_RATIO * compSize + 1024)
    ) {
      fail(
        `current entry "${name}" declares ${size} bytes from ${compSize} compressed ` +
          `(at most ${MAX_ZIP_ENTRY_BYTES} bytes and ${MAX_DEFLATE_RATIO}:1)`,
      );
    }
    const start = local + 30 + u16(local + 26) + u16(local + 28);
    if (start + compSize > n) {
      fail(`current entry "${name}" ends at byte ${start + compSize}, past the end (${n} bytes)`);
    }
    if (method !== 0 && method !== 8) {
      fail(
        `current entry "${name}" uses compression method ${method} (only 0 and 8 are supported)`,
      );
    }
    if (method === 0 && compSize !== size) {
      fail(`current stored entry "${name}" has sizes ${compSize} and ${size}`);
    }
    archive.set(name, { name, method, size, raw: bytes.subarray(start, start + compSize) });
  }
  return archive;
}

/**
 * The uncompressed bytes of a stored entry (a view, no copy). Deflated entries
 * must first go through {@linkcode inflateZip}.
 *
 * @example
 * ```ts
 * import { readZip, zipEntryData } from "./zip.ts";
 * const zip = readZip(await Deno.readFile("tests/testdata/lite_wz.pth"));
 * new TextDecoder().decode(zipEntryData(zip.get("lite_wz/version")!)); // "3\n"
 * ```
 */
export function zipEntryData(entry: ZipEntry): Uint8Array {
  if (entry.method !== 0) {
    throw new RangeError(
      `Cannot read zip entry "${entry.name}": current method is deflate; inflate it first (async)`,
    );
  }
  return entry.raw;
}

/** True when some entry is deflated (so {@linkcode inflateZip} is needed). */
export function zipNeedsInflate(archive: ZipArchive): boolean {
  for (const e of archive.values()) if (e.method !== 0) return true;
  return false;
}

/**
 * Returns a copy of the archive in which every deflated entry is replaced by
 * its inflated (stored) bytes.
 *
 * @example
 * ```ts
 * import { inflateZip, readZip } from "./zip.ts";
 * const zip = await inflateZip(readZip(await Deno.readFile("tests/testdata/lite_wz.pth")));
 * ```
 */
export async function inflateZip(archive: ZipArchive): Promise<ZipArchive> {
  let total = 0;
  for (const e of archive.values()) total += e.method === 0 ? 0 : e.size;
  if (total > MAX_ZIP_TOTAL_BYTES) {
    throw new RangeError(
      `Cannot inflate zip: current entries declare ${total} bytes in all, over the ${MAX_ZIP_TOTAL_BYTES}-byte limit`,
    );
  }
  const out: ZipArchive = new Map();
  for (const [name, e] of archive) {
    if (e.method === 0) {
      out.set(name, e);
      continue;
    }
    out.set(name, { name, method: 0, size: e.size, raw: await inflateEntry(e) });
  }
  return out;
}

/**
 * Inflates one entry into a buffer of its declared size, streaming: output
 * past the declared size stops the inflation at once (a zip bomb never
 * grows beyond `size` bytes plus one chunk).
 */
async function inflateEntry(e: ZipEntry): Promise<Uint8Array> {
  const fail = (why: string): never => {
    throw new RangeError(`Cannot inflate zip entry "${e.name}": current data ${why}`);
  };
  const out = new Uint8Array(e.size);
  // Small input slices (views) bound each output chunk (deflate: ~1032x).
  let at = 0;
  const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(c) {
      if (at >= e.raw.byteLength) return c.close();
      c.enqueue(e.raw.subarray(at, at += INFLATE_SLICE) as Uint8Array<ArrayBuffer>);
    },
  }, { highWaterMark: 0 });
  const reader = input.pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  let n = 0;
  try {
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        return fail("is not valid deflate");
      }
      if (chunk.done) break;
      if (n + chunk.value.byteLength > e.size) {
        fail(`inflates past its declared ${e.size} bytes`);
      }
      out.set(chunk.value, n);
      n += chunk.value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (n !== e.size) fail(`inflates to ${n} bytes, expected ${e.size}`);
  return out;
}
