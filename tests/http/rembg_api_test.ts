import { assert, assertEquals, assertThrows } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { HttpError } from "../../lib/http/errors.ts";
import { rembgParams, rembgQuery } from "../../lib/http/rembg_api.ts";
import { renderOutput } from "../../lib/predict/render.ts";
import { maskQuartiles, pngSize, testPng, tinyHandler } from "./fixtures.ts";

const { handle, model, predictor } = await tinyHandler({ modelName: "u2netp" });
const start = tf.memory().numTensors;

/** A rembg client's request: the image in `file`, the parameters as form fields. */
function remove(fields: Record<string, string>, query = "", image = testPng(40, 30)): Request {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set("file", new Blob([image as Uint8Array<ArrayBuffer>], { type: "image/png" }), "x.png");
  return new Request(`http://localhost/api/remove${query}`, { method: "POST", body: form });
}

Deno.test("rembgQuery() maps rembg's parameters to a prediction query", () => {
  const q = rembgQuery(
    new Map([["a", "true"], ["af", "230"], ["ab", "5"], ["ae", "0"], ["ppm", "1"], [
      "bgc",
      "255,0,0,255",
    ]]),
    "u2netp",
  );
  assertEquals([q.format, q.alpha, q.postProcess, q.bgColor], ["cutout", "matting", true, [
    255,
    0,
    0,
  ]]);
  assertEquals(
    [q.matting.foregroundThreshold, q.matting.backgroundThreshold, q.matting.erodeSize],
    [
      230,
      5,
      0,
    ],
  );
  const plain = rembgQuery(new Map(), "u2netp");
  assertEquals([plain.format, plain.alpha, plain.postProcess, plain.bgColor], [
    "cutout",
    "soft",
    false,
    undefined,
  ]);
  assertEquals(rembgQuery(new Map([["om", "True"], ["model", "u2netp"]]), "u2netp").format, "soft");
});

Deno.test("rembgQuery() refuses another model and values rembg would refuse", () => {
  assertThrows(() => rembgQuery(new Map([["model", "u2net"]]), "u2netp"), HttpError, "u2netp");
  for (
    const [k, v] of [["a", "maybe"], ["af", "256"], ["ae", "-1"], ["bgc", "1,2"], ["bgc", "a,b,c"]]
  ) {
    assertThrows(() => rembgQuery(new Map([[k, v]]), "u2netp"), HttpError, k);
  }
});

Deno.test("rembgParams() reads query parameters and the form's text fields, the form winning", async () => {
  const req = remove({ a: "true", af: "200" }, "?af=100&ppm=1");
  const body = new Uint8Array(await req.arrayBuffer());
  const params = rembgParams(
    new URL(req.url).searchParams,
    req.headers.get("content-type"),
    body,
    { maxParts: 64 },
  );
  assertEquals(Object.fromEntries(params), { a: "true", af: "200", ppm: "1" });
  assertThrows(
    () => rembgParams(new URLSearchParams("a=1&a=0"), null, new Uint8Array(), { maxParts: 64 }),
    HttpError,
    "2 times",
  );
});

Deno.test("POST /api/remove answers rembg's cut-out, mask and matted cut-out", async () => {
  const image = testPng(40, 30);
  const soft = await handle(remove({ om: "true" }, "", image));
  assertEquals(soft.status, 200);
  const mask = await decodeImage(new Uint8Array(await soft.arrayBuffer()));
  assertEquals([mask.width, mask.height, mask.channels], [40, 30, 1]);
  const cut = await handle(remove({}, "", image));
  assertEquals(pngSize(new Uint8Array(await cut.clone().arrayBuffer())).colorType, 6);
  const img = await decodeImage(image);
  const prob = { width: 40, height: 30, data: Float32Array.from(mask.data, (v) => v / 255) };
  const want = renderOutput(img, prob);
  assertEquals([...(await decodeImage(new Uint8Array(await cut.arrayBuffer()))).data], [
    ...want.data,
  ]);
  const { bg: ab, fg: af } = maskQuartiles(mask.data);
  const matting = { foregroundThreshold: af, backgroundThreshold: ab, erodeSize: 1 };
  const matted = await handle(
    remove({ a: "1", af: String(af), ab: String(ab), ae: "1", model: "u2netp" }, "", image),
  );
  assertEquals(matted.status, 200);
  const got = await decodeImage(new Uint8Array(await matted.arrayBuffer()));
  assertEquals([...got.data], [...renderOutput(img, prob, { alpha: "matting", matting }).data]);
  assert(got.data.some((v, i) => i % 4 === 3 && v !== mask.data[i >> 2]), "not matted");
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("POST /api/remove refuses a form field given twice or longer than 64 bytes (400)", async () => {
  for (const [name, values] of [["a", ["1", "0"]], ["bgc", ["1,".repeat(40) + "1"]]] as const) {
    const form = new FormData();
    for (const v of values) form.append(name, v);
    form.set(
      "file",
      new Blob([testPng() as Uint8Array<ArrayBuffer>], { type: "image/png" }),
      "x.png",
    );
    const res = await handle(
      new Request("http://localhost/api/remove", { method: "POST", body: form }),
    );
    assertEquals(res.status, 400, name);
    assert((await res.json()).error.includes(name));
  }
});

Deno.test("POST /api/remove refuses another model (400) and GET (405)", async () => {
  const res = await handle(remove({ model: "u2net" }));
  assertEquals(res.status, 400);
  assert((await res.text()).includes("u2netp"));
  const get = await handle(new Request("http://localhost/api/remove?url=http://x/y.png"));
  assertEquals(get.status, 405);
  await get.body?.cancel();
});

globalThis.addEventListener("unload", () => {
  predictor.dispose?.();
  model.dispose();
});
