import { assertEquals, assertThrows } from "../assert.ts";
import { type DecodedImage, decodeImage, encodePng } from "../../lib/data/image_io.ts";
import { readExifOrientation } from "../../lib/data/exif.ts";
import { orientImage } from "../../lib/data/orient_image.ts";
import {
  jpegWithOrientation,
  pngWithOrientation,
  quadrantImage,
  webpWithOrientation,
} from "../exif_images.ts";

// The reference: each orientation as a composition of two simple moves,
// written independently of orientImage's index formula.
function rotateCw(img: DecodedImage): DecodedImage {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // source (x, y) lands in column h-1-y, row x of the w-tall result
      const d = (x * h + (h - 1 - y)) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[(y * w + x) * c + k];
    }
  }
  return { width: h, height: w, channels: c, data: out };
}

function mirror(img: DecodedImage): DecodedImage {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) out[(y * w + w - 1 - x) * c + k] = data[(y * w + x) * c + k];
    }
  }
  return { width: w, height: h, channels: c, data: out };
}

const times = (f: (i: DecodedImage) => DecodedImage, n: number) => (i: DecodedImage) => {
  for (let k = 0; k < n; k++) i = f(i);
  return i;
};

/** EXIF orientation o → the displayed image (Pillow's exif_transpose). */
const REFERENCE: Record<number, (i: DecodedImage) => DecodedImage> = {
  1: (i) => i,
  2: mirror,
  3: times(rotateCw, 2),
  4: (i) => mirror(times(rotateCw, 2)(i)), // flip top-bottom
  5: (i) => mirror(rotateCw(i)), // transpose
  6: rotateCw,
  7: (i) => mirror(times(rotateCw, 3)(i)), // transverse
  8: times(rotateCw, 3),
};

const sample = (w: number, h: number, c: 1 | 3 | 4): DecodedImage => ({
  width: w,
  height: h,
  channels: c,
  data: Uint8Array.from({ length: w * h * c }, (_, i) => (i * 37 + 11) % 251),
});

Deno.test("orientImage() matches rotations and flips for orientations 1-8, any channel count", () => {
  for (const c of [1, 3, 4] as const) {
    const img = sample(5, 3, c);
    for (let o = 1; o <= 8; o++) {
      const got = orientImage(img, o), want = REFERENCE[o](img);
      assertEquals([got.width, got.height, got.channels], [want.width, want.height, c], `${o}`);
      assertEquals([...got.data], [...want.data], `orientation ${o}, ${c} channels`);
    }
  }
});

Deno.test("orientImage() refuses an orientation outside 1-8", () => {
  for (const o of [0, 9, 1.5, NaN]) assertThrows(() => orientImage(sample(2, 2, 1), o), RangeError);
});

Deno.test("decodeImage() with orientation: true shows an EXIF-rotated JPEG as displayed, for 1-8", async () => {
  const img = quadrantImage(24, 16);
  const stored = await decodeImage(await jpegWithOrientation(img));
  for (let o = 1; o <= 8; o++) {
    const bytes = await jpegWithOrientation(img, o, o % 2 === 0);
    const want = REFERENCE[o](stored);
    const got = await decodeImage(bytes, { orientation: true });
    assertEquals([got.width, got.height], [want.width, want.height], `orientation ${o}`);
    assertEquals(got.data, want.data, `orientation ${o}`);
    // Without the option (training, evaluation): the stored pixels, as the seed's PIL/cv2 path.
    assertEquals((await decodeImage(bytes)).data, stored.data);
  }
});

Deno.test("decodeImage() with orientation 6 puts the top-left (red) quadrant top-right", async () => {
  const got = await decodeImage(await jpegWithOrientation(quadrantImage(24, 16), 6), {
    orientation: true,
  });
  assertEquals([got.width, got.height], [16, 24]);
  const at = (
    x: number,
    y: number,
  ) => [...got.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)];
  const red = (p: number[]) => p[0] > 180 && p[1] < 80 && p[2] < 80;
  assertEquals([red(at(12, 3)), red(at(3, 3)), red(at(12, 20))], [true, false, false]);
});

Deno.test("decodeImage() with orientation: true applies a PNG eXIf chunk's orientation", async () => {
  const img = quadrantImage(12, 8);
  const png = encodePng(img.width, img.height, img.data, 3);
  for (let o = 1; o <= 8; o++) {
    const bytes = pngWithOrientation(png, o);
    assertEquals(readExifOrientation(bytes), o);
    const got = await decodeImage(bytes, { orientation: true });
    assertEquals(got.data, REFERENCE[o](img).data, `orientation ${o}`);
    assertEquals((await decodeImage(bytes)).data, img.data);
  }
});

Deno.test("decodeImage() with orientation: true applies a WebP EXIF chunk's orientation", async () => {
  const webp = await Deno.readFile("tests/testdata/webp/lossless.webp");
  const stored = await decodeImage(webp);
  for (const o of [1, 3, 6, 8]) {
    const bytes = webpWithOrientation(webp, stored.width, stored.height, o);
    assertEquals(readExifOrientation(bytes), o);
    const got = await decodeImage(bytes, { orientation: true });
    assertEquals(got.data, REFERENCE[o](stored).data, `orientation ${o}`);
  }
});
