/**
 * The EXIF orientation tag (0x0112) of a JPEG (its APP1 `Exif` segment), a
 * PNG (`eXIf` chunk) or a WebP (`EXIF` chunk), or of a raw TIFF-structured
 * EXIF block ({@linkcode readTiffOrientation}, the hook for other
 * containers). Bounded (at most {@linkcode MAX_JPEG_SEGMENTS} segments,
 * {@linkcode MAX_CHUNKS} chunks and {@linkcode MAX_IFD_ENTRIES} entries are
 * looked at, every read is range-checked) and never throws: junk gives 1
 * (as stored).
 *
 * @module
 */

/** An EXIF orientation: 1 (as stored) to 8, as `ImageOps.exif_transpose` reads it. */
export type ExifOrientation = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/** Marker segments looked at before giving up on finding APP1. */
export const MAX_JPEG_SEGMENTS = 64;

/** PNG or WebP chunks looked at before giving up on finding the EXIF chunk. */
export const MAX_CHUNKS = 4096;

/** IFD0 entries looked at before giving up on finding the orientation. */
export const MAX_IFD_ENTRIES = 512;

const TAG_ORIENTATION = 0x0112;

function asOrientation(v: number): ExifOrientation {
  return Number.isInteger(v) && v >= 1 && v <= 8 ? v as ExifOrientation : 1;
}

/**
 * The orientation in a TIFF-structured EXIF block (`II*\0` or `MM\0*`,
 * IFD0's tag 0x0112, SHORT or LONG); 1 when absent, out of range or malformed.
 *
 * @example
 * ```ts
 * import { readTiffOrientation } from "./exif.ts";
 * const tiff = new Uint8Array([
 *   0x4d, 0x4d, 0, 42, 0, 0, 0, 8, // big-endian header, IFD0 at 8
 *   0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // one entry: orientation SHORT 6
 *   0, 0, 0, 0, // no next IFD
 * ]);
 * readTiffOrientation(tiff); // 6
 * ```
 */
export function readTiffOrientation(tiff: Uint8Array): ExifOrientation {
  try {
    const n = tiff.length;
    if (n < 8) return 1;
    const little = tiff[0] === 0x49 && tiff[1] === 0x49;
    if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
    const view = new DataView(tiff.buffer, tiff.byteOffset, n);
    const u16 = (o: number) => view.getUint16(o, little);
    const u32 = (o: number) => view.getUint32(o, little);
    if (u16(2) !== 42) return 1;
    const ifd = u32(4);
    if (ifd < 8 || ifd + 2 > n) return 1;
    const count = Math.min(u16(ifd), MAX_IFD_ENTRIES);
    for (let i = 0; i < count; i++) {
      const e = ifd + 2 + 12 * i;
      if (e + 12 > n) return 1;
      if (u16(e) !== TAG_ORIENTATION) continue;
      const type = u16(e + 2);
      if (u32(e + 4) < 1) return 1;
      if (type === 3) return asOrientation(u16(e + 8)); // SHORT
      if (type === 4) return asOrientation(u32(e + 8)); // LONG
      return 1;
    }
    return 1;
  } catch {
    return 1;
  }
}

/**
 * The orientation of an image file: a JPEG's first APP1 segment that starts
 * with `Exif\0\0` (before the first scan), a PNG's `eXIf` chunk or a WebP's
 * `EXIF` chunk. 1 for other formats, files without EXIF, and any malformed
 * data.
 *
 * @example
 * ```ts
 * import { readExifOrientation } from "./exif.ts";
 * readExifOrientation(await Deno.readFile("tests/testdata/images/coffee.png")); // 1 (no eXIf)
 * ```
 */
export function readExifOrientation(bytes: Uint8Array): ExifOrientation {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return readChunkOrientation(bytes, "png");
  }
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") {
    return readChunkOrientation(bytes, "webp");
  }
  return readJpegOrientation(bytes);
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return at + n <= b.length ? String.fromCharCode(...b.subarray(at, at + n)) : "";
}

/** The TIFF block of an EXIF chunk, with the `Exif\0\0` prefix some writers add dropped. */
function tiffOf(payload: Uint8Array): ExifOrientation {
  return readTiffOrientation(
    isExifHeader(payload, 0, payload.length) ? payload.subarray(6) : payload,
  );
}

/** PNG: length (BE), type, data, CRC from byte 8; WebP: type, length (LE), data padded to even from byte 12. */
function readChunkOrientation(bytes: Uint8Array, kind: "png" | "webp"): ExifOrientation {
  try {
    const n = bytes.length;
    const view = new DataView(bytes.buffer, bytes.byteOffset, n);
    let pos = kind === "png" ? 8 : 12;
    for (let i = 0; i < MAX_CHUNKS && pos + 8 <= n; i++) {
      const png = kind === "png";
      const len = png ? view.getUint32(pos) : view.getUint32(pos + 4, true);
      const type = ascii(bytes, png ? pos + 4 : pos, 4);
      const data = pos + 8;
      if (type === (png ? "eXIf" : "EXIF")) {
        return tiffOf(bytes.subarray(data, Math.min(data + len, n)));
      }
      if (png && type === "IEND") return 1;
      pos = data + len + (png ? 4 : len % 2);
    }
    return 1;
  } catch {
    return 1;
  }
}

function readJpegOrientation(bytes: Uint8Array): ExifOrientation {
  try {
    const n = bytes.length;
    if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return 1;
    let pos = 2;
    for (let seg = 0; seg < MAX_JPEG_SEGMENTS && pos + 4 <= n; seg++) {
      if (bytes[pos] !== 0xff) return 1;
      const marker = bytes[pos + 1];
      if (marker === 0xff) { // fill byte
        pos++;
        continue;
      }
      if (marker === 0xda || marker === 0xd9) return 1; // start of scan, end of image
      if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { // no length
        pos += 2;
        continue;
      }
      const len = (bytes[pos + 2] << 8) | bytes[pos + 3];
      if (len < 2) return 1;
      const end = Math.min(pos + 2 + len, n);
      if (marker === 0xe1 && isExifHeader(bytes, pos + 4, end)) {
        return readTiffOrientation(bytes.subarray(pos + 10, end));
      }
      pos += 2 + len;
    }
    return 1;
  } catch {
    return 1;
  }
}

function isExifHeader(b: Uint8Array, at: number, end: number): boolean {
  const sig = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"
  return at + 6 <= end && sig.every((v, i) => b[at + i] === v);
}
