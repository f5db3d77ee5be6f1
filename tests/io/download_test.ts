import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { DownloadError, downloadVerified } from "../../lib/io/download.ts";
import {
  FIXTURE,
  FIXTURE_MD5,
  freshDir,
  refusedBaseUrl,
  startModelServer,
} from "./model_server.ts";

const opts = { bytes: FIXTURE.length, md5: FIXTURE_MD5, label: "u2netp" };

/** The names in `dir`. */
async function names(dir: string): Promise<string[]> {
  const out = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("downloadVerified() writes the file under its final name and reports progress when all checks pass", async () => {
  const server = startModelServer();
  try {
    const dir = await freshDir("dl_ok");
    const seen: [number, number][] = [];
    await downloadVerified(`${server.baseUrl}/u2netp.onnx`, `${dir}/u2netp.onnx`, {
      ...opts,
      onProgress: (r, t) => seen.push([r, t]),
    });
    assertEquals(await Deno.readFile(`${dir}/u2netp.onnx`), FIXTURE);
    assertEquals(await names(dir), ["u2netp.onnx"]);
    assert(seen.length >= 1);
    assertEquals(seen.at(-1), [FIXTURE.length, FIXTURE.length]);
    assert(seen.every(([r], i) => i === 0 || r > seen[i - 1][0]), "progress not increasing");
  } finally {
    await server.close();
  }
});

const failures: [string, string, Partial<typeof opts>, RegExp][] = [
  [
    "the md5 differs",
    "/u2netp.onnx",
    { md5: "0".repeat(32) },
    /current md5 is [0-9a-f]{32}, expected 0{32}/,
  ],
  [
    "the transfer is cut",
    "/cut/u2netp.onnx",
    {},
    /current transfer stopped after \d+ of \d+ bytes/,
  ],
  [
    "the body is short without Content-Length",
    "/short/u2netp.onnx",
    {},
    /current transfer stopped after \d+ of \d+ bytes/,
  ],
  [
    "the server answers 404",
    "/nope/u2netp.onnx",
    {},
    /current status is 404 from http:\/\/127\.0\.0\.1:\d+\/nope\/u2netp\.onnx$/,
  ],
  [
    "Content-Length differs from the expected size",
    "/u2netp.onnx",
    { bytes: 1000 },
    /current size is \d+ bytes, expected 1000/,
  ],
  [
    "the body is longer than expected",
    "/short/u2netp.onnx",
    { bytes: 1000 },
    /current size exceeds the expected 1000 bytes/,
  ],
];

for (const [when, path, extra, message] of failures) {
  Deno.test(`downloadVerified() leaves nothing behind when ${when}`, async () => {
    const server = startModelServer();
    try {
      const dir = await freshDir("dl_fail");
      const e = await assertRejects(
        () =>
          downloadVerified(`${server.baseUrl}${path}`, `${dir}/u2netp.onnx`, { ...opts, ...extra }),
        DownloadError,
        "Cannot download u2netp: current",
      );
      assertMatch(e.message, message);
      assert(!e.message.includes("\n"));
      assertEquals(await names(dir), []);
    } finally {
      await server.close();
    }
  });
}

Deno.test("downloadVerified() names the URL in a network error when nothing listens", async () => {
  const dir = await freshDir("dl_refused");
  const url = `${refusedBaseUrl()}/u2netp.onnx`;
  const e = await assertRejects(
    () => downloadVerified(url, `${dir}/u2netp.onnx`, opts),
    DownloadError,
    "current URL is unreachable",
  );
  assertEquals((e as DownloadError).kind, "network");
  assert(e.message.endsWith(`from ${url}`), e.message);
  assertEquals(await names(dir), []);
});

Deno.test("downloadVerified() cuts a transfer that stalls longer than idleTimeoutMs", async () => {
  const dir = await freshDir("dl_stall");
  let cancel = () => {};
  const stalled: typeof fetch = () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(FIXTURE.subarray(0, 10));
        cancel = () => {
          try {
            c.close();
          } catch {
            // already cancelled by downloadVerified()
          }
        };
      },
    });
    return Promise.resolve(new Response(body));
  };
  try {
    const e = await assertRejects(
      () =>
        downloadVerified("http://127.0.0.1:1/u2netp.onnx", `${dir}/u2netp.onnx`, {
          ...opts,
          fetch: stalled,
          idleTimeoutMs: 50,
        }),
      DownloadError,
      "current transfer stopped after 10 of",
    );
    assertEquals((e as DownloadError).kind, "cut");
  } finally {
    cancel();
  }
  assertEquals(await names(dir), []);
});
