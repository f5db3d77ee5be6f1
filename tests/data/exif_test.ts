import { assertEquals } from "../assert.ts";
import { encodeJpeg } from "../../lib/data/image_io.ts";
import { readExifOrientation, readTiffOrientation } from "../../lib/data/exif.ts";
import { exifSegment, quadrantImage, spliceAfterSoi } from "../exif_images.ts";

const plain = await encodeJpeg(quadrantImage(16, 8));

Deno.test("readExifOrientation() reads orientations 1-8 from a spliced APP1, either byte order", () => {
  for (const little of [false, true]) {
    for (let o = 1; o <= 8; o++) {
      assertEquals(readExifOrientation(spliceAfterSoi(plain, exifSegment(o, little))), o);
    }
  }
});

Deno.test("readExifOrientation() finds APP1 after other segments (APP0 first)", () => {
  const app0 = new Uint8Array([0xff, 0xe0, 0, 6, 1, 2, 3, 4]);
  const bytes = spliceAfterSoi(spliceAfterSoi(plain, exifSegment(6)), app0);
  assertEquals(readExifOrientation(bytes), 6);
});

Deno.test("readExifOrientation() gives 1 without EXIF, for out-of-range values and non-JPEGs", async () => {
  assertEquals(readExifOrientation(plain), 1);
  assertEquals(readExifOrientation(spliceAfterSoi(plain, exifSegment(0))), 1);
  assertEquals(readExifOrientation(spliceAfterSoi(plain, exifSegment(9))), 1);
  assertEquals(readExifOrientation(await Deno.readFile("tests/testdata/images/coffee.png")), 1);
  assertEquals(readExifOrientation(new Uint8Array()), 1);
});

Deno.test("readExifOrientation() never throws on junk: every prefix, random bytes, bad lengths", () => {
  const good = spliceAfterSoi(plain, exifSegment(8));
  for (let n = 0; n < 80; n++) {
    const o = readExifOrientation(good.subarray(0, n));
    assertEquals(o === 1 || (o === 8 && n >= 32), true, `prefix ${n}: ${o}`);
  }
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let t = 0; t < 300; t++) {
    const junk = Uint8Array.from({ length: 4 + (t % 60) }, rand);
    junk.set([0xff, 0xd8, 0xff, 0xe1]);
    const o = readExifOrientation(junk);
    assertEquals(o >= 1 && o <= 8, true);
  }
  // An IFD that claims 65535 entries without the tag, and a segment length of 0.
  const seg = exifSegment(6);
  seg[18] = seg[19] = 0xff; // entry count (big-endian, after "Exif\0\0" and the 8-byte header)
  assertEquals(readExifOrientation(spliceAfterSoi(plain, seg)), 6); // entry 0 is still read
  seg[21] = 0x10; // tag 0x0110 instead of 0x0112
  assertEquals(readExifOrientation(spliceAfterSoi(plain, seg)), 1);
  assertEquals(readExifOrientation(new Uint8Array([0xff, 0xd8, 0xff, 0xe1, 0, 0, 0, 0])), 1);
});

Deno.test("readTiffOrientation() reads a raw TIFF block (the WebP/PNG EXIF chunk hook), LONG too", () => {
  const tiff = exifSegment(5, true).subarray(10);
  assertEquals(readTiffOrientation(tiff), 5);
  const long = tiff.slice();
  const v = new DataView(long.buffer);
  v.setUint16(12, 4, true);
  v.setUint32(18, 7, true);
  assertEquals(readTiffOrientation(long), 7);
  assertEquals(readTiffOrientation(tiff.subarray(0, 20)), 1);
});

Deno.test("readExifOrientation() never throws on junk PNG and RIFF/WebP containers", () => {
  let seed = 5;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const heads = [
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    [...new TextEncoder().encode("RIFF"), 0, 0, 0, 0, ...new TextEncoder().encode("WEBP")],
  ];
  for (const head of heads) {
    for (let t = 0; t < 300; t++) {
      const junk = Uint8Array.from({ length: head.length + (t % 80) }, rand);
      junk.set(head);
      const o = readExifOrientation(junk);
      assertEquals(o >= 1 && o <= 8, true);
    }
    assertEquals(readExifOrientation(new Uint8Array(head)), 1);
  }
});
