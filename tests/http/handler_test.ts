import { assert, assertEquals, assertMatch } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { createPredictHandler } from "../../lib/http/handler.ts";
import type { Predictor } from "../../lib/predict/predictor.ts";
import { alphaMatting } from "../../lib/predict/alpha_matting.ts";
import { maskQuartiles, pngSize, post, testJpeg, testPng, tinyHandler } from "./fixtures.ts";

const { handle, model, predictor } = await tinyHandler({
  maxBodyBytes: 64 * 1024,
  maxPixels: 512 * 512,
});
/** A stub predictor's options: the real one's, whatever fields the predictor has. */
const stubOptions = { ...predictor.options, engine: "tfjs" as const };
const start = tf.memory().numTensors;

Deno.test("createPredictHandler() serves the upload page on GET /", async () => {
  const res = await handle(new Request("http://localhost/"));
  assertEquals(res.status, 200);
  assertMatch(res.headers.get("content-type")!, /text\/html/);
  assert(res.headers.get("content-security-policy"));
  const csp = res.headers.get("content-security-policy")!;
  assert(csp.includes("script-src 'self'") && !csp.includes("unsafe-inline"), csp);
  const html = await res.text();
  assert(html.includes('id="file"') && html.includes('id="result"') && html.includes('id="drop"'));
  assert(!/<img[^>]*\ssrc=/.test(html), "an <img> with a source before any upload");
  assert(!/<script>|\sstyle=/.test(html), "inline script or style");
  const js = await handle(new Request("http://localhost/page.js"));
  assertMatch(js.headers.get("content-type")!, /javascript/);
  assert((await js.text()).includes("predict?"));
  const css = await handle(new Request("http://localhost/page.css"));
  assertMatch(css.headers.get("content-type")!, /text\/css/);
  await css.body?.cancel();
  assertEquals((await handle(new Request("http://localhost/", { method: "HEAD" }))).status, 200);
});

Deno.test("createPredictHandler() reports backend, model and limits on GET /healthz", async () => {
  const res = await handle(new Request("http://localhost/healthz"));
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.ok, true);
  assertEquals(body.model.arch, "lite");
  assertEquals(body.input, { size: 32, resize: "squash", preprocess: "seed" });
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

Deno.test("createPredictHandler() mattes the cut-out with the query's trimap when alpha=matting", async () => {
  const png = testPng(40, 30);
  const soft = await handle(post(png, "image/png", "?format=soft"));
  const mask = (await decodeImage(new Uint8Array(await soft.arrayBuffer()))).data;
  const { bg, fg } = maskQuartiles(mask);
  const q = `?format=cutout&alpha=matting&matting_fg=${fg}&matting_bg=${bg}&matting_erode=1`;
  const res = await handle(post(png, "image/png", q));
  assertEquals(res.status, 200);
  const out = await decodeImage(new Uint8Array(await res.arrayBuffer()));
  const matte = alphaMatting(await decodeImage(png), mask, {
    foregroundThreshold: fg,
    backgroundThreshold: bg,
    erodeSize: 1,
  });
  assert(!("fallback" in matte), JSON.stringify(matte));
  const want = [...matte.alpha].map((a) => Math.trunc(a * 255));
  assertEquals([...out.data.filter((_, i) => i % 4 === 3)], want);
  const bad = await handle(post(png, "image/png", "?alpha=matting&matting_erode=x"));
  assertEquals(bad.status, 400);
  await bad.body?.cancel();
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("createPredictHandler() in-thread keeps the event loop turning during a matte", async () => {
  const png = testPng(150, 100); // under the 64 KiB body limit
  const soft = await handle(post(png, "image/png", "?format=soft"));
  assertEquals(soft.status, 200);
  const mask = (await decodeImage(new Uint8Array(await soft.arrayBuffer()))).data;
  const { bg, fg } = maskQuartiles(mask);
  const q = `?alpha=matting&matting_fg=${fg}&matting_bg=${bg}&matting_erode=3`;
  let last = performance.now(), gap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 2);
  const t = performance.now();
  try {
    const res = await handle(post(png, "image/png", q));
    gap = Math.max(gap, performance.now() - last); // the stretch before the answer, too
    assertEquals(res.status, 200);
    await res.body?.cancel();
  } finally {
    clearInterval(ticker);
  }
  const ms = performance.now() - t;
  // Unsliced, the matte holds the thread for most of the request (here 150 of 175 ms).
  assert(
    gap < Math.max(ms / 2, 40),
    `the loop stood still ${gap.toFixed(0)} of ${ms.toFixed(0)} ms`,
  );
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

Deno.test("createPredictHandler() takes a multipart file part without a filename", async () => {
  const enc = new TextEncoder();
  const head = '--B0undary\r\ncontent-disposition: form-data; name="file"\r\n' +
    "content-type: image/png\r\n\r\n";
  const body = new Uint8Array([
    ...enc.encode(head),
    ...testPng(),
    ...enc.encode("\r\n--B0undary--\r\n"),
  ]);
  const ct = 'multipart/form-data; boundary="B0undary"';
  const res = await handle(post(body, ct, "?format=json"));
  assertEquals(res.status, 200);
  assertEquals((await res.json()).width, 24);
});

Deno.test("createPredictHandler() sniffs a raw PNG or JPEG body sent without a Content-Type", async () => {
  for (const bytes of [testPng(24, 16), await testJpeg(24, 16)]) {
    const res = await handle(post(bytes, null, "?format=json"));
    assertEquals(res.status, 200);
    assertEquals((await res.json()).width, 24);
  }
});

Deno.test("createPredictHandler() reads threshold as a plain decimal: .25, 0.5, 1.0 and 0", async () => {
  for (const [t, v] of [[".25", 0.25], ["0.5", 0.5], ["1.0", 1], ["0", 0]] as const) {
    const res = await handle(post(testPng(), "image/png", `?format=json&threshold=${t}`));
    assertEquals(res.status, 200, t);
    assertEquals((await res.json()).threshold, v);
  }
});

Deno.test("createPredictHandler() repeats at most 40 characters of a bad bg, format or threshold", async () => {
  const long = "z".repeat(10_000);
  for (const q of [`bg=${long}`, `format=${long}`, `threshold=${long}`]) {
    const res = await handle(post(testPng(), "image/png", `?${q}`));
    assertEquals(res.status, 400);
    const { error } = await res.json();
    assert(error.length < 160, `${error.length} characters: ${error.slice(0, 80)}`);
    assert(error.includes("z".repeat(40)) && !error.includes("z".repeat(41)), error);
  }
});

Deno.test("createPredictHandler() says it runs in-thread on GET /healthz when given a predictor", async () => {
  const body = await (await handle(new Request("http://localhost/healthz"))).json();
  assertEquals(body.mode, "in-thread");
  assertEquals(body.queue.concurrency, 1);
  assert(body.memory === null || body.memory.rss > 0);
});

Deno.test("createPredictHandler() takes application/octet-stream bodies", async () => {
  const res = await handle(post(testPng(), "application/octet-stream", "?format=json"));
  assertEquals(res.status, 200);
  await res.body?.cancel();
});

function manyParts(n: number): Request {
  const b = "XyZ";
  const body = Array.from(
    { length: n },
    () => `--${b}\r\ncontent-disposition: form-data; name="x"\r\n\r\n\r\n`,
  )
    .join("") + `--${b}--\r\n`;
  return post(new TextEncoder().encode(body), `multipart/form-data; boundary=${b}`);
}

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
  ["text without a content type", () => post(new TextEncoder().encode("hello"), null), 415],
  ["image/gif", () => post(testPng(), "image/gif"), 415],
  ["threshold=%20", () => post(testPng(), "image/png", "?threshold=%20"), 400],
  ["threshold=0x1", () => post(testPng(), "image/png", "?threshold=0x1"), 400],
  ["threshold=1e0", () => post(testPng(), "image/png", "?threshold=1e0"), 400],
  ["threshold=", () => post(testPng(), "image/png", "?threshold="), 400],
  ["a multipart body of 100 parts", () => manyParts(100), 400],
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
    options: stubOptions,
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
    options: stubOptions,
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

Deno.test("createPredictHandler() refuses a 20 MiB body of 420k empty multipart parts with 400 in bounded time", async () => {
  const big = await tinyHandler({ maxBodyBytes: 32 * 1024 * 1024 });
  try {
    const part = '--b\r\ncontent-disposition: form-data; name="x"\r\n\r\n\r\n';
    const body = new TextEncoder().encode(part.repeat(420_000) + "--b--\r\n");
    assert(body.byteLength > 20 * 1024 * 1024);
    const t0 = performance.now();
    const res = await big.handle(post(body, "multipart/form-data; boundary=b", "?format=json"));
    const ms = performance.now() - t0;
    assertEquals(res.status, 400);
    assertMatch((await res.json()).error, /more than 64 parts/);
    assert(ms < 1000, `${ms.toFixed(0)} ms`);
  } finally {
    big.model.dispose();
  }
});
