import assert from "node:assert/strict";
import { removeIfExists, writeFileAtomic } from "../../lib/train/atomic_write.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import { startProcess } from "../process.ts";

const TMP = new URL("../.tmp/atomic_write_test/", import.meta.url).pathname;

/** The deno binary this test may spawn (`--allow-run=deno` or the full path), or null. */
async function denoCommand(): Promise<string | null> {
  for (const command of [Deno.execPath(), "deno"]) {
    if ((await Deno.permissions.query({ name: "run", command })).state === "granted") {
      return command;
    }
  }
  return null;
}
const deno = await denoCommand();

async function freshDir(name: string): Promise<string> {
  const dir = `${TMP}${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

Deno.test("writeFileAtomic() replaces a file and leaves no temporary file", async () => {
  const dir = await freshDir("plain");
  await writeFileAtomic(`${dir}/a.txt`, "one");
  await writeFileAtomic(`${dir}/a.txt`, new TextEncoder().encode("two"));
  assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "two");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.txt"]);
  await assert.rejects(writeFileAtomic(`${dir}/missing/a.txt`, "x"), Deno.errors.NotFound);
  await removeIfExists(`${dir}/a.txt`);
  await removeIfExists(`${dir}/a.txt`);
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test({
  name: "writeFileAtomic() leaves a complete file when the writer is killed mid-save",
  ignore: deno === null,
}, async () => {
  const dir = await freshDir("kill");
  const path = `${dir}/weights.safetensors`;
  const data = new Float32Array(16).fill(0);
  await writeFileAtomic(
    path,
    writeSafetensors(new Map([["x", { dtype: "F32", shape: [16], data }]])),
  );
  const writer = startProcess(deno!, {
    args: [
      "run",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      new URL("./_atomic_writer.ts", import.meta.url).pathname,
      path,
    ],
    deadlineMs: 60_000,
  });
  try {
    // wait until it has completed at least one save, then kill it at an arbitrary point
    await writer.waitFor(/(^|\n)2\n/);
    await new Promise((r) => setTimeout(r, 37));
    writer.child.kill("SIGKILL");
  } finally {
    await writer.stop();
  }
  const f = readSafetensors(await Deno.readFile(path));
  const i = Number(f.metadata.i);
  const x = f.tensors.get("x")!.data as Float32Array;
  assert.ok(i >= 2, `iteration ${i}`);
  assert.equal(x.length, 4 * 1024 * 1024);
  assert.ok(x.every((v) => v === i), "file content is one complete save");
});
