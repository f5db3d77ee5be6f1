import { assert, assertEquals } from "../assert.ts";
import { createApp } from "../../lib/http/app.ts";
import { fileMd5 } from "../../lib/io/model_cache.ts";
import { DEFAULT_WEIGHTS_PATH } from "../../lib/predict/weights_path.ts";
import { testPng } from "./fixtures.ts";

const WEIGHTS = "tests/testdata/lite_wz.safetensors";
const TMP = "tests/.tmp/http_app";

const health = async (app: { fetch: (r: Request) => Promise<Response> }) =>
  await (await app.fetch(new Request("http://localhost/healthz"))).json();

Deno.test("createApp() loads weights given as bytes in its workers and answers predictions", async () => {
  const bytes = await Deno.readFile(WEIGHTS);
  const app = await createApp({ weights: bytes, backend: "cpu", inputSize: 32 });
  try {
    const h = await health(app);
    assertEquals([h.mode, h.model.arch, h.model.name, h.model.demo], [
      "workers",
      "lite",
      `(${bytes.byteLength} bytes)`,
      false,
    ]);
    assertEquals(h.input, { size: 32, resize: "squash", preprocess: "seed" });
    assertEquals([app.engineName, app.engine.startsWith("cpu (wasm")], ["cpu", true]);
    const res = await app.fetch(
      new Request("http://localhost/predict?format=json", {
        method: "POST",
        body: testPng() as Uint8Array<ArrayBuffer>,
      }),
    );
    assertEquals(res.status, 200);
    assertEquals((await res.json()).width, 24);
  } finally {
    await app.close();
  }
});

Deno.test("createApp() says demo: true on /healthz when the weights are the demo checkpoint", async () => {
  const root = `${TMP}/demo`;
  const path = `${root}/${DEFAULT_WEIGHTS_PATH}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.copyFile(WEIGHTS, path);
  const app = await createApp({ weights: path, backend: "cpu", inputSize: 32, workers: 0 });
  try {
    const h = await health(app);
    assertEquals([h.model.name, h.model.demo, h.mode], [
      "model_best.safetensors",
      true,
      "in-thread",
    ]);
  } finally {
    await app.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("createApp() loads a model by name from the model cache", async () => {
  const cacheDir = `${TMP}/cache`;
  await Deno.mkdir(cacheDir, { recursive: true });
  const bytes = await Deno.readFile(WEIGHTS);
  await Deno.writeFile(`${cacheDir}/tinylite.safetensors`, bytes);
  const app = await createApp({
    weights: "tinylite",
    model: {
      cacheDir,
      manifest: {
        tinylite: {
          file: "tinylite.safetensors",
          bytes: bytes.byteLength,
          md5: "0123456789abcdef0123456789abcdef",
          arch: "lite",
        },
      },
    },
    backend: "cpu",
    inputSize: 32,
    workers: 0,
  });
  try {
    assertEquals(app.weights, "tinylite");
    const h = await health(app);
    assertEquals([h.model.name, h.model.arch], ["tinylite", "lite"]);
  } finally {
    await app.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("createApp() falls back to in-thread predictions when Web Workers cannot start", async () => {
  const RealWorker = globalThis.Worker;
  globalThis.Worker = class {
    constructor() {
      throw new Error("no workers on this runtime");
    }
  } as unknown as typeof Worker;
  let app;
  try {
    app = await createApp({ weights: WEIGHTS, backend: "cpu", inputSize: 32, modelName: "mine" });
  } finally {
    globalThis.Worker = RealWorker;
  }
  try {
    assertEquals(app.mode, "in-thread");
    assert(app.fallbackReason?.includes("no workers on this runtime"), app.fallbackReason);
    const h = await health(app);
    assertEquals([h.mode, h.model.name], ["in-thread", "mine"]);
    assert(h.fallbackReason.includes("no workers"));
    const res = await app.fetch(
      new Request("http://localhost/predict?format=json", {
        method: "POST",
        body: testPng() as Uint8Array<ArrayBuffer>,
      }),
    );
    assertEquals(res.status, 200);
    await res.body?.cancel();
  } finally {
    await app.close();
  }
});

Deno.test("createApp() serves a release file under its zoo name and preprocessing (size and md5 match)", async () => {
  const { size: bytes } = await Deno.stat(WEIGHTS), md5 = await fileMd5(WEIGHTS);
  const manifest = { rel: { bytes, md5, preprocess: "rembg" as const } };
  const app = await createApp({
    weights: WEIGHTS,
    backend: "cpu",
    inputSize: 32,
    workers: 0,
    model: { manifest },
  });
  try {
    const h = await health(app);
    assertEquals([h.model.name, h.input.preprocess], ["rel", "rembg"]);
  } finally {
    await app.close();
  }
});
