import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { tf } from "../../lib/deps.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { createPredictHandler } from "../../lib/http/handler.ts";
import type { Predictor } from "../../lib/predict/predictor.ts";
import { pngSize, post, testJpeg, testPng, tinyHandler } from "./_fixtures.ts";

const { handle, model } = await tinyHandler({ maxBodyBytes: 64 * 1024, maxPixels: 512 * 512 });
const start = tf.memory().numTensors;

Deno.test("createPredictHandler() serves the upload page on GET /", async () => {
  const res = await handle(new Request("http://localhost/"));
  assertEquals(res.status, 200);
  assertMatch(res.headers.get("content-type")!, /text\/html/);
  assert(res.headers.get("content-security-policy"));
  const html = await res.text();
  assert(html.includes('id="file"') && html.includes('id="result"') && html.includes("predict?"));
  assertEquals((await handle(new Request("http://localhost/", { method: "HEAD" }))).status, 200);
});

Deno.test("createPredictHandler() reports backend, model and limits on GET /healthz", async () => {
  const res = await handle(new Request("http://localhost/healthz"));
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.ok, true);
  assertEquals(body.model.arch, "lite");
  assertEquals(body.input, { size: 32, resize: "squash" });
  assertEquals(body.limits.maxBodyBytes, 64 * 1024);
  assertEquals(body.queue.active, 0);
});

for (const format of ["mask", "soft", "cutout"] as const) {
  Deno.test(`createPredictHandler() answers a ${format} PNG at the image's size when format=${format}`, async () => {
    const res = await handle(post(testPng(24, 16), "image/png", `?format=${format}`));
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "image/png");
    const bytes = new Uint8Array(await res.arrayBuffer());
    const size = pngSize(bytes);
    assertEquals([size.width, size.height], [24, 16]);
    assertEquals(size.colorType, format === "cutout" ? 6 : 0);
    const img = await decodeImage(bytes);
    if (format === "mask") assert(img.data.every((v) => v === 0 || v === 255));
    assertEquals(tf.memory().numTensors, start);
  });
}

Deno.test("createPredictHandler() makes an opaque RGB cut-out when bg is given", async () => {
  const res = await handle(post(testPng(24, 16), "image/png", "?format=cutout&bg=%23ffffff"));
  assertEquals(res.status, 200);
  assertEquals(pngSize(new Uint8Array(await res.arrayBuffer())).colorType, 2);
});

Deno.test("createPredictHandler() answers a JSON summary when format=json", async () => {
  const res = await handle(post(await testJpeg(24, 16), "image/jpeg", "?format=json&threshold=0"));
  assertEquals(res.status, 200);
  const s = await res.json();
  assertEquals([s.width, s.height, s.threshold], [24, 16, 0]);
  assert(s.foregroundFraction >= 0 && s.foregroundFraction <= 1);
  if (s.foregroundFraction > 0) assert(s.bbox.width >= 1);
});

Deno.test("createPredictHandler() thresholds strictly: threshold=1 gives an empty mask", async () => {
  const res = await handle(post(testPng(), "image/png", "?format=json&threshold=1"));
  const s = await res.json();
  assertEquals([s.foregroundFraction, s.bbox], [0, null]);
});

Deno.test("createPredictHandler() takes multipart uploads in field file or image", async () => {
  for (const field of ["file", "image"]) {
    const form = new FormData();
    form.set("note", "hello");
    form.set(
      field,
      new Blob([testPng() as Uint8Array<ArrayBuffer>], { type: "image/png" }),
      "x.png",
    );
    const res = await handle(
      new Request("http://localhost/predict?format=json", { method: "POST", body: form }),
    );
    assertEquals(res.status, 200, field);
    assertEquals((await res.json()).width, 24);
  }
});

Deno.test("createPredictHandler() takes application/octet-stream bodies", async () => {
  const res = await handle(post(testPng(), "application/octet-stream", "?format=json"));
  assertEquals(res.status, 200);
  await res.body?.cancel();
});

const errorCases: [string, () => Request | Promise<Request>, number][] = [
  ["unknown route", () => new Request("http://localhost/nope"), 404],
  ["GET /predict", () => new Request("http://localhost/predict"), 405],
  ["POST /healthz", () => new Request("http://localhost/healthz", { method: "POST" }), 405],
  ["bad format", () => post(testPng(), "image/png", "?format=gif"), 400],
  ["bad threshold", () => post(testPng(), "image/png", "?threshold=1.5"), 400],
  ["bad bg", () => post(testPng(), "image/png", "?format=cutout&bg=nope"), 400],
  ["empty body", () => post(new Uint8Array(0)), 400],
  ["no body", () => post(null), 400],
  ["over the byte limit", () => post(new Uint8Array(65 * 1024)), 413],
  ["over the pixel limit", () => post(testPng(600, 500)), 413],
  ["text/plain", () => post(testPng(), "text/plain"), 415],
  ["no content type", () => post(testPng(), null), 415],
  ["a GIF", () => post(new TextEncoder().encode("GIF89a...."), "image/png"), 415],
  ["truncated PNG", () => post(testPng().slice(0, 60)), 422],
];
for (const [name, make, status] of errorCases) {
  Deno.test(`createPredictHandler() answers ${status} with a JSON error for ${name}`, async () => {
    const res = await handle(await make());
    assertEquals(res.status, status);
    assertMatch(res.headers.get("content-type")!, /application\/json/);
    const body = await res.json();
    assertEquals(body.status, status);
    assert(typeof body.error === "string" && body.error.length > 0);
    if (status === 405) assert(res.headers.get("allow"));
  });
}

Deno.test("createPredictHandler() answers 408 when the body arrives too slowly", async () => {
  const slow = await tinyHandler({ readTimeoutMs: 100 });
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(testPng().slice(0, 10)); // then nothing more
    },
  });
  const t0 = performance.now();
  const res = await slow.handle(post(body));
  assertEquals(res.status, 408);
  assert(performance.now() - t0 < 2000);
  await res.body?.cancel();
  slow.model.dispose();
});

Deno.test("createPredictHandler() answers 503 with Retry-After when the queue is full", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const stub: Predictor = {
    options: { inputSize: 32, resize: "squash", maxBatch: 1, engine: "tfjs", threads: 1 },
    async predict(images) {
      await gate;
      return images.map((i) => ({
        width: i.width,
        height: i.height,
        data: new Float32Array(i.width * i.height),
      }));
    },
  };
  const h = createPredictHandler(stub, { concurrency: 1, maxQueue: 1, retryAfterSeconds: 2 });
  const first = h(post(testPng(), "image/png", "?format=json"));
  const second = h(post(testPng(), "image/png", "?format=json"));
  await new Promise((r) => setTimeout(r, 50));
  const third = await h(post(testPng(), "image/png", "?format=json"));
  assertEquals(third.status, 503);
  assertEquals(third.headers.get("retry-after"), "2");
  assertEquals((await third.json()).status, 503);
  release();
  assertEquals((await first).status, 200);
  assertEquals((await second).status, 200);
});

Deno.test("createPredictHandler() answers 500 without details when the predictor throws", async () => {
  const seen: unknown[] = [];
  const broken: Predictor = {
    options: { inputSize: 32, resize: "squash", maxBatch: 1, engine: "tfjs", threads: 1 },
    predict: () => Promise.reject(new Error("secret internals")),
  };
  const h = createPredictHandler(broken, { onError: (e) => seen.push(e) });
  const res = await h(post(testPng()));
  assertEquals(res.status, 500);
  const body = await res.json();
  assertEquals(body, { error: "internal error", status: 500 });
  assertEquals(seen.length, 1);
});

Deno.test("createPredictHandler() leaves the tensor count where it started", () => {
  assertEquals(tf.memory().numTensors, start);
});

globalThis.addEventListener("unload", () => model.dispose());

Deno.test("createPredictHandler() answers 413 when the shorter-side resize would make a huge input", async () => {
  const { createPredictor } = await import("../../lib/predict/predictor.ts");
  const p = createPredictor(model, { inputSize: 32, resize: "shorter-side" });
  const h = createPredictHandler(p);
  const wide = await h(post(testPng(400, 2), "image/png", "?format=json"));
  assertEquals(wide.status, 413);
  await wide.body?.cancel();
  const fine = await h(post(testPng(48, 32), "image/png", "?format=json"));
  assertEquals(fine.status, 200);
  assertEquals((await fine.json()).width, 48);
});
