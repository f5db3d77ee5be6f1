import { assert, assertEquals } from "../_assert.ts";
import { tf } from "../../lib/deps.ts";
import { run } from "../../cli/convert.ts";
import { loadWeights } from "../../lib/model/load_weights.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";

const root = new URL("../../", import.meta.url);
const tmp = new URL("tests/.tmp/", root);
await Deno.mkdir(tmp, { recursive: true });

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
const canRun = deno !== null;

/** Runs cli/convert.ts as `deno run` would from the project root. */
async function convertProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cmd = new Deno.Command(deno!, {
    args: ["run", "--allow-read=tests", "--allow-write=tests/.tmp", "cli/convert.ts", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const { code, stdout, stderr } = await cmd.output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test({
  name:
    "convert prints what it detected and writes a loadable file when run on lite_orig_legacy.pth",
  ignore: !canRun,
  async fn() {
    const target = new URL("x.safetensors", tmp);
    await Deno.remove(target).catch(() => {});
    const r = await convertProcess([
      "tests/testdata/lite_orig_legacy.pth",
      "tests/.tmp/x.safetensors",
    ]);
    assertEquals([r.code, r.err], [0, ""]);
    const lines = r.out.trim().split("\n");
    assertEquals(lines.slice(0, 5), [
      "format: pth-legacy",
      "naming: orig",
      "architecture: lite",
      "conv bias: true",
      "parameters: 1131181",
    ]);
    assert(lines[5].startsWith("wrote tests/.tmp/x.safetensors"), lines[5]);
    const bytes = await Deno.readFile(target);
    assertEquals(readSafetensors(bytes).metadata, {
      arch: "lite",
      convBias: "true",
      batchNorm: "true",
      format: "pt",
    });
    const start = tf.memory().numTensors;
    const model = await loadWeights(bytes);
    assertEquals([model.config.name, model.convBias, model.batchNorm], ["lite", true, true]);
    model.dispose();
    assertEquals(tf.memory().numTensors, start);
  },
});

Deno.test({
  name: "convert prints one error line and exits 1 when the input is missing or not weights",
  ignore: !canRun,
  async fn() {
    for (
      const [args, message] of [
        [["tests/testdata/missing.pth", "tests/.tmp/y.safetensors"], "no such file"],
        [["tests/testdata/params.json", "tests/.tmp/y.safetensors"], "Cannot read weights"],
        [["tests/testdata/lite_wz.pth"], "usage: convert"],
        [["tests/testdata/lite_wz.pth", "tests/.tmp/y.bin"], "must end in .safetensors"],
      ] as const
    ) {
      const r = await convertProcess([...args]);
      assertEquals([r.code, r.out], [1, ""]);
      const lines = r.err.trim().split("\n");
      assertEquals(lines.length, 1, r.err);
      assert(lines[0].startsWith("convert: ") && lines[0].includes(message), lines[0]);
    }
  },
});

Deno.test("run() folds BatchNorm into the written file when given --fold-bn", async () => {
  const log = console.log;
  const printed: string[] = [];
  console.log = (...xs: unknown[]) => printed.push(xs.join(" "));
  let code: number;
  try {
    code = await run(["tests/testdata/lite_wz.pth", "tests/.tmp/folded.safetensors", "--fold-bn"]);
  } finally {
    console.log = log;
  }
  assertEquals(code, 0);
  assertEquals(printed.slice(0, 5), [
    "format: pth-zip",
    "naming: seed",
    "architecture: lite",
    "conv bias: false",
    "parameters: 1128333",
  ]);
  assert(printed[5].endsWith("BatchNorm folded)"), printed[5]);
  const bytes = await Deno.readFile(new URL("folded.safetensors", tmp));
  assertEquals(readSafetensors(bytes).metadata.batchNorm, "false");
  const model = await loadWeights(bytes);
  assertEquals([model.convBias, model.batchNorm], [true, false]);
  model.dispose();
});
