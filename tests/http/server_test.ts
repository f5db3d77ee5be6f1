import { tf } from "../../lib/deps.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { assert, assertEquals } from "../assert.ts";
import { pngSize, testPng, tinyHandler } from "./fixtures.ts";

async function withServer(
  fn: (base: string) => Promise<void>,
  inputSize = 32,
): Promise<void> {
  const { handle, model } = await tinyHandler({}, inputSize);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
    model.dispose();
  }
}

Deno.test("Deno.serve with the handler answers a posted PNG with a cut-out PNG over a socket", async () => {
  await withServer(async (base) => {
    const res = await fetch(`${base}/predict?format=cutout`, {
      signal: AbortSignal.timeout(30_000),
      method: "POST",
      headers: { "content-type": "image/png" },
      body: testPng(40, 30) as Uint8Array<ArrayBuffer>,
    });
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "image/png");
    const bytes = new Uint8Array(await res.arrayBuffer());
    assertEquals(pngSize(bytes), { width: 40, height: 30, colorType: 6 });
    const img = await decodeImage(bytes);
    assertEquals([img.width, img.height, img.channels], [40, 30, 4]);
    const health = await (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) }))
      .json();
    assertEquals(health.ok, true);
  });
});

Deno.test("Deno.serve with the handler survives 8 concurrent clients x 25 requests with no 5xx", async () => {
  await withServer(async (base) => {
    const body = testPng(48, 32) as Uint8Array<ArrayBuffer>;
    const post = () =>
      fetch(`${base}/predict?format=mask`, {
        signal: AbortSignal.timeout(30_000),
        method: "POST",
        headers: { "content-type": "image/png" },
        body,
      });
    const warm = await post();
    await warm.body?.cancel();
    const tensors = tf.memory().numTensors;
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    const client = async () => {
      for (let i = 0; i < 25; i++) {
        const t0 = performance.now();
        const res = await post();
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, client));
    const wall = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const q = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    console.log(
      `load: 200 requests in ${wall.toFixed(1)} s, statuses ${
        JSON.stringify(Object.fromEntries(statuses))
      }, ` +
        `p50 ${q(0.5).toFixed(0)} ms, p99 ${q(0.99).toFixed(0)} ms`,
    );
    assertEquals(latencies.length, 200);
    assert(
      [...statuses.keys()].every((s) => s < 500),
      `5xx seen: ${JSON.stringify([...statuses])}`,
    );
    assertEquals(statuses.get(200), 200);
    assertEquals(tf.memory().numTensors, tensors);
  });
});
