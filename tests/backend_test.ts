import { assert, assertEquals } from "./assert.ts";
import { tf } from "../lib/deps.ts";
import { checkHalfPrecision, probeAdapter, selectBackend } from "../lib/backend.ts";

Deno.test("selectBackend() activates cpu when asked for cpu", async () => {
  const info = await selectBackend("cpu");
  assertEquals(info, { backend: "cpu", requested: "cpu", fellBack: false });
  assertEquals(tf.getBackend(), "cpu");
});

Deno.test("selectBackend() reports the adapter or the fallback when asked for auto", async () => {
  const hasAdapter = Boolean(await probeAdapter());
  const info = await selectBackend("auto");
  if (hasAdapter) {
    assertEquals(info.backend, "webgpu");
    assert(info.adapter && !/^\d/.test(info.adapter), `adapter name ${info.adapter}`);
    assertEquals(typeof info.fallbackAdapter, "boolean");
  } else {
    assertEquals(info, { backend: "cpu", requested: "auto", fellBack: true });
  }
  assertEquals(tf.getBackend(), info.backend);
  await selectBackend("cpu");
});

Deno.test("selectBackend() refuses unknown names with the accepted list", async () => {
  let message = "";
  try {
    await selectBackend("tpu" as "cpu");
  } catch (e) {
    assert(e instanceof TypeError);
    message = e.message;
  }
  assertEquals(
    message,
    'Cannot select backend: current value is "tpu", expected one of auto, webgpu, cpu, wasm',
  );
});

Deno.test("checkHalfPrecision() refuses f16 on the gpu engine when the adapter lacks shader-f16, and nothing else", async () => {
  await checkHalfPrecision("cpu", "f16", "predict"); // other engines run f32
  await checkHalfPrecision("tfjs", "f16", "predict");
  await checkHalfPrecision("gpu", "f32", "predict");
  await checkHalfPrecision("gpu", undefined, "predict");
  const adapter = await probeAdapter();
  let message = "";
  try {
    await checkHalfPrecision("gpu", "f16", "serve");
  } catch (e) {
    assert(e instanceof TypeError);
    message = e.message;
  }
  if (!adapter || adapter.shaderF16) {
    assertEquals(message, "");
  } else {
    assertEquals(
      message,
      `Cannot serve in f16: current adapter (${adapter.name}) lacks shader-f16 (use precision f32)`,
    );
  }
});
