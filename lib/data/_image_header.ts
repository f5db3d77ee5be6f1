/**
 * Image size and format from the first bytes of a file, without decoding:
 * the PNG IHDR chunk, the JPEG SOFn marker segment or the WebP chunk headers.
 *
 * @module
 */
import { readWebpHeader } from "./webp.ts";

/** Formats {@linkcode readImageHeader} understands. */
export type ImageFormat = "png" | "jpeg" | "webp";

/** What {@linkcode readImageHeader} returns. */
export interface ImageHeader {
  /** Container format, from the magic bytes. */
  format: ImageFormat;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /**
   * Channels the decoder will return: PNG grey 1, RGB 3, palette 3 (4 with a
   * `tRNS` chunk), grey+alpha and RGBA 4; JPEG 1 (grey) or 3 (colour/CMYK);
   * WebP 4 with alpha, else 3.
   */
  channels: number;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Names a few formats we refuse, for the error message. */
function sniffOther(b: Uint8Array): string {
  const ascii = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  if (ascii(0, 3) === "GIF") return "gif";
  if (ascii(0, 2) === "BM") return "bmp";
  if (ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") return "webp";
  if (ascii(0, 2) === "II" || ascii(0, 2) === "MM") return "tiff";
  if (ascii(4, 4) === "ftyp") return "heif/avif";
  const hex = Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, "0")).join(" ");
  return `unknown (first bytes ${hex || "none"})`;
}

function truncated(format: string, size: number): TypeError {
  return new TypeError(
    `Cannot read image header: current ${format} data is truncated at ${size} bytes`,
  );
}

/**
 * Reads format, size and channel count from a PNG, JPEG or WebP without decoding it
 * (used to refuse huge uploads cheaply).
 *
 * @throws {TypeError} "Cannot decode image: current format is gif" for other
 * formats; "Cannot read image header: …" for truncated or malformed headers.
 * @example
 * ```ts
 * import { readImageHeader } from "./image_io.ts";
 * const h = readImageHeader(await Deno.readFile("tests/testdata/images/chelsea.png"));
 * [h.format, h.width, h.height]; // ["png", 451, 300]
 * ```
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (PNG_MAGIC.every((m, i) => bytes[i] === m)) return readPng(bytes, view);
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return readJpeg(bytes, view);
  if (sniffOther(bytes) === "webp") {
    const { width, height, channels } = readWebpHeader(bytes);
    return { format: "webp", width, height, channels };
  }
  if (!bytes.byteLength) {
    throw new TypeError("Cannot decode image: current data is empty (0 bytes)");
  }
  throw new TypeError(`Cannot decode image: current format is ${sniffOther(bytes)}`);
}

function readPng(bytes: Uint8Array, view: DataView): ImageHeader {
  if (bytes.length < 33) throw truncated("PNG", bytes.length);
  if (view.getUint32(12) !== 0x49484452) {
    throw new TypeError("Cannot read image header: current PNG does not start with IHDR");
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const colorType = bytes[25];
  if (width === 0 || height === 0) {
    throw new TypeError(`Cannot read image header: current PNG size is ${width}x${height}`);
  }
  let channels: number;
  if (colorType === 0) channels = 1;
  else if (colorType === 2) channels = 3;
  else if (colorType === 3) channels = hasChunk(bytes, view, 0x74524e53) ? 4 : 3; // tRNS
  else if (colorType === 4 || colorType === 6) channels = 4;
  else throw new TypeError(`Cannot read image header: current PNG colour type is ${colorType}`);
  return { format: "png", width, height, channels };
}

/** Whether a chunk of `type` appears before the first IDAT. */
function hasChunk(bytes: Uint8Array, view: DataView, type: number): boolean {
  let o = 8;
  while (o + 8 <= bytes.length) {
    const t = view.getUint32(o + 4);
    if (t === type) return true;
    if (t === 0x49444154 || t === 0x49454e44) return false; // IDAT, IEND
    o += 12 + view.getUint32(o);
  }
  return false;
}

/**
 * A JPEG coding the decoder lacks (it reads baseline, extended and
 * progressive Huffman: SOF0-2): "current format is …" marks it unsupported,
 * not corrupt (HTTP 415).
 */
function unsupportedJpeg(code: number): TypeError {
  const kind = code === 0xc3
    ? "lossless"
    : code === 0xcb
    ? "lossless arithmetic-coded"
    : code >= 0xcd
    ? "hierarchical arithmetic-coded"
    : code >= 0xc9
    ? "arithmetic-coded"
    : "hierarchical";
  return new TypeError(
    `Cannot decode image: current format is ${
      /^[aeiou]/.test(kind) ? "an" : "a"
    } ${kind} JPEG (SOF${code - 0xc0}), which is not supported`,
  );
}

function readJpeg(bytes: Uint8Array, view: DataView): ImageHeader {
  let o = 2;
  while (true) {
    // Markers: 0xFF (any number of fill 0xFF) then the code.
    if (o >= bytes.length) throw truncated("JPEG", bytes.length);
    if (bytes[o] !== 0xff) {
      throw new TypeError(`Cannot read image header: current JPEG has no marker at byte ${o}`);
    }
    while (o < bytes.length && bytes[o] === 0xff) o++;
    if (o >= bytes.length) throw truncated("JPEG", bytes.length);
    const code = bytes[o++];
    if (code === 0x01 || (code >= 0xd0 && code <= 0xd8)) continue; // no length
    if (code === 0xd9 || code === 0xda) {
      throw new TypeError("Cannot read image header: current JPEG has no frame header (SOF)");
    }
    if (o + 2 > bytes.length) throw truncated("JPEG", bytes.length);
    const len = view.getUint16(o);
    const isSof = code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc;
    if (isSof) {
      if (code > 0xc2) throw unsupportedJpeg(code);
      if (o + 8 > bytes.length) throw truncated("JPEG", bytes.length);
      const height = view.getUint16(o + 3);
      const width = view.getUint16(o + 5);
      const components = bytes[o + 7];
      if (width === 0 || height === 0) {
        throw new TypeError(`Cannot read image header: current JPEG size is ${width}x${height}`);
      }
      return { format: "jpeg", width, height, channels: components === 1 ? 1 : 3 };
    }
    if (len < 2) {
      throw new TypeError(`Cannot read image header: current JPEG segment length is ${len}`);
    }
    o += len;
  }
}
