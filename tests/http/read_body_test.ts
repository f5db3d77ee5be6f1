import { assert, assertEquals } from "../assert.ts";
import { readBody } from "../../lib/http/read_body.ts";
import { HttpError } from "../../lib/http/errors.ts";

const req = (body: BodyInit | null, headers: Record<string, string> = {}) =>
  new Request("http://x/", { method: "POST", body, headers });

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    assert(e instanceof HttpError, String(e));
    return e.status;
  }
}

Deno.test("readBody() returns the bytes of a body within the cap", async () => {
  const parts = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array([1, 2]));
      c.enqueue(new Uint8Array([3]));
      c.close();
    },
  });
  assertEquals([...await readBody(req(parts), { maxBytes: 3 })], [1, 2, 3]);
});

Deno.test("readBody() maps oversize, declared oversize, bad length, empty and slow bodies to 413/413/400/400/408", async () => {
  assertEquals(await status(readBody(req(new Uint8Array(11)), { maxBytes: 10 })), 413);
  assertEquals(
    await status(readBody(req(new Uint8Array(1), { "content-length": "99" }), { maxBytes: 10 })),
    413,
  );
  assertEquals(await status(readBody(req(new Uint8Array(1), { "content-length": "-1" }))), 400);
  assertEquals(await status(readBody(req(new Uint8Array(0)))), 400);
  const stuck = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array(1));
    },
  });
  const t0 = performance.now();
  assertEquals(await status(readBody(req(stuck), { timeoutMs: 50 })), 408);
  assert(performance.now() - t0 < 1000);
});
