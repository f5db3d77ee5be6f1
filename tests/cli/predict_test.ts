import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { readImageHeader } from "../../lib/data/image_io.ts";
import { run } from "../../cli/predict.ts";
import { testPng } from "../http/_fixtures.ts";
import { capture, deno, subprocessUnavailable } from "./_capture.ts";

const TMP = "tests/.tmp/cli_predict";
const WEIGHTS = "tests/testdata/lite_wz.safetensors";
const FAST = ["--input-size", "32", "-w", WEIGHTS, "--backend", "cpu"];
const IMAGES = { "astronaut.png": [512, 512], "chelsea.png": [451, 300], "coffee.png": [600, 400] };
const noRun = subprocessUnavailable();
if (noRun) console.warn(`predict_test: subprocess checks SKIPPED: ${noRun}`);

async function fresh(name: string): Promise<string> {
  const dir = `${TMP}/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

const oneLine = (s: string) => s.trim().split("\n").length === 1;

Deno.test("run() predicts a folder of the fixture images, skips existing outputs, overwrites on --overwrite", async () => {
  const out = await fresh("folder");
  const r = await capture(() =>
    run(["tests/testdata/images", "-o", out, "--format", "cutout", ...FAST])
  );
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout, /3 written, 0 skipped, 0 failed/);
  for (const [name, [w, h]] of Object.entries(IMAGES)) {
    const header = readImageHeader(await Deno.readFile(`${out}/${name}`));
    assertEquals(
      [header.format, header.width, header.height, header.channels],
      ["png", w, h, 4],
      name,
    );
  }
  const again = await capture(() => run(["tests/testdata/images", "-o", out, ...FAST]));
  assertEquals(again.code, 0);
  assertMatch(again.stdout, /0 written, 3 skipped/);
  const over = await capture(() =>
    run(["tests/testdata/images", "-o", out, "--overwrite", ...FAST])
  );
  assertMatch(over.stdout, /3 written, 0 skipped/);
  assertEquals(readImageHeader(await Deno.readFile(`${out}/chelsea.png`)).channels, 1); // now a mask
});

Deno.test("run() recurses into folders, keeps their structure, reports a bad file and goes on", async () => {
  const input = await fresh("nested_in");
  const out = `${TMP}/nested_out`;
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${input}/a/b`, { recursive: true });
  await Deno.writeFile(`${input}/top.png`, testPng(20, 10));
  await Deno.writeFile(`${input}/a/b/deep.png`, testPng(12, 18));
  await Deno.writeFile(`${input}/a/broken.png`, testPng(20, 10).slice(0, 40));
  await Deno.writeTextFile(`${input}/a/notes.txt`, "not an image");
  const r = await capture(() => run([input, "-o", out, "--format", "soft", "-b", "2", ...FAST]));
  assertEquals(r.code, 1);
  assertMatch(r.stdout, /2 written, 0 skipped, 1 failed/);
  assertMatch(r.stderr, /error: .*a\/broken\.png: Cannot/);
  assertEquals(readImageHeader(await Deno.readFile(`${out}/a/b/deep.png`)).width, 12);
  assertEquals(readImageHeader(await Deno.readFile(`${out}/top.png`)).height, 10);
});

Deno.test("run() fails with one line naming --allow-write when the output folder is not writable", async () => {
  const r = await capture(() => run(["tests/testdata/images", "-o", "not_allowed_out", ...FAST]));
  assertEquals(r.code, 1);
  assert(oneLine(r.stderr), r.stderr);
  assertEquals(
    r.stderr.trim(),
    `error: predict needs --allow-write=not_allowed_out (run it through "deno task predict")`,
  );
});

Deno.test("run() says clearly that an --output outside the project folder is not allowed", async () => {
  const r = await capture(() =>
    run(["tests/testdata/images", "-o", "/tmp/u2net_predict_out", ...FAST])
  );
  assertEquals(r.code, 1);
  assert(oneLine(r.stderr), r.stderr);
  assertMatch(
    r.stderr,
    /predict needs --allow-write=\/tmp\/u2net_predict_out: .*outside the project folder/,
  );
});

Deno.test("run() fails with one line for bad options, missing inputs and missing weights", async () => {
  const cases: [string[], RegExp][] = [
    [["--format", "gif", "x.png"], /--format must be one of mask\|soft\|cutout/],
    [["--threshold", "2", "x.png"], /--threshold must be a number in \[0, 1\]/],
    [["--bogus"], /Unknown option '--bogus'/],
    [[], /no input given/],
    [["tests/.tmp/does_not_exist.png", "-o", TMP], /does not exist/],
    [
      ["tests/testdata/images", "-o", TMP, "-w", "tests/.tmp/none.safetensors"],
      /Cannot read weights file/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await capture(() => run(args));
    assertEquals(r.code, 1, args.join(" "));
    assert(oneLine(r.stderr), r.stderr);
    assertMatch(r.stderr, re);
  }
});

Deno.test({
  name: "deno task predict writes the outputs with only the task's permissions",
  ignore: noRun !== undefined,
  async fn() {
    const out = await fresh("task");
    const r = await deno(["task", "-q", "predict", "tests/testdata/images", "-o", out, ...FAST]);
    assertEquals(r.code, 0, r.stderr);
    for (const name of Object.keys(IMAGES)) await Deno.stat(`${out}/${name}`);
  },
});

Deno.test({
  name:
    "predict without --allow-write (and through the task, outside the project) fails with one line",
  ignore: noRun !== undefined,
  async fn() {
    const r = await deno([
      "run",
      "--allow-read=.",
      "cli/main.ts",
      "predict",
      "tests/testdata/images",
      "-o",
      `${TMP}/nowrite`,
      ...FAST,
    ]);
    assertEquals(r.code, 1);
    assertEquals(
      r.stderr.trim(),
      `error: predict needs --allow-write=${TMP}/nowrite (run it through "deno task predict")`,
    );
    const t = await deno([
      "task",
      "-q",
      "predict",
      "tests/testdata/images",
      "-o",
      "/tmp/u2net_out",
      ...FAST,
    ]);
    assertEquals(t.code, 1);
    assert(oneLine(t.stderr), t.stderr);
    assertMatch(t.stderr, /outside the project folder/);
    const s = await deno(["task", "-q", "serve", "--host", "192.0.2.1", "-w", WEIGHTS]);
    assertEquals(s.code, 1);
    assertEquals(
      s.stderr.trim(),
      `error: serve needs --allow-net=192.0.2.1 (run it through "deno task serve")`,
    );
  },
});
