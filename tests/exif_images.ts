/**
 * Test images with an EXIF orientation: the project's JPEG encoder's output
 * with an APP1 `Exif` segment spliced in after SOI, PNGs with an `eXIf`
 * chunk, WebPs rewrapped with an `EXIF` chunk, and a test image on which any
 * wrong rotation or flip shows.
 *
 * @module
 */
import { type DecodedImage, encodeJpeg } from "../lib/data/image_io.ts";

/** An APP1 segment holding IFD0 with the orientation tag (SHORT), little- or big-endian. */
export function exifSegment(orientation: number, little = false): Uint8Array {
  const tiff = new Uint8Array(26);
  const v = new DataView(tiff.buffer);
  tiff.set(little ? [0x49, 0x49] : [0x4d, 0x4d]);
  v.setUint16(2, 42, little);
  v.setUint32(4, 8, little);
  v.setUint16(8, 1, little); // one entry
  v.setUint16(10, 0x0112, little);
  v.setUint16(12, 3, little); // SHORT
  v.setUint32(14, 1, little);
  v.setUint16(18, orientation, little);
  v.setUint32(22, 0, little); // no next IFD
  const body = [...new TextEncoder().encode("Exif"), 0, 0, ...tiff];
  const len = body.length + 2;
  return new Uint8Array([0xff, 0xe1, len >> 8, len & 255, ...body]);
}

/** `jpeg` with `segment` inserted right after its SOI marker. */
export function spliceAfterSoi(jpeg: Uint8Array, segment: Uint8Array): Uint8Array {
  const out = new Uint8Array(jpeg.length + segment.length);
  out.set(jpeg.subarray(0, 2));
  out.set(segment, 2);
  out.set(jpeg.subarray(2), 2 + segment.length);
  return out;
}

/**
 * A `width`x`height` RGB image in four flat quadrants (red top-left, green
 * top-right, white bottom-left, blue bottom-right): JPEG keeps the colours,
 * and every rotation or flip puts them elsewhere.
 */
export function quadrantImage(width: number, height: number): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  const colours = [[220, 30, 30], [30, 220, 30], [240, 240, 240], [30, 30, 220]];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = colours[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)];
      for (let k = 0; k < 3; k++) data[(y * width + x) * 3 + k] = c[k];
    }
  }
  return { width, height, channels: 3, data };
}

/** A JPEG of `image` carrying EXIF `orientation` (none for undefined). */
export async function jpegWithOrientation(
  image: DecodedImage,
  orientation?: number,
  little = false,
): Promise<Uint8Array> {
  const jpeg = await encodeJpeg(image, { quality: 95 });
  return orientation === undefined ? jpeg : spliceAfterSoi(jpeg, exifSegment(orientation, little));
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** `png` with an `eXIf` chunk (the TIFF block of {@linkcode exifSegment}) right after IHDR. */
export function pngWithOrientation(png: Uint8Array, orientation: number): Uint8Array {
  const tiff = exifSegment(orientation).subarray(10);
  const chunk = new Uint8Array(12 + tiff.length);
  const v = new DataView(chunk.buffer);
  v.setUint32(0, tiff.length);
  chunk.set(new TextEncoder().encode("eXIf"), 4);
  chunk.set(tiff, 8);
  v.setUint32(8 + tiff.length, crc32(chunk.subarray(4, 8 + tiff.length)));
  const at = 8 + 25; // signature + IHDR
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, at));
  out.set(chunk, at);
  out.set(png.subarray(at), at + chunk.length);
  return out;
}

/**
 * A simple-format WebP (`RIFF…WEBP` + one VP8/VP8L chunk) rewrapped as an
 * extended one: VP8X (EXIF flag, the canvas size), the image chunk, an EXIF
 * chunk with `orientation`.
 */
export function webpWithOrientation(
  webp: Uint8Array,
  width: number,
  height: number,
  orientation: number,
): Uint8Array {
  const chunk = (tag: string, data: Uint8Array) => {
    const out = new Uint8Array(8 + data.length + (data.length % 2));
    out.set(new TextEncoder().encode(tag));
    new DataView(out.buffer).setUint32(4, data.length, true);
    out.set(data, 8);
    return out;
  };
  const vp8x = new Uint8Array(10);
  vp8x[0] = 0x08; // EXIF present
  const le24 = (at: number, v: number) => vp8x.set([v & 255, (v >> 8) & 255, (v >> 16) & 255], at);
  le24(4, width - 1);
  le24(7, height - 1);
  const image = webp.subarray(12);
  const parts = [chunk("VP8X", vp8x), image, chunk("EXIF", exifSegment(orientation).subarray(10))];
  const size = 4 + parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(8 + size);
  out.set(new TextEncoder().encode("RIFF"));
  new DataView(out.buffer).setUint32(4, size, true);
  out.set(new TextEncoder().encode("WEBP"), 8);
  let at = 12;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
