import assert from "node:assert/strict";
import { makeZip } from "./_torch_files.ts";
import { inflateZip, readZip } from "../../lib/io/zip.ts";
import { readWeights } from "../../lib/io/read_weights.ts";

/** Raw deflate of `n` zero bytes, compressed in 1 MiB pieces (small peak memory). */
async function deflatedZeros(n: number): Promise<Uint8Array> {
  let left = n;
  const src = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(c) {
      if (left <= 0) return c.close();
      const k = Math.min(left, 2 ** 20);
      left -= k;
      c.enqueue(new Uint8Array(k));
    },
  });
  const s = src.pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** A stored-deflate zip entry: builds the archive around already deflated bytes. */
async function bombZip(name: string, declared: number, zeros: number): Promise<Uint8Array> {
  // makeZip deflates itself; reuse its layout by patching a stored entry into a deflated one.
  const body = await deflatedZeros(zeros);
  const zip = await makeZip([{ name, data: body, declaredSize: declared }]);
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const nameLen = new TextEncoder().encode(name).length;
  v.setUint16(8, 8, true); // local header: method deflate
  v.setUint16(30 + nameLen + body.length + 10, 8, true); // central header: method deflate
  return zip;
}

Deno.test("inflateZip() stops at the declared size when an entry inflates to far more (zip bomb)", async () => {
  const zip = await bombZip("a/data.pkl", 100, 20 * 2 ** 20);
  assert.ok(zip.length < 100_000, `${zip.length}`);
  const before = Deno.memoryUsage().rss;
  const err = await inflateZip(readZip(zip)).then(() => null, (e) => e as Error);
  const grew = Deno.memoryUsage().rss - before;
  assert.ok(err instanceof RangeError, String(err));
  assert.equal(
    err.message,
    'Cannot inflate zip entry "a/data.pkl": current data inflates past its declared 100 bytes',
  );
  assert.ok(grew < 16 * 2 ** 20, `rss grew ${grew} bytes inflating a 20 MiB bomb`);
  // through readWeights too: one line naming the entry
  await assert.rejects(readWeights(zip, "bomb.pth"), /"a\/data\.pkl".*declared 100 bytes/);
});

Deno.test("readZip() refuses an entry when its sizes disagree or exceed what deflate can give", async () => {
  const data = new Uint8Array(64).fill(7);
  const lie = await makeZip([{ name: "x/data.pkl", data, localSize: 1000 }]);
  assert.throws(() => readZip(lie), /"x\/data\.pkl" has sizes 64\/64 .* but 64\/1000/);
  const huge = await bombZip("x/data/0", 2 ** 30, 1000);
  assert.throws(() => readZip(huge), /"x\/data\/0" declares 1073741824 bytes from \d+ compressed/);
});

Deno.test("inflateZip() inflates an entry when its declared size is right", async () => {
  const zip = await bombZip("a/data/0", 3 * 2 ** 20, 3 * 2 ** 20);
  const out = await inflateZip(readZip(zip));
  const raw = out.get("a/data/0")!.raw;
  assert.equal(raw.length, 3 * 2 ** 20);
  assert.ok(raw.every((b) => b === 0));
  const short = await bombZip("a/data/0", 3 * 2 ** 20 + 5, 3 * 2 ** 20);
  await assert.rejects(inflateZip(readZip(short)), /inflates to 3145728 bytes, expected 3145733/);
});

Deno.test("inflateZip() refuses before inflating when the entries declare more than MAX_ZIP_TOTAL_BYTES in all", async () => {
  const raw = new Uint8Array(8);
  const archive = new Map(
    [0, 1, 2].map((i) => [`a/data/${i}`, { name: `a/data/${i}`, method: 8, size: 2 ** 30, raw }]),
  );
  await assert.rejects(
    () => inflateZip(archive),
    (e) => e instanceof RangeError && e.message.includes("over the 2147483648-byte limit"),
  );
});
