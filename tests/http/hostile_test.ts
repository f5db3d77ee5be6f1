import { tf } from "../../lib/deps.ts";
import { assert, assertEquals } from "../assert.ts";
import { hostileCorpus } from "./_corpus.ts";
import { post, testPng, tinyHandler } from "./fixtures.ts";

const MAX_BODY = 32 * 1024;
const PER_CASE_MS = 3000;

/**
 * Runs the hostile corpus against a fresh handler; `route` re-targets each
 * request (cases with their own path or query keep theirs: `null`).
 */
async function runCorpus(route: (url: URL) => string | null): Promise<void> {
  const { handle, model } = await tinyHandler({
    maxBodyBytes: MAX_BODY,
    maxPixels: 1024 * 1024,
    readTimeoutMs: 150,
  });
  const retarget = (req: Request) => {
    const to = route(new URL(req.url));
    return to === null ? req : new Request(to, req);
  };
  try {
    const corpus = await hostileCorpus(MAX_BODY);
    assert(corpus.length >= 200, `corpus has ${corpus.length} cases`);
    // Warm up (first inference allocates kernels), then take the baselines.
    assertEquals((await handle(post(testPng(), "image/png", "?format=json"))).status, 200);
    const tensors = tf.memory().numTensors;
    const rss0 = Deno.memoryUsage().rss;
    const failures: string[] = [];
    let slowest = 0;
    for (const [i, c] of corpus.entries()) {
      const t0 = performance.now();
      const res = await handle(retarget(c.request()));
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      const body = await res.json().catch(() => null);
      if (!c.expect.includes(res.status)) failures.push(`${c.name}: ${res.status} ${body?.error}`);
      else if (body?.status !== res.status || typeof body?.error !== "string") {
        failures.push(`${c.name}: body ${JSON.stringify(body)}`);
      }
      if (ms > PER_CASE_MS) failures.push(`${c.name}: took ${ms.toFixed(0)} ms`);
      // The server keeps answering valid requests in between.
      if (i % 25 === 0) {
        const ok = await handle(post(testPng(), "image/png", "?format=json"));
        if (ok.status !== 200) failures.push(`valid request after ${c.name}: ${ok.status}`);
        await ok.body?.cancel();
      }
    }
    const ok = await handle(post(testPng(), "image/png", "?format=mask"));
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
    assertEquals(failures, []);
    assertEquals(tf.memory().numTensors, tensors);
    const grew = (Deno.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(
      `hostile corpus: ${corpus.length} cases, slowest ${slowest.toFixed(0)} ms, RSS +${
        grew.toFixed(1)
      } MiB`,
    );
    assert(grew < 200, `RSS grew by ${grew.toFixed(0)} MiB`);
  } finally {
    model.dispose();
  }
}

Deno.test("createPredictHandler() refuses every case of the hostile corpus with a 4xx in bounded time, and keeps answering", async () => {
  await runCorpus(() => null);
});

Deno.test("POST /api/remove refuses the hostile corpus's bodies as POST /predict does", async () => {
  // The body cases (POST /predict with no query) go to rembg's route instead.
  await runCorpus((url) =>
    url.pathname === "/predict" && !url.search ? "http://localhost/api/remove" : null
  );
});

Deno.test("createPredictHandler() refuses a 60000x60000 PNG header before any decode", async () => {
  const { pngWithHeader } = await import("./_corpus.ts");
  const { handle, model } = await tinyHandler();
  try {
    const t0 = performance.now();
    const res = await handle(post(pngWithHeader(60000, 60000)));
    assertEquals(res.status, 413);
    const body = await res.json();
    assert(/60000x60000/.test(body.error), body.error);
    assert(performance.now() - t0 < 500);
  } finally {
    model.dispose();
  }
});
