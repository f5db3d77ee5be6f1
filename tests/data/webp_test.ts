import assert from "node:assert/strict";
import { decodeWebp, readWebpHeader, webpStructureProblem } from "../../lib/data/webp.ts";
import { decodeImage, readImageHeader } from "../../lib/data/image_io.ts";
import { WEBP_SOURCE_SHA256 } from "../../lib/data/webp_wasm.ts";

// Fixtures: made with cwebp 1.2.4 from tests/testdata/images and synthetic
// images; `*.dwebp.png` are dwebp 1.2.4's decodes of them (default fancy
// upsampling). Lossy: 4 segments + normal loop filter (lossy.webp), simple
// filter + sharpness (lossy_simple_filter), odd sizes (17x9, 1x1), and a
// libvpx (vpxenc 1.12) key frame with 8 token partitions and loop-filter
// deltas, wrapped in RIFF (lossy_8_partitions). Alpha:
// lossless-compressed with the horizontal filter (lossy_alpha.webp), and the
// same alpha stored raw / vertical- / gradient-filtered (rewritten ALPH chunks,
// checked against dwebp), so they share its reference. Lossless: predictor +
// cross-colour + subtract-green (lossless.webp), meta prefix codes
// (lossless_meta), colour cache (lossless_alpha, lossless_noise_alpha) and
// colour indexing with packed pixels (lossless_palette, lossless_1x1).
const dir = new URL("../testdata/webp/", import.meta.url);
const read = (name: string) => Deno.readFile(new URL(name, dir));

const CASES: [string, string, number, number, 3 | 4][] = [
  ["lossy.webp", "lossy.dwebp.png", 64, 48, 3],
  ["lossy_17x9.webp", "lossy_17x9.dwebp.png", 17, 9, 3],
  ["lossy_1x1.webp", "lossy_1x1.dwebp.png", 1, 1, 4],
  ["lossy_simple_filter.webp", "lossy_simple_filter.dwebp.png", 40, 40, 3],
  ["lossy_8_partitions.webp", "lossy_8_partitions.dwebp.png", 24, 136, 3],
  ["lossy_alpha.webp", "lossy_alpha.dwebp.png", 67, 45, 4],
  ["lossy_alpha_raw.webp", "lossy_alpha.dwebp.png", 67, 45, 4],
  ["lossy_alpha_vertical.webp", "lossy_alpha.dwebp.png", 67, 45, 4],
  ["lossy_alpha_gradient.webp", "lossy_alpha.dwebp.png", 67, 45, 4],
  ["lossless.webp", "lossless.dwebp.png", 64, 48, 3],
  ["lossless_1x1.webp", "lossless_1x1.dwebp.png", 1, 1, 4],
  ["lossless_meta.webp", "lossless_meta.dwebp.png", 64, 64, 3],
  ["lossless_alpha.webp", "lossless_alpha.dwebp.png", 67, 45, 4],
  ["lossless_noise_alpha.webp", "lossless_noise_alpha.dwebp.png", 33, 21, 4],
  ["lossless_palette.webp", "lossless_palette.dwebp.png", 40, 30, 4],
];

Deno.test("decodeWebp() matches dwebp exactly when decoding lossy, lossless and alpha fixtures", async () => {
  for (const [file, ref, width, height, channels] of CASES) {
    const img = decodeWebp(await read(file));
    const want = await decodeImage(await read(ref));
    assert.deepEqual([img.width, img.height, img.channels], [width, height, channels], file);
    assert.deepEqual([want.width, want.height, want.channels], [width, height, channels], ref);
    let maxDiff = 0;
    for (let i = 0; i < img.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(img.data[i] - want.data[i]));
    }
    assert.equal(maxDiff, 0, `${file}: max difference ${maxDiff} vs dwebp`);
  }
});

Deno.test("readWebpHeader() reads size and alpha when given VP8, VP8L and VP8X files", async () => {
  assert.deepEqual(readWebpHeader(await read("lossy.webp")), {
    width: 64,
    height: 48,
    channels: 3,
    lossless: false,
  });
  assert.deepEqual(readWebpHeader(await read("lossless_alpha.webp")), {
    width: 67,
    height: 45,
    channels: 4,
    lossless: true,
  });
  assert.deepEqual(readWebpHeader(await read("lossy_alpha.webp")), {
    width: 67,
    height: 45,
    channels: 4,
    lossless: false,
  });
  assert.throws(() => readWebpHeader(new Uint8Array(12)), /Cannot read image header: current WebP/);
  const cut = (await read("lossy.webp")).subarray(0, 25);
  assert.throws(() => readWebpHeader(cut), /VP8 is truncated/);
});

Deno.test("readImageHeader() and decodeImage() handle WebP when sniffing RIFF....WEBP", async () => {
  const bytes = await read("lossy_alpha.webp");
  assert.deepEqual(readImageHeader(bytes), { format: "webp", width: 67, height: 45, channels: 4 });
  const img = await decodeImage(bytes);
  assert.deepEqual([img.width, img.height, img.channels], [67, 45, 4]);
  await assert.rejects(decodeImage(bytes, { maxPixels: 100 }), RangeError);
});

Deno.test("decodeWebp() refuses an animated file with a clear error when it has ANIM/ANMF chunks", async () => {
  const bytes = await read("animated.webp");
  assert.throws(
    () => decodeWebp(bytes),
    (e: Error) =>
      e instanceof TypeError && /is animated/.test(e.message) && !e.message.includes("\n"),
  );
});

Deno.test("decodeWebp() throws a RangeError before allocating when the size is over maxPixels", async () => {
  const bytes = await read("lossy.webp");
  assert.throws(() => decodeWebp(bytes, { maxPixels: 64 * 48 - 1 }), RangeError);
  // A 16384x16384 lossless header with no data: refused by the default limit.
  const huge = (await read("lossless_1x1.webp")).slice();
  const bits = 0x3fff | (0x3fff << 14);
  new DataView(huge.buffer).setUint32(21, bits, true);
  assert.throws(() => decodeWebp(huge), /16384x16384, over 100000000 pixels/);
});

/** Decodes, or checks the error is a one-line "Cannot decode WebP" one; true when it threw. */
function decodeOrCleanError(bytes: Uint8Array, label: string): boolean {
  try {
    const img = decodeWebp(bytes);
    assert.equal(img.data.length, img.width * img.height * img.channels, label);
    return false;
  } catch (e) {
    assert.ok(e instanceof TypeError || e instanceof RangeError, `${label}: ${e}`);
    assert.match((e as Error).message, /^Cannot (decode WebP|read image header): current /, label);
    assert.ok(!(e as Error).message.includes("\n"), label);
    return true;
  }
}

Deno.test("decodeWebp() throws a clean error or returns an image when data is truncated or bit-flipped", async () => {
  for (const file of ["lossy_alpha.webp", "lossless_alpha.webp", "lossy_17x9.webp"]) {
    const bytes = await read(file);
    const clean = decodeWebp(bytes);
    let truncatedErrors = 0;
    for (let n = 0; n < bytes.length; n += Math.max(1, bytes.length >> 6)) {
      if (decodeOrCleanError(bytes.subarray(0, n), `${file} cut at ${n}`)) truncatedErrors++;
    }
    assert.ok(truncatedErrors > 0, file);
    let seed = 12345;
    for (let k = 0; k < 150; k++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const flipped = bytes.slice();
      const pos = 12 + (seed % (bytes.length - 12));
      flipped[pos] ^= 1 << ((seed >>> 16) & 7);
      decodeOrCleanError(flipped, `${file} bit flip at ${pos}`);
    }
    // The reused decoder instance is left in a clean state.
    assert.deepEqual(decodeWebp(bytes), clean, `${file} after the corrupt inputs`);
  }
});

Deno.test("the embedded WebP module was built from the committed C source when checked by hash", async () => {
  const source = await Deno.readFile(new URL("../../lib/data/_wasm/webp.c", import.meta.url));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", source));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, WEBP_SOURCE_SHA256, "run lib/data/_wasm/build.sh after editing the C");
});

Deno.test("webpStructureProblem() names the problem when chunks are truncated or animated", async () => {
  const bytes = await read("lossy_alpha.webp");
  assert.equal(webpStructureProblem(bytes), undefined);
  assert.match(webpStructureProblem(bytes.subarray(0, 100))!, /^truncated at 100 bytes/);
  const lying = bytes.slice();
  new DataView(lying.buffer).setUint32(16, 100000, true); // VP8X chunk size
  assert.match(webpStructureProblem(lying)!, /chunk VP8X at byte 12 is truncated/);
  assert.equal(webpStructureProblem(await read("animated.webp")), "animated WebP is not supported");
  assert.equal(webpStructureProblem(await read("lossless_1x1.webp")), undefined);
});
