import { assert, assertEquals, assertMatch } from "../assert.ts";
import { checkImage, extractImage } from "../../lib/http/upload.ts";
import { HttpError } from "../../lib/http/errors.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { testJpeg, testPng } from "./fixtures.ts";

const MAX = 1 << 20;

/** What checkImage() throws for `bytes`: the kind and the message. */
function refusal(bytes: Uint8Array): { kind: string; message: string } | undefined {
  try {
    checkImage(bytes, MAX);
    return undefined;
  } catch (e) {
    assert(e instanceof HttpError, String(e));
    return { kind: e.kind, message: e.message };
  }
}

/** Offset of the byte just past the last IDAT chunk of `png`. */
function endOfIdat(png: Uint8Array): number {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let end = 0;
  for (let o = 8; o < png.length;) {
    const len = view.getUint32(o);
    if (String.fromCharCode(...png.subarray(o + 4, o + 8)) === "IDAT") end = o + 12 + len;
    o += 12 + len;
  }
  return end;
}

Deno.test("checkImage() takes a PNG cut after its image data, as the decoder does, and refuses one cut inside it", async () => {
  const png = testPng(24, 16), end = endOfIdat(png);
  for (const cut of [end, end + 5, png.length - 1]) {
    assertEquals(refusal(png.subarray(0, cut)), undefined, `cut at ${cut}`);
    assertEquals((await decodeImage(png.subarray(0, cut))).width, 24); // what the CLI does
  }
  for (const cut of [end - 1, end - 9]) {
    assertEquals(refusal(png.subarray(0, cut))?.kind, "unprocessable", `cut at ${cut}`);
  }
});

Deno.test("checkImage() calls arithmetic-coded, lossless and hierarchical JPEGs unsupported (415), not corrupt", async () => {
  const jpg = await testJpeg(24, 16);
  const sof = jpg.findIndex((b, i) => b === 0xff && jpg[i + 1] === 0xc0);
  assert(sof > 0, "no SOF0 in the fixture");
  for (
    const [code, word] of [[0xc9, "arithmetic-coded"], [0xc3, "lossless"], [
      0xc5,
      "hierarchical",
    ]] as const
  ) {
    const bytes = jpg.slice();
    bytes[sof + 1] = code;
    const r = refusal(bytes);
    assertEquals(r?.kind, "unsupportedMediaType", r?.message);
    assertMatch(
      r!.message,
      new RegExp(`${word} JPEG \\(SOF${code - 0xc0}\\), which is not supported`),
    );
    assert(!/corrupt/.test(r!.message), r!.message);
  }
  assertEquals(refusal(jpg), undefined);
});

Deno.test("checkImage() calls an animated WebP unsupported (415), not corrupt", async () => {
  const r = refusal(await Deno.readFile("tests/testdata/webp/animated.webp"));
  assertEquals(r, {
    kind: "unsupportedMediaType",
    message: "webp: animated WebP is not supported",
  });
  assertEquals(refusal(await Deno.readFile("tests/testdata/webp/lossy.webp")), undefined);
});

Deno.test("extractImage() refuses a form-urlencoded body (415), naming curl's -H", () => {
  try {
    extractImage("application/x-www-form-urlencoded", testPng());
    throw new Error("accepted");
  } catch (e) {
    assert(e instanceof HttpError, String(e));
    assertEquals(e.kind, "unsupportedMediaType");
    assertMatch(
      e.message,
      /curl --data-binary sends .* unless given -H "Content-Type: image\/png"/,
    );
  }
  assertEquals(extractImage("image/png", testPng()).length, testPng().length);
});
