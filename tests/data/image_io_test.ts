import assert from "node:assert/strict";
import {
  decodeImage,
  decodeMask,
  encodeJpeg,
  encodePng,
  readImageHeader,
  toGray,
  toRgb,
} from "../../lib/data/image_io.ts";
import { testdata } from "../helpers.ts";

/** A minimal PNG writer (zlib via CompressionStream) for colour types imagescript cannot write. */
async function rawPng(
  w: number,
  h: number,
  colorType: number,
  depth: number,
  rows: number[][],
  extra: [string, number[]][] = [],
): Promise<Uint8Array> {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    v.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, h);
  ihdr.set([depth, colorType, 0, 0, 0], 8);
  const raw = new Uint8Array(rows.flatMap((r) => [0, ...r]));
  const z = new Uint8Array(
    await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")))
      .arrayBuffer(),
  );
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...extra.map(([t, d]) => chunk(t, new Uint8Array(d))),
    chunk("IDAT", z),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

const chelseaBytes = await Deno.readFile(testdata("images/chelsea.png"));

Deno.test("decodeImage() decodes the fixture PNGs to RGB when given 8-bit RGB files", async () => {
  const sizes: Record<string, [number, number]> = {
    chelsea: [451, 300],
    coffee: [600, 400],
    astronaut: [512, 512],
  };
  for (const [name, [w, h]] of Object.entries(sizes)) {
    const img = await decodeImage(await Deno.readFile(testdata(`images/${name}.png`)));
    assert.deepEqual([img.width, img.height, img.channels, img.data.length], [w, h, 3, w * h * 3]);
  }
  const c = await decodeImage(chelseaBytes);
  assert.deepEqual(Array.from(c.data.subarray(0, 3)), [143, 120, 104]);
});

Deno.test("encodePng() round-trips exactly when given 1, 3 and 4 channels", async () => {
  const c = await decodeImage(chelseaBytes);
  const back = await decodeImage(encodePng(c.width, c.height, c.data, 3));
  assert.deepEqual(back, c);
  const grey = {
    width: 3,
    height: 2,
    channels: 1 as const,
    data: new Uint8Array([0, 1, 2, 128, 254, 255]),
  };
  assert.deepEqual(await decodeImage(encodePng(3, 2, grey.data, 1)), grey);
  const rgba = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 0]);
  assert.deepEqual((await decodeImage(encodePng(2, 1, rgba, 4))).data, rgba);
  assert.throws(() => encodePng(2, 2, new Uint8Array(5), 3), RangeError);
});

Deno.test("decodeImage() keeps the file's channels when given grey, alpha, palette and 16-bit PNGs", async () => {
  const grey = await decodeImage(await rawPng(3, 1, 0, 8, [[0, 128, 255]]));
  assert.deepEqual([grey.channels, Array.from(grey.data)], [1, [0, 128, 255]]);
  const ga = await decodeImage(await rawPng(1, 1, 4, 8, [[7, 100]]));
  assert.deepEqual([ga.channels, Array.from(ga.data)], [4, [7, 7, 7, 100]]);
  const pal = await decodeImage(
    await rawPng(2, 1, 3, 8, [[1, 0]], [["PLTE", [10, 200, 30, 1, 2, 3]]]),
  );
  assert.deepEqual([pal.channels, Array.from(pal.data)], [3, [1, 2, 3, 10, 200, 30]]);
  const palA = await decodeImage(
    await rawPng(1, 1, 3, 8, [[0]], [["PLTE", [10, 200, 30]], ["tRNS", [77]]]),
  );
  assert.deepEqual([palA.channels, Array.from(palA.data)], [4, [10, 200, 30, 77]]);
  // 16-bit keeps the high byte (libpng strip_16, as cv2.imread without ANYDEPTH).
  const deep = await decodeImage(await rawPng(1, 1, 2, 16, [[0x12, 0x34, 0x56, 0x78, 0xff, 0xff]]));
  assert.deepEqual([deep.channels, Array.from(deep.data)], [3, [0x12, 0x56, 0xff]]);
});

Deno.test("toRgb() and toGray() follow cv2.imread when given grey, RGBA and colour pixels", () => {
  const g = { width: 1, height: 1, channels: 1 as const, data: new Uint8Array([9]) };
  assert.deepEqual(Array.from(toRgb(g).data), [9, 9, 9]);
  const rgba = { width: 1, height: 1, channels: 4 as const, data: new Uint8Array([1, 2, 3, 0]) };
  assert.deepEqual(Array.from(toRgb(rgba).data), [1, 2, 3]);
  const rgb = {
    width: 5,
    height: 1,
    channels: 3 as const,
    data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 10, 10, 200, 100, 50]),
  };
  // libpng: (9797 R + 19234 G + 9737 B) >> 15, truncated; R=G=B kept.
  assert.deepEqual(Array.from(toGray(rgb).data), [76, 149, 75, 10, 133]);
  // libjpeg's rounded Y.
  assert.deepEqual(Array.from(toGray(rgb, { jpeg: true }).data), [76, 150, 29, 10, 124]);
});

Deno.test("decodeMask() converts colour PNG masks like IMREAD_GRAYSCALE when given RGB and grey", async () => {
  const rgb = encodePng(3, 1, new Uint8Array([255, 0, 0, 0, 255, 0, 255, 255, 255]), 3);
  assert.deepEqual(Array.from((await decodeMask(rgb)).data), [76, 149, 255]);
  const grey = encodePng(2, 1, new Uint8Array([0, 200]), 1);
  const m = await decodeMask(grey);
  assert.deepEqual([m.width, m.height, m.channels, Array.from(m.data)], [2, 1, 1, [0, 200]]);
});

Deno.test("encodeJpeg() output decodes to nearly the same pixels when given a smooth image", async () => {
  const w = 32, h = 24;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([x * 8, y * 10, 128], 3 * (y * w + x));
  }
  const jpg = await encodeJpeg({ width: w, height: h, channels: 3, data }, { quality: 95 });
  assert.deepEqual(readImageHeader(jpg), { format: "jpeg", width: w, height: h, channels: 3 });
  const back = await decodeImage(jpg);
  assert.deepEqual([back.width, back.height, back.channels], [w, h, 3]);
  let max = 0;
  for (let i = 0; i < data.length; i++) max = Math.max(max, Math.abs(back.data[i] - data[i]));
  assert.ok(max <= 12, `max JPEG error ${max}`);
  const mask = await decodeMask(jpg);
  assert.equal(mask.channels, 1);
});

Deno.test("readImageHeader() reads the size without decoding when given PNG and JPEG bytes", async () => {
  assert.deepEqual(readImageHeader(chelseaBytes), {
    format: "png",
    width: 451,
    height: 300,
    channels: 3,
  });
  // Only the first bytes are needed.
  assert.equal(readImageHeader(chelseaBytes.subarray(0, 40)).width, 451);
  const jpg = await encodeJpeg({ width: 40, height: 7, channels: 3, data: new Uint8Array(840) });
  // A JFIF APP0 segment precedes the frame header: it must be skipped.
  assert.deepEqual([jpg[2], jpg[3]], [0xff, 0xe0]);
  assert.deepEqual(readImageHeader(jpg), { format: "jpeg", width: 40, height: 7, channels: 3 });
});

Deno.test("readImageHeader() and decodeImage() throw clear errors when given other or truncated data", async () => {
  const gif = new TextEncoder().encode("GIF89a\x01\x00\x01\x00");
  assert.throws(() => readImageHeader(gif), {
    name: "TypeError",
    message: /current format is gif/,
  });
  await assert.rejects(decodeImage(gif), { name: "TypeError", message: /current format is gif/ });
  await assert.rejects(decodeImage(new Uint8Array([1, 2, 3, 4])), /current format is unknown/);
  assert.throws(() => readImageHeader(chelseaBytes.subarray(0, 20)), /truncated/);
  await assert.rejects(decodeImage(chelseaBytes.subarray(0, 5000)), {
    name: "TypeError",
    message: /truncated or corrupt PNG/,
  });
  const jpg = await encodeJpeg({
    width: 16,
    height: 16,
    channels: 3,
    data: new Uint8Array(768).fill(90),
  });
  assert.throws(() => readImageHeader(jpg.subarray(0, 12)), /truncated/);
  await assert.rejects(decodeImage(jpg.subarray(0, jpg.length >> 1)), /truncated or corrupt JPEG/);
});

Deno.test("decodeImage() refuses before decoding when the header exceeds maxPixels", async () => {
  await assert.rejects(decodeImage(chelseaBytes, { maxPixels: 1000 }), {
    name: "RangeError",
    message: /451x300/,
  });
});

Deno.test("decodeImage() says the data is empty when given 0 bytes (an empty stdin or upload)", async () => {
  await assert.rejects(() => decodeImage(new Uint8Array(0)), {
    name: "TypeError",
    message: "Cannot decode image: current data is empty (0 bytes)",
  });
});
