import { assert, assertEquals, assertMatch } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { run } from "../../cli/convert.ts";
import { loadWeights } from "../../lib/model/load_weights.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { capture } from "./capture.ts";
import { runProcess } from "../process.ts";

// Paths here are relative to the project root; a `deno task test` started
// from a subfolder must not make convert resolve them from there.
try {
  Deno.env.delete("INIT_CWD");
} catch { /* no env permission: nothing to clear */ }

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
  const { code, stdout, stderr } = await runProcess(deno!, {
    args: ["run", "--allow-read=tests", "--allow-write=tests/.tmp", "cli/convert.ts", ...args],
    cwd: root,
  });
  return { code, out: stdout, err: stderr };
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
        [["tests/testdata/lite_wz.pth"], "usage: deno task convert"],
        [["tests/testdata/lite_wz.pth", "tests/.tmp/y.bin"], "must end in .safetensors or .onnx"],
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

Deno.test("run() writes an ONNX model for an output ending in .onnx, whose prediction equals the input's", async () => {
  const out = "tests/.tmp/convert_out.onnx";
  await Deno.remove(out).catch(() => {});
  const r = await capture(() => run(["tests/testdata/lite_wz.safetensors", out]));
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout, /wrote tests\/\.tmp\/convert_out\.onnx \(\d+ bytes, BatchNorm folded\)/);
  const start = tf.memory().numTensors;
  const [a, b] = [
    await loadWeights(await Deno.readFile("tests/testdata/lite_wz.safetensors")),
    await loadWeights(await Deno.readFile(out)),
  ];
  assertEquals([b.config.name, b.batchNorm], ["lite", false]);
  const x = tf.randomUniform([1, 32, 32, 3], -1, 1, "float32", 7) as tf.Tensor4D;
  a.eval();
  b.eval();
  const [ya, yb] = tf.tidy(() => [a.forward(x)[0], b.forward(x)[0]]);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0]);
  assert(diff < 1e-5, `the ONNX model's d0 differs by ${diff}`);
  tf.dispose([x, ya, yb]);
  a.dispose();
  b.dispose();
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("run() folds BatchNorm into the written file when given --fold-bn", async () => {
  const log = console.log;
  const printed: string[] = [];
  console.log = (...xs: unknown[]) => printed.push(xs.join(" "));
  let code: number;
  await Deno.remove("tests/.tmp/folded.safetensors").catch(() => {});
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

const canLink = (await Deno.permissions.query({ name: "run", command: "ln" })).state === "granted";

async function freshDir(name: string): Promise<string> {
  const dir = `tests/.tmp/cli_convert/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

async function ln(target: string, link: string): Promise<void> {
  const r = await runProcess("ln", { args: ["-s", target, link], deadlineMs: 10_000 });
  assert(r.code === 0, `ln -s ${target} ${link}: ${r.stderr}`);
}

Deno.test("run() creates the output folder and takes relative paths from $INIT_CWD", async () => {
  const dir = await freshDir("init_cwd");
  await Deno.copyFile("tests/testdata/lite_wz.safetensors", `${dir}/w.safetensors`);
  Deno.env.set("INIT_CWD", dir);
  let r;
  try {
    r = await capture(() => run(["w.safetensors", "new/sub/out.safetensors"]));
  } finally {
    Deno.env.delete("INIT_CWD");
  }
  assertEquals(r.code, 0, r.stderr);
  assert(r.stdout.includes(`wrote ${dir}/new/sub/out.safetensors`), r.stdout);
  assertEquals(
    readSafetensors(await Deno.readFile(`${dir}/new/sub/out.safetensors`)).metadata.arch,
    "lite",
  );
});

Deno.test({
  name:
    "run() refuses in one line an input link that leads outside the project and a symlinked output",
  ignore: !canLink,
  async fn() {
    const dir = await freshDir("links");
    await ln("/etc/hostname", `${dir}/outside.pth`);
    const r = await capture(() => run([`${dir}/outside.pth`, `${dir}/x.safetensors`]));
    assertEquals(r.code, 1);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert(
      /convert: cannot read .*it resolves to \/etc\/hostname, outside/.test(r.stderr),
      r.stderr,
    );
    await Deno.writeTextFile(`${dir}/victim.txt`, "keep me");
    await ln(`${Deno.cwd()}/${dir}/victim.txt`, `${dir}/linked.safetensors`);
    const w = await capture(() =>
      run(["tests/testdata/lite_wz.safetensors", `${dir}/linked.safetensors`])
    );
    assertEquals(w.code, 1);
    assert(/cannot write .*a symbolic link; not writing through it/.test(w.stderr), w.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/victim.txt`), "keep me");
  },
});

Deno.test("run() refuses to write over its input, and over another file without --overwrite", async () => {
  const dir = await freshDir("overwrite");
  const w = `${dir}/w.safetensors`, out = `${dir}/out.safetensors`;
  await Deno.copyFile("tests/testdata/lite_wz.safetensors", w);
  const before = await Deno.readFile(w);
  const same = await capture(() => run([w, w, "--overwrite"]));
  assertEquals(same.code, 1);
  assertMatch(same.stderr, /it is the input; name another file/);
  assertEquals(await Deno.readFile(w), before);
  await Deno.writeTextFile(out, "keep me");
  const kept = await capture(() => run([w, out]));
  assertEquals(kept.code, 1);
  assertMatch(kept.stderr, /it exists; add --overwrite to replace it/);
  assertEquals(await Deno.readTextFile(out), "keep me");
  const replaced = await capture(() => run([w, out, "--overwrite"]));
  assertEquals(replaced.code, 0, replaced.stderr);
  assertEquals(readSafetensors(await Deno.readFile(out)).metadata.arch, "lite");
});
