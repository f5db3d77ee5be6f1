/**
 * imagescript 1.3.1's wasm PNG decoder and JPEG decoder/encoder, instantiated
 * once and reused (the same calls as its `wasm/node/*.js` wrappers).
 *
 * @module
 */
import { loadJpegWasm, loadPngWasm } from "../deps_codecs.ts";
import type { DecodedImage } from "./decoded_image.ts";

// Instances are kept between calls; one whose memory grew past this is
// dropped after use so a single huge image does not pin its memory forever.
const MAX_KEPT_WASM_BYTES = 256 * 1024 * 1024;

interface PngExports {
  memory: WebAssembly.Memory;
  walloc(n: number): number;
  wfree(p: number): void;
  decode(p: number, n: number): number;
  width(): number;
  height(): number;
}

interface JpegExports {
  memory: WebAssembly.Memory;
  walloc(n: number): number;
  wfree(p: number, n: number): void;
  wlen(): number;
  decode(p: number, n: number, w: number, h: number): number;
  decode_free(p: number): void;
  decode_width(p: number): number;
  decode_height(p: number): number;
  decode_format(p: number): number;
  decode_buffer(p: number): number;
  encode(p: number, w: number, h: number, q: number): number;
}

let pngModule: Promise<WebAssembly.Module> | undefined;
let jpegModule: Promise<WebAssembly.Module> | undefined;
let pngInstance: PngExports | undefined;
let jpegInstance: JpegExports | undefined;

async function png(): Promise<PngExports> {
  if (pngInstance) return pngInstance;
  const mod = await (pngModule ??= loadPngWasm());
  pngInstance ??= new WebAssembly.Instance(mod, {
    env: { emscripten_notify_memory_growth() {} },
  }).exports as unknown as PngExports;
  return pngInstance;
}

async function jpeg(): Promise<JpegExports> {
  if (jpegInstance) return jpegInstance;
  const mod = await (jpegModule ??= loadJpegWasm());
  jpegInstance ??= new WebAssembly.Instance(mod).exports as unknown as JpegExports;
  return jpegInstance;
}

/** Decodes a PNG to `channels` channels (from its header). */
export async function decodePng(bytes: Uint8Array, channels: 1 | 3 | 4): Promise<DecodedImage> {
  const w = await png();
  const ptr = w.walloc(bytes.length);
  new Uint8Array(w.memory.buffer).set(bytes, ptr);
  const status = w.decode(ptr, bytes.length);
  w.wfree(ptr);
  if (status < 0) {
    throw new TypeError(
      `Cannot decode image: current data is a truncated or corrupt PNG (decoder status ${status})`,
    );
  }
  const width = w.width();
  const height = w.height();
  const rgba = new Uint8Array(w.memory.buffer, status, 4 * width * height);
  const data = new Uint8Array(width * height * channels);
  for (let i = 0, o = 0; i < rgba.length; i += 4) {
    data[o++] = rgba[i];
    if (channels === 1) continue;
    data[o++] = rgba[i + 1];
    data[o++] = rgba[i + 2];
    if (channels === 4) data[o++] = rgba[i + 3];
  }
  w.wfree(status);
  if (w.memory.buffer.byteLength > MAX_KEPT_WASM_BYTES) pngInstance = undefined;
  return { width, height, channels, data };
}

/** Decodes a JPEG to grey or RGB (CMYK is converted). */
export async function decodeJpeg(bytes: Uint8Array): Promise<DecodedImage> {
  const w = await jpeg();
  const ptr = w.walloc(bytes.length); // the decoder takes ownership of the input
  new Uint8Array(w.memory.buffer, ptr, bytes.length).set(bytes);
  const res = w.decode(ptr, bytes.length, 0, 0);
  if (res === 0 || res === 1) {
    throw new TypeError("Cannot decode image: current data is a truncated or corrupt JPEG");
  }
  const width = w.decode_width(res);
  const height = w.decode_height(res);
  const format = w.decode_format(res); // 0 grey, 1 RGB, 2 CMYK (inverted, Adobe)
  const buf = new Uint8Array(w.memory.buffer, w.decode_buffer(res), w.wlen());
  const n = width * height;
  let out: DecodedImage;
  if (format === 0) {
    out = { width, height, channels: 1, data: buf.slice(0, n) };
  } else if (format === 1) {
    out = { width, height, channels: 3, data: buf.slice(0, 3 * n) };
  } else {
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) {
      const k = 1 - buf[4 * i + 3] / 255;
      for (let c = 0; c < 3; c++) {
        data[3 * i + c] = Math.round(255 * (1 - buf[4 * i + c] / 255) * k);
      }
    }
    out = { width, height, channels: 3, data };
  }
  w.decode_free(res);
  if (w.memory.buffer.byteLength > MAX_KEPT_WASM_BYTES) jpegInstance = undefined;
  return out;
}

/** Encodes 3-channel RGB as a baseline JPEG of `quality` (1-100). */
export async function encodeJpegRgb(image: DecodedImage, quality: number): Promise<Uint8Array> {
  const { width, height, data: rgb } = image;
  const n = width * height;
  const w = await jpeg();
  const ptr = w.walloc(4 * n); // the encoder takes ownership of the input
  const rgba = new Uint8Array(w.memory.buffer, ptr, 4 * n);
  for (let i = 0; i < n; i++) {
    rgba[4 * i] = rgb[3 * i];
    rgba[4 * i + 1] = rgb[3 * i + 1];
    rgba[4 * i + 2] = rgb[3 * i + 2];
    rgba[4 * i + 3] = 255;
  }
  const out = w.encode(ptr, width, height, quality);
  const len = w.wlen();
  const bytes = new Uint8Array(w.memory.buffer, out, len).slice();
  w.wfree(out, len);
  return bytes;
}
