/**
 * The uploaded image: taken from a raw body or a multipart form, then checked
 * cheaply before any decode: format and pixel count from the header, then the
 * container's structure (PNG chunk lengths and CRCs through IEND; JPEG marker
 * segments through EOI), so truncated and corrupted files never reach the
 * decoders.
 *
 * @module
 */
import { type ImageHeader, readImageHeader } from "../data/image_io.ts";
import { HttpError, imageError, quoteInput } from "./errors.ts";
import { forEachPart } from "./_multipart.ts";
import { webpStructureProblem } from "../data/webp.ts";

/** Content types accepted for a raw image body (a body without a Content-Type is sniffed). */
export const RAW_IMAGE_TYPES: readonly string[] = [
  "image/png",
  "image/jpeg",
  "image/jpg",
  "image/pjpeg",
  "image/webp",
  "application/octet-stream",
];

/** Multipart field names that may carry the image, in order of preference. */
export const FILE_FIELDS: readonly string[] = ["file", "image"];

/** Default largest number of parts of a multipart upload. */
export const DEFAULT_MAX_PARTS = 64;

/**
 * The image bytes of a request whose body is `body` (a view into it): the
 * raw body for an image type, `application/octet-stream` or no Content-Type
 * at all (the format is then sniffed from the magic bytes by the header
 * check), else the `file` (or `image`) part of a multipart form, with or
 * without a filename.
 */
export function extractImage(
  contentType: string | null,
  body: Uint8Array,
  { maxParts = DEFAULT_MAX_PARTS }: { maxParts?: number } = {},
): Uint8Array {
  const mime = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (mime === "multipart/form-data") {
    const found = new Map<string, Uint8Array>();
    forEachPart(contentType!, body, (part) => {
      if (FILE_FIELDS.includes(part.name) && !found.has(part.name)) found.set(part.name, part.body);
      return found.has(FILE_FIELDS[0]);
    }, { maxParts });
    for (const name of FILE_FIELDS) {
      const bytes = found.get(name);
      if (!bytes) continue;
      if (!bytes.length) throw new HttpError("badRequest", `form field "${name}" is empty`);
      return bytes;
    }
    throw new HttpError(
      "badRequest",
      `multipart form has no file in a field named ${FILE_FIELDS.join(" or ")}`,
    );
  }
  if (mime === "" || RAW_IMAGE_TYPES.includes(mime)) return body;
  throw new HttpError(
    "unsupportedMediaType",
    `Content-Type ${quoteInput(mime)} is not accepted: send image bytes (${
      RAW_IMAGE_TYPES.join(", ")
    }, or no Content-Type) or multipart/form-data${
      mime === "application/x-www-form-urlencoded"
        ? ` (curl --data-binary sends ${mime} unless given -H "Content-Type: image/png")`
        : ""
    }`,
  );
}

/** Header, pixel limit and structure checks; returns the header. */
export function checkImage(bytes: Uint8Array, maxPixels: number): ImageHeader {
  let header: ImageHeader;
  try {
    header = readImageHeader(bytes);
  } catch (e) {
    throw imageError(e);
  }
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new HttpError(
      "tooLarge",
      `image is ${header.width}x${header.height} (${pixels} pixels), over the limit of ${maxPixels} pixels`,
    );
  }
  const problem = header.format === "png"
    ? pngProblem(bytes)
    : header.format === "jpeg"
    ? jpegProblem(bytes)
    : webpStructureProblem(bytes) ?? riffProblem(bytes);
  if (problem && /not supported/.test(problem)) {
    throw new HttpError("unsupportedMediaType", `${header.format}: ${problem}`);
  }
  if (problem) throw new HttpError("unprocessable", `corrupt ${header.format}: ${problem}`);
  return header;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (PNG, zlib) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A PNG whose chunks do not hold together. As the decoder (and libpng), it
 * takes a file cut off after its image data: once an IDAT chunk is whole, a
 * missing IEND or a cut in a later chunk is no problem, and the decode finds
 * out whether the IDATs were all there.
 */
function pngProblem(b: Uint8Array): string | undefined {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 8, idat = 0, first = true;
  while (true) {
    if (o + 12 > b.length) {
      return idat ? undefined : `truncated at byte ${b.length} (no IEND chunk)`;
    }
    const len = view.getUint32(o);
    const type = String.fromCharCode(...b.subarray(o + 4, o + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) return `bad chunk type at byte ${o}`;
    if (len > b.length - o - 12) {
      return idat && type !== "IDAT" ? undefined : `chunk ${type} at byte ${o} runs past the end`;
    }
    if (first && (type !== "IHDR" || len !== 13)) return "first chunk is not a 13-byte IHDR";
    first = false;
    const crc = view.getUint32(o + 8 + len);
    if (crc32(b.subarray(o + 4, o + 8 + len)) !== crc) {
      return `chunk ${type} at byte ${o} fails its CRC`;
    }
    if (type === "IDAT") idat++;
    if (type === "IEND") return idat ? undefined : "no IDAT chunk";
    o += 12 + len;
  }
}

/** A RIFF container (WebP) whose declared size runs past the end. */
function riffProblem(b: Uint8Array): string | undefined {
  if (b.length < 12) return `truncated at byte ${b.length}`;
  const size = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, true);
  return size + 8 > b.length ? `truncated at byte ${b.length} (RIFF size ${size + 8})` : undefined;
}

function jpegProblem(b: Uint8Array): string | undefined {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 2, frame = false, scan = false;
  while (true) {
    if (o + 2 > b.length) return `truncated at byte ${b.length} (no EOI marker)`;
    if (b[o] !== 0xff) return `no marker at byte ${o}`;
    while (o < b.length && b[o] === 0xff) o++;
    if (o >= b.length) return `truncated at byte ${b.length} (no EOI marker)`;
    const code = b[o++];
    if (code === 0xd9) return frame && scan ? undefined : "EOI before any frame or scan";
    if (code === 0x01 || (code >= 0xd0 && code <= 0xd8)) continue;
    if (o + 2 > b.length) return `truncated at byte ${b.length}`;
    const len = view.getUint16(o);
    if (len < 2 || o + len > b.length) return `segment at byte ${o - 2} runs past the end`;
    if (code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc) {
      frame = true;
    }
    o += len;
    if (code === 0xda) {
      if (!frame) return "scan before frame header";
      scan = true;
      // Entropy-coded data: skip to the next marker that is not a stuffed
      // 0xFF00, a restart marker or fill.
      while (true) {
        while (o < b.length && b[o] !== 0xff) o++;
        if (o + 1 >= b.length) return `truncated at byte ${b.length} (no EOI marker)`;
        const next = b[o + 1];
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) o += 2;
        else if (next === 0xff) o++;
        else break;
      }
    }
  }
}
