/**
 * WebP decoding with our own WebAssembly decoder (`_wasm/webp.c`, embedded in
 * `webp_wasm.ts`; no permissions needed): the RIFF container, lossy `VP8 `
 * key frames (YUV 4:2:0 → RGB with libwebp's arithmetic and "fancy"
 * upsampling, so pixels match `dwebp`), lossless `VP8L`, and extended `VP8X`
 * files with an `ALPH` chunk (raw or lossless-compressed, all filters).
 * Animated files are refused. Also a header reader that finds the size
 * without decoding.
 *
 * @module
 */
import type { DecodedImage } from "./decoded_image.ts";
import { WEBP_WASM } from "./webp_wasm.ts";

export type { DecodedImage } from "./decoded_image.ts";

/** Options of {@linkcode decodeWebp}. */
export interface DecodeWebpOptions {
  /** Refuse images with more pixels than this, before allocating. @default DEFAULT_WEBP_MAX_PIXELS */
  maxPixels?: number;
}

/** Largest WebP (in pixels) decoded unless `maxPixels` says otherwise (the format's own limit is 16384²). */
export const DEFAULT_WEBP_MAX_PIXELS = 100_000_000;

/** What {@linkcode readWebpHeader} returns. */
export interface WebpHeader {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 4 when the file says it has alpha, else 3. */
  channels: 3 | 4;
  /** Whether the image is lossless (`VP8L`). */
  lossless: boolean;
}

interface WebpExports {
  memory: WebAssembly.Memory;
  wp_reset(): void;
  wp_alloc(n: number): number;
  wp_decode(p: number, n: number, maxPixels: number): number;
  wp_width(): number;
  wp_height(): number;
  wp_channels(): number;
  wp_pixels(): number;
  wp_error(): number;
}

// One instance is reused (its memory reset before each image); one whose
// memory grew past this is dropped after use, so a single huge image does not
// pin its memory, and so is one that trapped.
const MAX_KEPT_WASM_BYTES = 256 * 1024 * 1024;

let module: WebAssembly.Module | undefined;
let kept: WebpExports | undefined;

function instance(): WebpExports {
  if (kept) return kept;
  module ??= new WebAssembly.Module(Uint8Array.from(atob(WEBP_WASM), (c) => c.charCodeAt(0)));
  return kept = new WebAssembly.Instance(module).exports as unknown as WebpExports;
}

function cString(memory: WebAssembly.Memory, ptr: number): string {
  const mem = new Uint8Array(memory.buffer);
  let end = ptr;
  while (end < mem.length && mem[end] !== 0) end++;
  return new TextDecoder().decode(mem.subarray(ptr, end));
}

const ascii = (b: Uint8Array, o: number, n: number) =>
  String.fromCharCode(...b.subarray(o, Math.min(b.length, o + n)));

function headerError(what: string): TypeError {
  return new TypeError(`Cannot read image header: current WebP ${what}`);
}

/**
 * Reads size, alpha and kind of a WebP from its container and bitstream
 * header, without decoding. Walks the chunks up to the image chunk (so an
 * animation is reported by {@linkcode decodeWebp}, not here).
 *
 * @throws {TypeError} "Cannot read image header: current WebP …" when the
 * data is not a WebP or the header is truncated.
 * @example
 * ```ts
 * import { readWebpHeader } from "./webp.ts";
 * const h = readWebpHeader(await Deno.readFile("tests/testdata/webp/lossy.webp"));
 * [h.width, h.height, h.channels]; // [64, 48, 3]
 * ```
 */
export function readWebpHeader(bytes: Uint8Array): WebpHeader {
  if (ascii(bytes, 0, 4) !== "RIFF" || ascii(bytes, 8, 4) !== "WEBP") {
    throw headerError("data does not start with RIFF....WEBP");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let alpha: boolean | undefined;
  let canvas: [number, number] | undefined;
  for (let o = 12; o + 8 <= bytes.length;) {
    const tag = ascii(bytes, o, 4);
    const size = view.getUint32(o + 4, true);
    const p = o + 8;
    if (tag === "VP8X") {
      if (p + 10 > bytes.length) {
        throw headerError(`chunk VP8X is truncated at ${bytes.length} bytes`);
      }
      alpha = (bytes[p] & 0x10) !== 0;
      canvas = [
        1 + (view.getUint32(p + 4, true) & 0xffffff),
        1 + (view.getUint32(p + 6, true) >>> 8),
      ];
    } else if (tag === "ANIM" && canvas) {
      return { width: canvas[0], height: canvas[1], channels: alpha ? 4 : 3, lossless: false };
    } else if (tag === "VP8L") {
      if (p + 5 > bytes.length || bytes[p] !== 0x2f) {
        throw headerError("chunk VP8L is truncated or has no signature");
      }
      const bits = view.getUint32(p + 1, true);
      const a = alpha ?? ((bits >>> 28) & 1) === 1;
      return {
        width: (bits & 0x3fff) + 1,
        height: ((bits >>> 14) & 0x3fff) + 1,
        channels: a ? 4 : 3,
        lossless: true,
      };
    } else if (tag === "VP8 ") {
      if (p + 10 > bytes.length) {
        throw headerError(`chunk VP8 is truncated at ${bytes.length} bytes`);
      }
      if (bytes[p + 3] !== 0x9d || bytes[p + 4] !== 0x01 || bytes[p + 5] !== 0x2a) {
        throw headerError("chunk VP8 has no start code");
      }
      const width = view.getUint16(p + 6, true) & 0x3fff;
      const height = view.getUint16(p + 8, true) & 0x3fff;
      if (width === 0 || height === 0) throw headerError(`size is ${width}x${height}`);
      return { width, height, channels: alpha ? 4 : 3, lossless: false };
    }
    o = p + size + (size & 1);
  }
  throw headerError(`data has no VP8/VP8L chunk in its first ${bytes.length} bytes`);
}

/**
 * Cheap structural check of a WebP without decoding (for upload handlers):
 * the RIFF size fits the data, every chunk fits the RIFF payload, an image
 * chunk is present and the file is not animated. Returns a short problem
 * description, or `undefined` when the structure is sound.
 *
 * @example
 * ```ts
 * import { webpStructureProblem } from "./webp.ts";
 * const bytes = await Deno.readFile("tests/testdata/webp/lossy.webp");
 * webpStructureProblem(bytes); // undefined
 * webpStructureProblem(bytes.subarray(0, 100)); // "truncated at 100 bytes (RIFF size says 914)"
 * ```
 */
export function webpStructureProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 12 || ascii(bytes, 0, 4) !== "RIFF" || ascii(bytes, 8, 4) !== "WEBP") {
    return "no RIFF....WEBP header";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = view.getUint32(4, true) + 8;
  if (end > bytes.length) return `truncated at ${bytes.length} bytes (RIFF size says ${end})`;
  let image = false;
  for (let o = 12; o < end;) {
    if (o + 8 > end) return `chunk header at byte ${o} is truncated`;
    const tag = ascii(bytes, o, 4);
    const size = view.getUint32(o + 4, true);
    if (size > end - o - 8) return `chunk ${tag.trim()} at byte ${o} is truncated`;
    if (tag === "ANIM" || tag === "ANMF") return "animated WebP is not supported";
    if (tag === "VP8 " || tag === "VP8L") image = true;
    o += 8 + size + (size & 1);
  }
  return image ? undefined : "no VP8/VP8L image chunk";
}

/**
 * Decodes a still WebP (lossy, lossless, or either with alpha) to RGB, or
 * RGBA when the file has alpha. Lossless files decode bit-exactly; lossy ones
 * match `dwebp` (libwebp 1.2.4, default fancy upsampling) exactly on the
 * project's fixtures.
 *
 * @throws {TypeError} "Cannot decode WebP: current …" for truncated or
 * corrupt data and animated files.
 * @throws {RangeError} when the header announces more than `maxPixels`.
 * @example
 * ```ts
 * import { decodeWebp } from "./webp.ts";
 * const img = decodeWebp(await Deno.readFile("tests/testdata/webp/lossy_alpha.webp"));
 * img.channels; // 4
 * ```
 */
export function decodeWebp(bytes: Uint8Array, options: DecodeWebpOptions = {}): DecodedImage {
  const maxPixels = options.maxPixels ?? DEFAULT_WEBP_MAX_PIXELS;
  let header: WebpHeader | undefined;
  try {
    header = readWebpHeader(bytes);
  } catch {
    // The decoder below names the problem in its own words.
  }
  if (header && header.width * header.height > maxPixels) {
    throw new RangeError(
      `Cannot decode WebP: current size is ${header.width}x${header.height}, over ${maxPixels} pixels`,
    );
  }
  const w = instance();
  let status: number;
  try {
    w.wp_reset();
    const ptr = w.wp_alloc(bytes.length);
    if (ptr === 0) throw new Error(cString(w.memory, w.wp_error()));
    new Uint8Array(w.memory.buffer).set(bytes, ptr);
    status = w.wp_decode(ptr, bytes.length, maxPixels);
  } catch (e) {
    kept = undefined;
    throw new TypeError(
      `Cannot decode WebP: current data stopped the decoder (${(e as Error).message})`,
    );
  }
  try {
    if (status !== 0) throw new TypeError(cString(w.memory, w.wp_error()));
    const width = w.wp_width();
    const height = w.wp_height();
    const channels = w.wp_channels() as 3 | 4;
    const ptr = w.wp_pixels();
    const data = new Uint8Array(w.memory.buffer, ptr, width * height * channels).slice();
    return { width, height, channels, data };
  } finally {
    if (w.memory.buffer.byteLength > MAX_KEPT_WASM_BYTES) kept = undefined;
  }
}
