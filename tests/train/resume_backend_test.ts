import assert from "node:assert/strict";
import { CHECKPOINT_FORMAT } from "../../lib/train/checkpoint.ts";
import { resumeBackend } from "../../lib/train/resume_backend.ts";

const DIR = "tests/.tmp/resume_backend";

/** Writes a checkpoint JSON (no tensor files: resumeBackend reads the JSON only). */
async function writeMeta(name: string, extra: Record<string, unknown>): Promise<string> {
  await Deno.mkdir(DIR, { recursive: true });
  const path = `${DIR}/${name}.json`;
  await Deno.writeTextFile(path, JSON.stringify({ format: CHECKPOINT_FORMAT, epoch: 0, extra }));
  return path;
}

Deno.test("resumeBackend() reads the backend a checkpoint trained on, from its JSON or safetensors name", async () => {
  const path = await writeMeta("model_3", { backend: "wasm" });
  for (const ext of [".safetensors", ".optim.safetensors"]) {
    await Deno.writeFile(path.replace(".json", ext), new Uint8Array(8));
  }
  assert.equal(await resumeBackend(path), "wasm");
  assert.equal(await resumeBackend(path.replace(".json", ".safetensors")), "wasm");
  assert.equal(await resumeBackend(path.replace(".json", ".optim.safetensors")), "wasm");
});

Deno.test("resumeBackend() gives undefined when the checkpoint predates the record or names no backend", async () => {
  assert.equal(await resumeBackend(await writeMeta("old", {})), undefined);
  assert.equal(await resumeBackend(await writeMeta("auto", { backend: "auto" })), undefined);
  assert.equal(await resumeBackend(await writeMeta("bogus", { backend: "tpu" })), undefined);
});

Deno.test("resumeBackend() throws a TypeError naming the path when it does not exist", async () => {
  await assert.rejects(
    () => resumeBackend(`${DIR}/nowhere`),
    (e: Error) => e instanceof TypeError && /current path .*nowhere does not exist/.test(e.message),
  );
});
