import { assert, assertEquals } from "../assert.ts";
import { probeAdapter } from "../../lib/backend.ts";
import {
  selectInferenceBackend,
  wasmBinaryDir,
  wasmReadable,
} from "../../lib/predict/inference_backend.ts";
import { runProcess } from "../process.ts";

Deno.test("selectInferenceBackend() activates cpu when asked", async () => {
  const info = await selectInferenceBackend("cpu");
  assertEquals([info.backend, info.notes], ["cpu", []]);
});

Deno.test({
  name:
    "selectInferenceBackend() refuses wasm with the --allow-read it needs when the npm cache is not readable",
  ignore: (await Deno.permissions.query({ name: "run", command: "deno" })).state !== "granted",
  async fn() {
    // A child granted only the project folder, so the refusal is always exercised.
    const root = new URL("../../", import.meta.url);
    await Deno.mkdir(new URL("tests/.tmp/", root), { recursive: true });
    const file = new URL("tests/.tmp/refuse_wasm.ts", root);
    await Deno.writeTextFile(
      file,
      `import { selectInferenceBackend } from "../../lib/predict/inference_backend.ts";
      try { await selectInferenceBackend("wasm"); console.log("no error"); }
      catch (e) { console.log((e as Error).message); }`,
    );
    const out = await runProcess("deno", {
      args: ["run", "--allow-read=.", file.pathname],
      cwd: root.pathname,
    });
    const msg = out.stdout.trim();
    assert(msg.includes(`--allow-read=${wasmBinaryDir()}`), msg);
  },
});

Deno.test("wasmBinaryDir() points into the npm cache's tfjs-backend-wasm package", () => {
  assert(/tfjs-backend-wasm\/4\.22\.0\/dist$/.test(wasmBinaryDir()), wasmBinaryDir());
});

Deno.test("selectInferenceBackend() skips a software WebGPU adapter and says why when auto", async () => {
  const adapter = await probeAdapter();
  const software = !adapter || adapter.fallback;
  const info = await selectInferenceBackend("auto");
  if (!software) {
    assertEquals(info.backend, "webgpu"); // a hardware adapter is taken first
    return;
  }
  assert(info.backend !== "webgpu", `took ${info.adapter}`);
  assertEquals(info.notes[0], "webgpu: no hardware adapter");
  if (wasmReadable()) assertEquals(info.backend, "wasm");
  else {assertEquals([info.backend, info.notes[1]], [
      "cpu",
      `wasm: needs --allow-read=${wasmBinaryDir()}`,
    ]);}
  await selectInferenceBackend("cpu");
});
