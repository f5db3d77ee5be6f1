/**
 * PNG/JPEG decoding and PNG encoding on the host, through imagescript's wasm
 * codecs (no ffi, no file-system or env permissions), plus a header reader
 * that finds an image's size without decoding it.
 *
 * Colour semantics follow the seed's `cv2.imread`: {@linkcode toRgb} drops
 * alpha (no compositing) and repeats grey, 16-bit PNG samples keep their high
 * byte (libpng `png_set_strip_16`), and {@linkcode decodeMask} converts colour
 * like `cv2.IMREAD_GRAYSCALE` (see there).
 *
 * @module
 */
import { encodePngBytes } from "../deps_codecs.ts";
import { readImageHeader } from "./_image_header.ts";
import { decodeJpeg, decodePng, encodeJpegRgb } from "./_wasm_codecs.ts";
import { readExifOrientation } from "./exif.ts";
import { orientImage } from "./orient_image.ts";
import { decodeWebp } from "./webp.ts";
import type { DecodedImage } from "./decoded_image.ts";

export { type ImageFormat, type ImageHeader, readImageHeader } from "./_image_header.ts";
export type { DecodedImage } from "./decoded_image.ts";

/** Options of {@linkcode decodeImage} and {@linkcode decodeMask}. */
export interface DecodeOptions {
  /** Refuse images with more pixels than this, before decoding. @default DEFAULT_MAX_PIXELS */
  maxPixels?: number;
  /**
   * Turn the image into its displayed orientation (EXIF tag 0x0112 of a JPEG
   * APP1, PNG `eXIf` or WebP `EXIF` chunk, as Pillow's `ImageOps.exif_transpose`);
   * used by predict and serve. Training and evaluation keep the seed's stored
   * orientation. @default {false}
   */
  orientation?: boolean;
}

/** Largest image (in pixels) decoded unless `maxPixels` says otherwise. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Options of {@linkcode encodePng}. */
export interface EncodePngOptions {
  /** Deflate level 0-9. @default DEFAULT_PNG_LEVEL */
  level?: number;
}

/** Deflate level of {@linkcode encodePng}. */
export const DEFAULT_PNG_LEVEL = 3;

/** Options of {@linkcode encodeJpeg}. */
export interface EncodeJpegOptions {
  /** JPEG quality 1-100. @default DEFAULT_JPEG_QUALITY */
  quality?: number;
}

/** Quality of {@linkcode encodeJpeg}. */
export const DEFAULT_JPEG_QUALITY = 95;

/**
 * Decodes a PNG, JPEG or WebP (sniffed from the magic bytes; WebP through
 * `webp.ts`, RGB or RGBA, animations refused). The result keeps the
 * file's channels: grey → 1, colour → 3, colour or grey with alpha (or a
 * palette with `tRNS`) → 4 (grey+alpha becomes RGBA). CMYK JPEGs become RGB.
 *
 * @throws {TypeError} for other formats ("Cannot decode image: current format
 * is gif") and for truncated or corrupt data.
 * @throws {RangeError} when the header announces more than `maxPixels`.
 * @example
 * ```ts
 * import { decodeImage } from "./image_io.ts";
 * const img = await decodeImage(await Deno.readFile("tests/testdata/images/coffee.png"));
 * img.width; // 600
 * ```
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  const header = readImageHeader(bytes);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (header.width * header.height > maxPixels) {
    throw new RangeError(
      `Cannot decode image: current size is ${header.width}x${header.height}, over ${maxPixels} pixels`,
    );
  }
  const image = header.format === "png"
    ? await decodePng(bytes, header.channels as 1 | 3 | 4)
    : header.format === "webp"
    ? await decodeWebp(bytes, { maxPixels })
    : await decodeJpeg(bytes);
  return options.orientation ? orientImage(image, readExifOrientation(bytes)) : image;
}

/**
 * Converts to 3-channel RGB like `cv2.IMREAD_COLOR`: alpha is dropped (not
 * composited) and grey is repeated. Returns the input itself when already RGB.
 *
 * @example
 * ```ts
 * import { toRgb } from "./image_io.ts";
 * toRgb({ width: 1, height: 1, channels: 1, data: new Uint8Array([7]) }).data; // [7, 7, 7]
 * ```
 */
export function toRgb(image: DecodedImage): DecodedImage {
  const { width, height, channels, data } = image;
  if (channels === 3) return image;
  const n = width * height;
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    if (channels === 1) {
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[i];
    } else {
      out[3 * i] = data[4 * i];
      out[3 * i + 1] = data[4 * i + 1];
      out[3 * i + 2] = data[4 * i + 2];
    }
  }
  return { width, height, channels: 3, data: out };
}

/**
 * Converts to 1-channel grey like `cv2.imread(path, IMREAD_GRAYSCALE)`:
 * - PNG colour (libpng `png_set_rgb_to_gray(1, 0.299, 0.587)`): pixels with
 *   R = G = B keep R; others get `(9797·R + 19234·G + 9737·B) >> 15`, i.e.
 *   libpng's 15-bit coefficients (truncated from 0.299/0.587) and a
 *   **truncating** shift. (A `gAMA` chunk would make libpng go through gamma
 *   tables; that path is not reproduced.)
 * - JPEG colour (`jpeg` = true; libjpeg emits its Y channel): the rounded
 *   `(19595·R + 38470·G + 7471·B + 32768) >> 16` on the decoded RGB, which is
 *   libjpeg's RGB→Y; the decoders' YCbCr→RGB rounding can still differ by 1.
 * Alpha is ignored.
 *
 * @example
 * ```ts
 * import { toGray } from "./image_io.ts";
 * toGray({ width: 1, height: 1, channels: 3, data: new Uint8Array([255, 0, 0]) }).data; // [76]
 * ```
 */
export function toGray(image: DecodedImage, options: { jpeg?: boolean } = {}): DecodedImage {
  const { width, height, channels, data } = image;
  if (channels === 1) return image;
  const n = width * height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = data[channels * i], g = data[channels * i + 1], b = data[channels * i + 2];
    if (r === g && r === b) out[i] = r;
    else if (options.jpeg) out[i] = (19595 * r + 38470 * g + 7471 * b + 32768) >>> 16;
    else out[i] = (9797 * r + 19234 * g + 9737 * b) >>> 15;
  }
  return { width, height, channels: 1, data: out };
}

/**
 * Decodes a mask file to 1-channel grey with `cv2.IMREAD_GRAYSCALE`
 * semantics (see {@linkcode toGray} for the colour conversion and rounding).
 *
 * @example
 * ```ts
 * import { decodeMask, encodePng } from "./image_io.ts";
 * const m = await decodeMask(encodePng(2, 1, new Uint8Array([0, 255]), 1));
 * m.data; // [0, 255]
 * ```
 */
export async function decodeMask(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  const img = await decodeImage(bytes, options);
  return toGray(img, { jpeg: readImageHeader(bytes).format === "jpeg" });
}

/**
 * Encodes 8-bit pixels (HWC, 1/2/3/4 channels) as a PNG (no row filters).
 * Takes four positional arguments (width, height, data, channels), as asked
 * by the HTTP server, which holds them separately.
 *
 * @example
 * ```ts
 * import { encodePng } from "./image_io.ts";
 * const bytes = encodePng(2, 2, new Uint8Array(12), 3);
 * bytes[1]; // 0x50 ("P")
 * ```
 */
export function encodePng(
  width: number,
  height: number,
  data: Uint8Array,
  channels: number,
  options: EncodePngOptions = {},
): Uint8Array {
  if (![1, 2, 3, 4].includes(channels) || data.length !== width * height * channels) {
    throw new RangeError(
      `Cannot encode PNG: current data is ${data.length} bytes for ${width}x${height}x${channels}`,
    );
  }
  const encode = encodePngBytes as (d: Uint8Array, o: Record<string, number>) => Uint8Array;
  return encode(data, { width, height, channels, level: options.level ?? DEFAULT_PNG_LEVEL });
}

/**
 * Encodes an RGB(A) or grey image as a baseline JPEG (imagescript's wasm
 * encoder; alpha is dropped, grey is stored as colour). Mainly for tests and
 * fixtures.
 *
 * @example
 * ```ts
 * import { encodeJpeg } from "./image_io.ts";
 * const jpg = await encodeJpeg({ width: 8, height: 8, channels: 3, data: new Uint8Array(192) });
 * jpg[0]; // 0xff
 * ```
 */
export async function encodeJpeg(
  image: DecodedImage,
  options: EncodeJpegOptions = {},
): Promise<Uint8Array> {
  const quality = Math.round(options.quality ?? DEFAULT_JPEG_QUALITY);
  return await encodeJpegRgb(toRgb(image), Math.min(100, Math.max(1, quality)));
}
