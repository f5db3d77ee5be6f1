import { assert, assertEquals } from "../assert.ts";
import { type App, createApp } from "../../lib/http/app.ts";
import { testPng } from "./fixtures.ts";
import { describeLoad, quantile, runLoad } from "./_load.ts";

const WEIGHTS = "tests/testdata/lite_wz.safetensors";
const HEALTH_P99_MS = 250;

async function withServer(app: App, fn: (base: string) => Promise<void>): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
    await app.close();
  }
}

const png = testPng(32, 24) as Uint8Array<ArrayBuffer>;
const pngBody = () => ({ body: png, headers: { "content-type": "image/png" } });

Deno.test("createApp() with a worker sheds 32 clients x 20 requests with 503 + Retry-After, no other 5xx, /healthz p99 under 250 ms", async () => {
  const app = await createApp({
    weights: WEIGHTS,
    backend: "cpu",
    inputSize: 32,
    workers: 1,
    maxQueue: 8,
  });
  assertEquals(app.mode, "workers");
  await withServer(app, async (base) => {
    const r = await runLoad(base, 32, 20, pngBody);
    console.log(describeLoad("32 x 20, workers, queue 8, Deno.serve", r));
    assertEquals((r.statuses[200] ?? 0) + (r.statuses[503] ?? 0), 640, JSON.stringify(r.statuses));
    assert((r.statuses[503] ?? 0) > 0, "no 503 with 32 clients on 9 tickets");
    assert((r.statuses[200] ?? 0) > 0);
    assertEquals(r.missingRetryAfter, 0);
    assert(r.peakAdmitted <= 9, `peak admitted ${r.peakAdmitted} > 1 + 8`);
    assert(quantile(r.health, 0.99) < HEALTH_P99_MS, describeLoad("32 x 20", r));
  });
});

Deno.test("createApp() with workers: 0 runs in-thread and still answers /healthz between requests", async () => {
  const app = await createApp({ weights: WEIGHTS, backend: "cpu", inputSize: 32, workers: 0 });
  assertEquals(app.mode, "in-thread");
  await withServer(app, async (base) => {
    const health = await (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) }))
      .json();
    assertEquals(health.mode, "in-thread");
    const r = await runLoad(base, 8, 25, pngBody);
    console.log(describeLoad("8 x 25, in-thread, Deno.serve", r));
    assertEquals(r.statuses[200], 200, JSON.stringify(r.statuses));
    assert(r.peakAdmitted >= 4, `peak admitted ${r.peakAdmitted}: the queue never filled`);
    assert(r.health.length >= 5, `only ${r.health.length} /healthz answers during the load`);
    assert(quantile(r.health, 0.99) < HEALTH_P99_MS, describeLoad("in-thread", r));
  });
});
