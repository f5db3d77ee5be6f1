/**
 * The hostile-input corpus: requests that a prediction server must refuse
 * with a 4xx (or 503) without crashing, leaking or decoding huge images.
 *
 * @module
 */
import { crc32 } from "../../lib/http/upload.ts";
import { post, testJpeg, testPng } from "./fixtures.ts";

/** One hostile case. */
export interface HostileCase {
  /** What it is. */
  name: string;
  /** Builds the request (fresh each time: bodies are single-use). */
  request: () => Request;
  /** Statuses accepted. */
  expect: number[];
}

const u8 = (...parts: (number[] | Uint8Array | string)[]) => {
  const arrays = parts.map((p) =>
    typeof p === "string"
      ? new TextEncoder().encode(p)
      : p instanceof Uint8Array
      ? p
      : new Uint8Array(p)
  );
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
};

const be32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

/** A PNG chunk with a correct CRC. */
export function chunk(type: string, data: Uint8Array | number[]): Uint8Array {
  const body = u8(type, data instanceof Uint8Array ? data : new Uint8Array(data));
  return u8(be32(body.length - 4), body, be32(crc32(body)));
}

/** A structurally valid PNG (good CRCs, IDAT, IEND) whose header announces width x height. */
export function pngWithHeader(
  width: number,
  height: number,
  idat: number[] = [0x78, 0x9c, 0x03, 0, 0, 0, 0, 1],
): Uint8Array {
  return u8(
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    chunk("IHDR", [...be32(width), ...be32(height), 8, 2, 0, 0, 0]),
    chunk("IDAT", idat),
    chunk("IEND", []),
  );
}

/** A JPEG whose SOF0 announces width x height (then EOI). */
export function jpegWithHeader(width: number, height: number): Uint8Array {
  return u8(
    [
      0xff,
      0xd8,
      0xff,
      0xc0,
      0,
      17,
      8,
      (height >> 8) & 255,
      height & 255,
      (width >> 8) & 255,
      width & 255,
      3,
    ],
    [1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
    [0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0x12, 0x34],
    [0xff, 0xd9],
  );
}

function spread(n: number, count: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i < count; i++) out.add(1 + Math.floor(((n - 2) * i) / (count - 1)));
  return [...out];
}

/** Builds the corpus (at least 200 cases). `maxBodyBytes` is the handler's limit. */
export async function hostileCorpus(maxBodyBytes: number): Promise<HostileCase[]> {
  const png = testPng(24, 16);
  const jpg = await testJpeg(24, 16);
  const cases: HostileCase[] = [];
  const add = (name: string, request: () => Request, ...expect: number[]) =>
    cases.push({ name, request, expect });

  add("empty body", () => post(new Uint8Array(0)), 400);
  add("no body", () => post(null), 400);
  // Cut before the end of its image data (IEND, the last 12 bytes, may go:
  // the decoder takes such a file, as libpng does).
  for (const at of spread(png.length - 12, 60)) {
    add(`PNG truncated at ${at}`, () => post(png.slice(0, at)), 415, 422);
  }
  for (const at of spread(jpg.length, 60)) {
    add(`JPEG truncated at ${at}`, () => post(jpg.slice(0, at), "image/jpeg"), 415, 422);
  }
  // Flip one byte in every region of the PNG after the signature (CRC mismatch).
  for (const at of spread(png.length - 8, 30).map((i) => i + 8)) {
    const bad = png.slice();
    bad[at] ^= 0x5a;
    add(`PNG byte ${at} corrupted`, () => post(bad), 415, 422);
  }
  // Valid CRCs around corrupt compressed data: the decoder must fail cleanly.
  for (
    const idat of [
      [1, 2, 3, 4],
      [0x78, 0x9c, 0xff, 0xff, 0xff],
      [0x78, 0x9c, 0x63, 0, 0],
      new Array(40).fill(0xab),
    ]
  ) {
    add(`PNG with corrupt zlib ${idat.slice(0, 3)}`, () => post(pngWithHeader(24, 16, idat)), 422);
  }
  add("PNG without IDAT", () => post(u8(png.slice(0, 33), chunk("IEND", []))), 422);
  add(
    "PNG chunk length past the end",
    () => post(u8(png.slice(0, 33), [0x7f, 0xff, 0xff, 0xff], "IDAT")),
    422,
  );
  add("PNG 0x16", () => post(pngWithHeader(0, 16)), 422);
  add("PNG 24x0", () => post(pngWithHeader(24, 0)), 422);
  add("PNG 60000x60000 header", () => post(pngWithHeader(60000, 60000)), 413);
  add("PNG 2^31x2^31 header", () => post(pngWithHeader(2 ** 31, 2 ** 31)), 413);
  add("PNG 4294967295x1 header", () => post(pngWithHeader(4294967295, 1)), 413);
  add("PNG 1x2000000 header", () => post(pngWithHeader(1, 2_000_000)), 413);
  add("JPEG 0x16", () => post(jpegWithHeader(0, 16), "image/jpeg"), 422);
  add("JPEG 65535x65535 header", () => post(jpegWithHeader(65535, 65535), "image/jpeg"), 413);
  add("JPEG 60000x60000 header", () => post(jpegWithHeader(60000, 60000), "image/jpeg"), 413);
  add("JPEG without SOF", () => post(u8([0xff, 0xd8, 0xff, 0xd9]), "image/jpeg"), 422);
  for (
    const ct of [
      "text/plain",
      "application/json",
      "image/gif",
      "text/html",
      "application/x-www-form-urlencoded",
      "video/mp4",
    ]
  ) {
    add(`PNG sent as ${ct}`, () => post(png, ct), 415);
  }
  // A body without Content-Type is sniffed: PNG and JPEG are accepted, the rest is 415.
  add("GIF without content type", () => post(u8("GIF89a", [1, 0, 1, 0, 0, 0, 0]), null), 415);
  add(
    "truncated WebP without content type",
    () => post(u8("RIFF", [9, 0, 0, 0], "WEBPVP8 "), null),
    415,
    422,
  );
  add("text without content type", () => post(u8("hello, world"), null), 415);
  const junk: [string, Uint8Array][] = [
    ["GIF", u8("GIF89a", new Array(40).fill(1))],
    ["BMP", u8("BM", new Array(60).fill(0))],
    ["WEBP", u8("RIFF", [0, 0, 0, 0], "WEBPVP8 ", new Array(30).fill(0))],
    ["TIFF", u8("II*\0", new Array(30).fill(0))],
    ["HTML", u8("<html><body>hi</body></html>")],
    ["JSON", u8('{"image": "data:image/png;base64,AAAA"}')],
    ["zeros", new Uint8Array(100)],
    ["0xff", new Uint8Array(100).fill(0xff)],
    ["one byte", u8([0x89])],
    ["PNG magic only", png.slice(0, 8)],
  ];
  let seed = 7;
  for (let i = 0; i < 20; i++) {
    const b = new Uint8Array(16 + i * 13);
    for (let k = 0; k < b.length; k++) b[k] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    junk.push([`random ${b.length} bytes`, b]);
  }
  for (const [name, bytes] of junk) {
    add(
      `non-image: ${name}`,
      () => post(bytes, "application/octet-stream"),
      400,
      415,
      422,
    );
  }
  const multipart = (fields: [string, string | Blob][], ct?: string) => () => {
    const form = new FormData();
    for (const [k, v] of fields) form.append(k, v);
    const req = new Request("http://localhost/predict", { method: "POST", body: form });
    if (!ct) return req;
    return new Request(req, { headers: { "content-type": ct } });
  };
  add("multipart without fields", multipart([]), 400);
  add("multipart with a text field only", multipart([["note", "hi"]]), 400);
  // A file part needs no filename: its bytes are then checked like any upload.
  add("multipart with file as text", multipart([["file", "not a file"]]), 415);
  add(
    "multipart with the file in another field",
    multipart([["upload", new Blob([png as Uint8Array<ArrayBuffer>])]]),
    400,
  );
  add("multipart with an empty file", multipart([["file", new Blob([])]]), 400);
  add(
    "multipart with a GIF file",
    multipart([["file", new Blob([u8("GIF89a", [0, 0, 0, 0])])]]),
    415,
  );
  add("multipart with a truncated PNG", multipart([["image", new Blob([png.slice(0, 50)])]]), 422);
  add(
    "multipart with a wrong boundary",
    multipart(
      [["file", new Blob([png as Uint8Array<ArrayBuffer>])]],
      "multipart/form-data; boundary=nope",
    ),
    400,
  );
  add("multipart without boundary", () => post(png, "multipart/form-data"), 400);
  add("over the limit", () => post(new Uint8Array(maxBodyBytes + 1)), 413);
  add("over the limit, declared", () =>
    new Request("http://localhost/predict", {
      method: "POST",
      body: new Uint8Array(10),
      headers: { "content-type": "image/png", "content-length": String(maxBodyBytes * 100) },
    }), 413);
  add("over the limit, streamed", () =>
    post(
      new ReadableStream({
        pull(c) {
          c.enqueue(new Uint8Array(8192));
        },
      }),
    ), 413);
  add("bad Content-Length", () =>
    new Request("http://localhost/predict", {
      method: "POST",
      body: png as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "image/png", "content-length": "12abc" },
    }), 400);
  add("slow body", () =>
    post(
      new ReadableStream({
        start(c) {
          c.enqueue(png.slice(0, 20));
        },
      }),
    ), 408);
  add("stream that errors", () =>
    post(
      new ReadableStream({
        start(c) {
          c.enqueue(png.slice(0, 20));
          c.error(new Error("connection reset"));
        },
      }),
    ), 400);
  for (
    const q of [
      "format=gif",
      "format=",
      "threshold=-0.1",
      "threshold=2",
      "threshold=NaN",
      "threshold=abc",
      "bg=%23zzz",
      "format=cutout&bg=rgb(1,2)",
    ]
  ) {
    add(`query ${q}`, () => post(png, "image/png", `?${q}`), 400);
  }
  for (const m of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    add(`${m} /predict`, () => new Request("http://localhost/predict", { method: m }), 405);
  }
  for (
    const p of [
      "/predict/",
      "/predict.php",
      "/../etc/passwd",
      "/%00",
      "/healthz/x",
      "/" + "a".repeat(5000),
    ]
  ) {
    add(`path ${p.slice(0, 20)}`, () => new Request(`http://localhost${p}`), 404);
  }
  return cases;
}
