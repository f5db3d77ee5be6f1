import { assert, assertEquals } from "../assert.ts";
import { ByteBudget } from "../../lib/http/byte_budget.ts";
import { HttpError } from "../../lib/http/errors.ts";
import { createPredictHandler } from "../../lib/http/handler.ts";
import type { PredictionService } from "../../lib/http/prediction_service.ts";
import { readBody } from "../../lib/http/read_body.ts";

const MiB = 1024 * 1024;

/** A service that holds every job until `open()`; counts the bytes it saw. */
function gatedService() {
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  let seen = 0;
  const service: PredictionService = {
    mode: "in-thread",
    capacity: 1,
    async run(job) {
      seen += job.body.byteLength;
      await gate;
      return { body: new Uint8Array([123]), contentType: "application/json", pixels: 1 };
    },
    stats: () => ({ seen }),
    close: () => Promise.resolve(),
  };
  return { service, open, seen: () => seen };
}

/** A body stream that counts how often it was pulled (nothing is buffered before a read). */
function countedBody(bytes: number) {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      pulls++;
      c.enqueue(new Uint8Array(bytes));
      c.close();
    },
  }, { highWaterMark: 0 });
  return { stream, pulls: () => pulls };
}

const post = (body: BodyInit, headers: Record<string, string> = {}) =>
  new Request("http://localhost/predict?format=json", { method: "POST", body, headers });

Deno.test("ByteBudget.reserve() refuses with 503 and Retry-After past the limit, release() gives bytes back", () => {
  const b = new ByteBudget(100, { retryAfterSeconds: 4 });
  b.reserve(70);
  let err: unknown;
  try {
    b.reserve(31);
  } catch (e) {
    err = e;
  }
  assert(err instanceof HttpError && err.status === 503);
  assertEquals(err.headers["retry-after"], "4");
  b.release(70);
  assertEquals(b.stats(), { limit: 100, inUse: 0, peak: 70, refused: 1 });
});

Deno.test("readBody() reserves a declared length before reading and releases it on failure", async () => {
  const budget = new ByteBudget(10);
  const body = countedBody(20);
  let status = 0;
  try {
    await readBody(post(body.stream, { "content-length": "20" }), { budget, maxBytes: 100 });
  } catch (e) {
    status = (e as HttpError).status;
  }
  assertEquals([status, body.pulls(), budget.inUse], [503, 0, 0]);
  const ok = await readBody(post(new Uint8Array(8)), { budget });
  assertEquals([ok.byteLength, budget.inUse], [8, 8]);
  let chunked = 0;
  try {
    await readBody(post(countedBody(5).stream), { budget });
  } catch (e) {
    chunked = (e as HttpError).status;
  }
  assertEquals([chunked, budget.inUse], [503, 8]);
});

Deno.test("createPredictHandler() answers 503 before reading a body when every ticket is taken", async () => {
  const { service, open } = gatedService();
  const h = createPredictHandler(service, { maxQueue: 2, retryAfterSeconds: 3 });
  const held = [0, 1, 2].map(() => h(post(new Uint8Array(10))));
  await new Promise((r) => setTimeout(r, 20));
  const body = countedBody(10);
  const t0 = performance.now();
  const refused = await h(post(body.stream));
  assertEquals(refused.status, 503);
  assertEquals(refused.headers.get("retry-after"), "3");
  assertEquals(body.pulls(), 0);
  assert(performance.now() - t0 < 100);
  const health = await (await h(new Request("http://localhost/healthz"))).json();
  assertEquals([health.queue.active, health.queue.waiting, health.queue.refused], [1, 2, 1]);
  open();
  for (const r of await Promise.all(held)) assertEquals(r.status, 200);
});

Deno.test("createPredictHandler() bounds the upload bytes held at once across concurrent large bodies", async () => {
  const { service, open, seen } = gatedService();
  const h = createPredictHandler(service, {
    maxQueue: 64,
    maxBodyBytes: 2 * MiB,
    maxInflightBytes: 4 * MiB,
  });
  const size = 1.5 * MiB;
  const bodies = Array.from({ length: 24 }, () => countedBody(size));
  const answers = bodies.map((b) => h(post(b.stream, { "content-length": String(size) })));
  await new Promise((r) => setTimeout(r, 50));
  const health = await (await h(new Request("http://localhost/healthz"))).json();
  assertEquals(health.inflight.inUse, 2 * size);
  assertEquals(bodies.filter((b) => b.pulls() > 0).length, 2);
  open();
  const statuses = (await Promise.all(answers)).map((r) => r.status);
  assertEquals(statuses.filter((s) => s === 200).length, 2);
  assertEquals(statuses.filter((s) => s === 503).length, 22);
  assertEquals(seen(), 2 * size);
  const after = await (await h(new Request("http://localhost/healthz"))).json();
  assertEquals([after.inflight.inUse, after.inflight.peak <= 4 * MiB], [0, true]);
});

Deno.test("Deno.serve with the handler answers concurrent large uploads over the budget with 503, not resets", async () => {
  const { service, open } = gatedService();
  const h = createPredictHandler(service, {
    maxQueue: 64,
    maxBodyBytes: 2 * MiB,
    maxInflightBytes: 4 * MiB,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, h);
  try {
    const url = `http://127.0.0.1:${server.addr.port}/predict?format=json`;
    const big = new Uint8Array(MiB);
    const answers = Array.from(
      { length: 16 },
      () =>
        fetch(url, { method: "POST", body: big, headers: { "content-type": "image/png" } })
          .then(async (r) => {
            await r.arrayBuffer();
            return `${r.status}${r.headers.get("retry-after") ? "+retry" : ""}`;
          }, (e) => `error: ${String(e).slice(0, 80)}`),
    );
    await new Promise((r) => setTimeout(r, 300));
    open();
    const got = await Promise.all(answers);
    const count = (s: string) => got.filter((g) => g === s).length;
    assert(count("200") >= 1 && count("200") <= 4, JSON.stringify(got));
    assertEquals(count("200") + count("503+retry"), 16, JSON.stringify(got));
    const health = await (await fetch(url.replace(/predict.*/, "healthz"))).json();
    assert(health.inflight.peak <= 4 * MiB);
    assertEquals(health.inflight.inUse, 0);
  } finally {
    await server.shutdown();
  }
});
