import { assertEquals, assertThrows } from "../assert.ts";
import { createCors } from "../../lib/http/cors.ts";
import { post, testPng, tinyHandler } from "./fixtures.ts";

const { handle, model } = await tinyHandler({ cors: "https://app.example" });
globalThis.addEventListener("unload", () => model.dispose());

const preflight = (origin: string, path = "/predict") =>
  new Request(`http://localhost${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });

Deno.test("createPredictHandler() answers a CORS preflight with 204, methods, headers and Vary", async () => {
  const res = await handle(preflight("https://app.example"));
  assertEquals(res.status, 204);
  assertEquals(res.headers.get("access-control-allow-origin"), "https://app.example");
  assertEquals(res.headers.get("access-control-allow-methods"), "GET, HEAD, POST, OPTIONS");
  assertEquals(res.headers.get("access-control-allow-headers"), "content-type");
  assertEquals(res.headers.get("vary")?.startsWith("Origin"), true);
});

Deno.test("createPredictHandler() gives a listed origin Access-Control-Allow-Origin on answers and errors, others none", async () => {
  const ok = post(testPng(), "image/png", "?format=json");
  ok.headers.set("origin", "https://app.example");
  const res = await handle(ok);
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("access-control-allow-origin"), "https://app.example");
  assertEquals(res.headers.get("access-control-expose-headers"), "retry-after");
  await res.body?.cancel();
  const bad = await handle(
    new Request("http://localhost/nope", { headers: { origin: "https://app.example" } }),
  );
  assertEquals(bad.status, 404);
  assertEquals(bad.headers.get("access-control-allow-origin"), "https://app.example");
  await bad.body?.cancel();
  const other = await handle(preflight("https://evil.example"));
  assertEquals(other.headers.get("access-control-allow-origin"), null);
  assertEquals(other.headers.get("vary")?.includes("Origin"), true);
});

Deno.test("createPredictHandler() without cors answers OPTIONS 405 and adds no CORS header", async () => {
  const plain = await tinyHandler();
  try {
    const res = await plain.handle(preflight("https://app.example"));
    assertEquals(res.status, 405);
    assertEquals(res.headers.get("access-control-allow-origin"), null);
    await res.body?.cancel();
  } finally {
    plain.model.dispose();
  }
});

Deno.test("createCors() allows any origin with * and refuses malformed origins", () => {
  const any = createCors("*");
  const h = any.headers(new Request("http://x/", { headers: { origin: "https://a.b" } }));
  assertEquals(h["access-control-allow-origin"], "*");
  assertEquals(h.vary, undefined);
  assertThrows(() => createCors("not an origin"), TypeError);
  assertThrows(() => createCors(" , "), TypeError);
});
