import { assert, assertEquals, assertRejects } from "../assert.ts";
import { HttpError } from "../../lib/http/errors.ts";
import { parsePredictQuery } from "../../lib/http/predict_query.ts";
import { createWorkerPool, WORKER_UNAVAILABLE } from "../../lib/http/worker_pool.ts";
import { pngSize, testPng } from "./fixtures.ts";

const WEIGHTS = "tests/testdata/lite_wz.safetensors";
const query = (q = "format=mask") => parsePredictQuery(new URLSearchParams(q));

Deno.test("createWorkerPool() predicts in a worker and transfers the PNG back", async () => {
  const pool = await createWorkerPool(WEIGHTS, { backend: "cpu", predictor: { inputSize: 32 } });
  try {
    assertEquals([pool.mode, pool.capacity, pool.info.arch, pool.info.inputSize], [
      "workers",
      1,
      "lite",
      32,
    ]);
    const out = await pool.run({ body: testPng(40, 30), contentType: "image/png", query: query() });
    assertEquals(out.contentType, "image/png");
    assertEquals(pngSize(out.body), { width: 40, height: 30, colorType: 0 });
    assertEquals(out.pixels, 1200);
    assertEquals(pool.stats().jobs, 1);
  } finally {
    await pool.close();
  }
});

Deno.test("createWorkerPool() rejects with the worker's HttpError for a bad upload", async () => {
  const pool = await createWorkerPool(WEIGHTS, { backend: "cpu", predictor: { inputSize: 32 } });
  try {
    const gif = new TextEncoder().encode("GIF89a\x01\x00\x01\x00");
    const e = await assertRejects(
      () => pool.run({ body: gif, contentType: null, query: query() }),
      HttpError,
    );
    assertEquals((e as HttpError).status, 415);
    const ok = await pool.run({ body: testPng(), contentType: "image/png", query: query() });
    assertEquals(pngSize(ok.body).width, 24);
  } finally {
    await pool.close();
  }
});

Deno.test("createWorkerPool() replaces a worker after a large image and when idle, and keeps answering", async () => {
  const pool = await createWorkerPool(WEIGHTS, {
    backend: "cpu",
    predictor: { inputSize: 32 },
    recyclePixels: 1000,
    idleRecycleMs: 100,
    idleRecyclePixels: 100,
    warmup: false,
  });
  try {
    const big = await pool.run({ body: testPng(40, 30), contentType: null, query: query() });
    assertEquals(pngSize(big.body).width, 40);
    assertEquals(pool.stats().recycled, 1);
    // The old worker answers until the new one is ready, then leaves.
    const end = Date.now() + 20_000;
    while (pool.stats().starting > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const small = await pool.run({ body: testPng(12, 10), contentType: null, query: query() });
    assertEquals(pngSize(small.body).width, 12);
    while (pool.stats().recycled < 2 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(pool.stats().recycled, 2);
    while (pool.stats().starting !== 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(pool.stats().ready, 1);
    const again = await pool.run({ body: testPng(12, 10), contentType: null, query: query() });
    assertEquals(pngSize(again.body).width, 12);
  } finally {
    await pool.close();
  }
});

Deno.test("createWorkerPool() rejects with the weights' error (not a worker failure) for a missing file", async () => {
  const e = await assertRejects(
    () => createWorkerPool("tests/testdata/missing.safetensors", { backend: "cpu" }),
    TypeError,
    "Cannot read weights file",
  );
  assert(!e.message.startsWith(WORKER_UNAVAILABLE));
});

/**
 * Web Worker threads of this process on Linux (their names start "worker-"),
 * read by `sh` (Deno grants /proc only with --allow-all); undefined elsewhere.
 */
async function workerThreads(): Promise<number | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  const { code, stdout } = await new Deno.Command("sh", {
    args: ["-c", `cat /proc/${Deno.pid}/task/*/comm 2>/dev/null; test -d /proc/${Deno.pid}/task`],
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(10_000),
  }).output();
  // A thread that ends between the glob and its read is skipped; the list itself must be there.
  const names = new TextDecoder().decode(stdout).split("\n").filter((n) => n !== "");
  assert(code === 0 && names.length > 0, "cannot read this process's threads");
  return names.filter((n) => n.startsWith("worker-")).length;
}

Deno.test("createWorkerPool() leaves no engine threads behind when it replaces and closes workers", async () => {
  const before = await workerThreads();
  const pool = await createWorkerPool(WEIGHTS, {
    backend: "cpu",
    predictor: { inputSize: 32, threads: 3 },
    recyclePixels: 1000,
    warmup: false,
  });
  try {
    for (let i = 0; i < 3; i++) {
      await pool.run({ body: testPng(40, 30), contentType: null, query: query() });
      const end = Date.now() + 20_000;
      while (pool.stats().starting > 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assertEquals(pool.stats().recycled, 3);
  } finally {
    await pool.close();
  }
  if (before === undefined) return;
  // A worker's own Web Workers (the engine's threads) outlived it before the
  // engines were disposed synchronously on close.
  const end = Date.now() + 5_000;
  while ((await workerThreads())! > before && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // At most as many as before (a previous test's threads may still be ending).
  const after = (await workerThreads())!;
  assert(after <= before, `${after - before} worker threads left behind`);
});
