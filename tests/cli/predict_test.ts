import { assert, assertEquals, assertMatch } from "../assert.ts";
import { decodeImage, readImageHeader } from "../../lib/data/image_io.ts";
import { run } from "../../cli/predict.ts";
import { alphaMatting } from "../../lib/predict/alpha_matting.ts";
import { testPng } from "../http/fixtures.ts";
import { jpegWithOrientation, quadrantImage } from "../exif_images.ts";
import { capture, deno, subprocessUnavailable } from "./capture.ts";
import { runProcess } from "../process.ts";

// Paths in these tests are relative to the project root; a `deno task test`
// started from a subfolder must not make predict resolve them from there.
try {
  Deno.env.delete("INIT_CWD");
} catch { /* no env permission: nothing to clear */ }

const TMP = "tests/.tmp/cli_predict";
const ROOT = new URL("../../", import.meta.url).pathname;
const WEIGHTS = "tests/testdata/lite_wz.safetensors";
const FAST = ["--input-size", "32", "-w", WEIGHTS, "--backend", "cpu"];
const IMAGES = { "astronaut.png": [512, 512], "chelsea.png": [451, 300], "coffee.png": [600, 400] };
const noRun = subprocessUnavailable();
if (noRun) console.warn(`predict_test: subprocess checks SKIPPED: ${noRun}`);
const canRun = (cmd: string) =>
  Deno.permissions.querySync({ name: "run", command: cmd }).state === "granted";
const noLinks = !canRun("ln") || !canRun("mkfifo");

async function fresh(name: string): Promise<string> {
  const dir = `${TMP}/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

async function sh(cmd: string, ...args: string[]): Promise<void> {
  const r = await runProcess(cmd, { args, deadlineMs: 10_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** `deno <args>` in `cwd` with binary stdin, killed after `deadlineMs`. */
async function spawnDeno(
  args: string[],
  options: { cwd?: string; stdin?: Uint8Array; deadlineMs?: number } = {},
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command("deno", {
    args,
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1" },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.deadlineMs ?? 90_000);
  try {
    if (options.stdin) {
      const w = child.stdin.getWriter();
      // A process that exits early closes its stdin: its output tells why.
      await w.write(options.stdin).then(() => w.close()).catch(() => {});
    }
    const r = await child.output();
    return { code: r.code, stdout: r.stdout, stderr: new TextDecoder().decode(r.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** `run(args)` that fails instead of hanging past `ms`. */
async function runWithin(args: string[], ms = 30_000) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`predict ${args.join(" ")} hung`)), ms);
  });
  try {
    return await Promise.race([capture(() => run(args)), late]);
  } finally {
    clearTimeout(timer);
  }
}

const oneLine = (s: string) => s.trim().split("\n").length === 1;
const alphaOf = (d: Uint8Array) => d.filter((_, i) => i % 4 === 3);

Deno.test("run() predicts a folder of the fixture images, skips existing outputs naming --overwrite, overwrites on --overwrite", async () => {
  const out = await fresh("folder");
  const r = await capture(() =>
    run(["tests/testdata/images", "-o", out, "--format", "cutout", ...FAST])
  );
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout, /3 written, 0 skipped, 0 failed/);
  assertMatch(r.stderr, /on cpu, 3 files\n/);
  // one line names the engine that runs: auto on the cpu backend is our cpu engine
  assertEquals(r.stderr.match(/^engine: .*$/gm)?.length, 1, r.stderr);
  assertMatch(r.stderr, /^engine: cpu \(wasm, \d+ threads?\)$/m);
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
  assertMatch(again.stdout, /3 existing outputs kept: rerun with --overwrite to replace them/);
  const over = await capture(() =>
    run(["tests/testdata/images", "-o", out, "--overwrite", "--format", "mask", ...FAST])
  );
  assertMatch(over.stdout, /3 written, 0 skipped/);
  assert(!over.stdout.includes("--overwrite"), over.stdout);
  assertEquals(readImageHeader(await Deno.readFile(`${out}/chelsea.png`)).channels, 1); // now a mask
});

Deno.test("run() recurses into folders, keeps their structure, lists a bad file with the reason and goes on", async () => {
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
  assertMatch(r.stderr, /error: .*a\/broken\.png: Cannot/); // as it happens
  assertMatch(r.stdout, /failed \(1 file\):\n {2}.*a\/broken\.png: Cannot/); // and in the summary
  assertMatch(r.stdout, /1 other file in the folders ignored/);
  assertEquals(readImageHeader(await Deno.readFile(`${out}/a/b/deep.png`)).width, 12);
  assertEquals(readImageHeader(await Deno.readFile(`${out}/top.png`)).height, 10);
});

Deno.test("run() cut-outs take the soft mask as alpha, --alpha hard the threshold, --post-process rembg's cleaned mask", async () => {
  const dir = await fresh("alpha");
  const args = (o: string, ...more: string[]) =>
    run(["tests/testdata/images/chelsea.png", "-o", `${dir}/${o}`, ...more, ...FAST]);
  for (
    const [o, more] of [
      ["soft.png", ["-f", "cutout"]],
      ["hard.png", ["-f", "cutout", "--alpha", "hard"]],
      ["pp.png", ["-f", "soft", "--post-process"]],
      ["mask.png", ["-f", "soft"]],
    ] as const
  ) {
    const r = await capture(() => args(o, ...more));
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, /on cpu, 1 file\n/);
  }
  const soft = await decodeImage(await Deno.readFile(`${dir}/soft.png`));
  const hard = await decodeImage(await Deno.readFile(`${dir}/hard.png`));
  const mask = await decodeImage(await Deno.readFile(`${dir}/mask.png`));
  const pp = await decodeImage(await Deno.readFile(`${dir}/pp.png`));
  assertEquals([soft.width, soft.height, soft.channels], [451, 300, 4]);
  assertEquals([...alphaOf(soft.data)], [...mask.data]); // alpha = the soft mask
  assert(alphaOf(soft.data).some((a) => a > 0 && a < 255), "no soft alpha values");
  assert(alphaOf(hard.data).every((a) => a === 0 || a === 255));
  for (let i = 0; i < soft.data.length; i += 4) {
    if (soft.data[i + 3] === 0) assertEquals([...soft.data.subarray(i, i + 3)], [0, 0, 0]);
  }
  assert(pp.data.every((v) => v === 0 || v === 255));
});

Deno.test("run() --alpha matting passes its trimap options to rembg's alpha matting", async () => {
  const dir = await fresh("matting");
  const src = "tests/testdata/images/chelsea.png";
  // This test net's soft mask spans 117-124 on the photo: thresholds inside that range.
  const opts = ["--matting-fg", "121", "--matting-bg", "120", "--matting-erode", "1"];
  for (
    const [o, more] of [
      ["soft.png", ["-f", "soft"]],
      ["matte.png", ["--alpha", "matting", ...opts]],
    ] as const
  ) {
    const r = await capture(() => run([src, "-o", `${dir}/${o}`, ...more, ...FAST]));
    assertEquals(r.code, 0, r.stderr);
  }
  const mask = await decodeImage(await Deno.readFile(`${dir}/soft.png`));
  const out = await decodeImage(await Deno.readFile(`${dir}/matte.png`));
  const matte = alphaMatting(await decodeImage(await Deno.readFile(src)), mask.data, {
    foregroundThreshold: 121,
    backgroundThreshold: 120,
    erodeSize: 1,
  });
  assert(!("fallback" in matte), JSON.stringify(matte));
  assertEquals([...alphaOf(out.data)], [...matte.alpha].map((a) => Math.trunc(a * 255)));
  assert(alphaOf(out.data).some((a, i) => a !== mask.data[i]), "alpha is the soft mask");
  const r = await capture(() => run([src, "--alpha", "matting", "--matting-fg", "300", ...FAST]));
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /--matting-fg must be an integer in \[0, 255\]/);
});

Deno.test("run() refuses an -o that is an existing file or names a non-PNG image, in one line", async () => {
  const dir = await fresh("bad_out");
  await Deno.writeTextFile(`${dir}/notes.txt`, "x");
  for (
    const [out, re] of [
      [`${dir}/notes.txt`, /notes\.txt is an existing file, not a folder/],
      [`${dir}/cut.jpg`, /cut\.jpg names a \.jpg file, but outputs are PNG/],
    ] as const
  ) {
    const r = await capture(() => run(["tests/testdata/images/chelsea.png", "-o", out, ...FAST]));
    assertEquals(r.code, 1, out);
    assert(oneLine(r.stderr), r.stderr);
    assertMatch(r.stderr, re);
  }
  assertEquals(await Deno.readTextFile(`${dir}/notes.txt`), "x");
  assert(!(await Deno.stat(`${dir}/cut.jpg`).then(() => true, () => false)), "made cut.jpg/");
});

Deno.test("run() passes over its output folder inside the input folder and keeps extensions when stems clash", async () => {
  const dir = await fresh("out_inside");
  await Deno.writeFile(`${dir}/a.png`, testPng(20, 10));
  await Deno.writeFile(`${dir}/a.jpg`, await jpegWithOrientation(quadrantImage(12, 8)));
  await Deno.writeFile(`${dir}/b.png`, testPng(10, 20));
  const first = await capture(() => run([dir, "-o", `${dir}/out`, ...FAST]));
  assertEquals(first.code, 0, first.stdout + first.stderr);
  assertMatch(first.stdout, /3 written, 0 skipped, 0 failed/);
  assertEquals(readImageHeader(await Deno.readFile(`${dir}/out/a.png.png`)).width, 20);
  assertEquals(readImageHeader(await Deno.readFile(`${dir}/out/a.jpg.png`)).width, 12);
  assertEquals(readImageHeader(await Deno.readFile(`${dir}/out/b.png`)).height, 20);
  const again = await capture(() => run([dir, "-o", `${dir}/out`, ...FAST]));
  assertEquals(again.code, 0, again.stdout + again.stderr);
  assertMatch(again.stdout, /0 written, 3 skipped, 0 failed/);
  assertMatch(again.stdout, /out_inside\/out: the output folder/);
  assert(
    !(await Deno.stat(`${dir}/out/out`).then(() => true, () => false)),
    "read its own outputs",
  );
});

Deno.test("run() predicts a JPEG in its EXIF orientation: the output has the displayed size", async () => {
  const dir = await fresh("exif");
  const bytes = await jpegWithOrientation(quadrantImage(40, 24), 6);
  await Deno.writeFile(`${dir}/rotated.jpg`, bytes);
  const r = await capture(() =>
    run([`${dir}/rotated.jpg`, "-o", `${dir}/out.png`, "-f", "cutout", "--alpha", "hard", ...FAST])
  );
  assertEquals(r.code, 0, r.stderr);
  const out = await decodeImage(await Deno.readFile(`${dir}/out.png`));
  const shown = await decodeImage(bytes, { orientation: true });
  assertEquals([out.width, out.height, shown.width, shown.height], [24, 40, 24, 40]);
  for (let i = 0; i < out.width * out.height; i++) {
    if (out.data[4 * i + 3]) {
      assertEquals([...out.data.subarray(4 * i, 4 * i + 3)], [
        ...shown.data.subarray(3 * i, 3 * i + 3),
      ]);
    }
  }
});

Deno.test("run() predicts a WebP and lists an animated one it cannot read with the reason", async () => {
  const dir = await fresh("webp");
  await Deno.copyFile("tests/testdata/webp/lossless.webp", `${dir}/still.webp`);
  await Deno.copyFile("tests/testdata/webp/animated.webp", `${dir}/anim.webp`);
  const r = await capture(() => run([dir, "-o", `${dir}/out`, ...FAST]));
  assertEquals(r.code, 1);
  assertMatch(r.stdout, /1 written, 0 skipped, 1 failed/);
  assertMatch(r.stdout, /failed \(1 file\):\n {2}.*anim\.webp: \S/);
  const still = await decodeImage(await Deno.readFile(`${dir}/still.webp`));
  assertEquals(readImageHeader(await Deno.readFile(`${dir}/out/still.png`)).width, still.width);
});

Deno.test("run() takes relative paths from $INIT_CWD, the folder deno task was started in", async () => {
  const dir = await fresh("init_cwd");
  await Deno.writeFile(`${dir}/in.png`, testPng(16, 12));
  const weights = `${ROOT}${WEIGHTS}`;
  Deno.env.set("INIT_CWD", dir);
  let r;
  try {
    r = await capture(() => run(["in.png", "-o", "out", "--input-size", "32", "-w", weights]));
  } finally {
    Deno.env.delete("INIT_CWD");
  }
  assertEquals(r.code, 0, r.stderr);
  assertEquals(readImageHeader(await Deno.readFile(`${dir}/out/in.png`)).width, 16);
  assertMatch(r.stdout, new RegExp(`-> ${dir}/out\n`));
});

Deno.test("run() refuses -o FILE.png for several images and - among other inputs, in one line", async () => {
  for (
    const [args, re] of [
      [
        ["tests/testdata/images", "-o", `${TMP}/one.png`],
        /names one output, but the inputs hold 3 images/,
      ],
      [["-", "tests/testdata/images/chelsea.png"], /"-" \(stdin\) must be the only input/],
    ] as const
  ) {
    const r = await capture(() => run([...args, ...FAST]));
    assertEquals(r.code, 1);
    assert(oneLine(r.stderr), r.stderr);
    assertMatch(r.stderr, re);
  }
});

Deno.test({
  name:
    "run() refuses inputs that lead outside the project through links, devices and FIFOs, without reading",
  ignore: noLinks,
  async fn() {
    const dir = await fresh("links");
    await sh("ln", "-s", "/etc/hostname", `${dir}/outside.png`);
    await sh("ln", "-s", "/dev/zero", `${dir}/zero.png`);
    await sh("ln", "-s", "/etc", `${dir}/etc_dir`);
    await sh("ln", "-s", `${ROOT}${dir}/missing.png`, `${dir}/broken.png`);
    await sh("mkfifo", `${dir}/fifo.png`);
    const cases: [string, RegExp][] = [
      [`${dir}/outside.png`, /resolves to \/etc\/hostname, outside the folders/],
      [`${dir}/zero.png`, /resolves to \/dev\/zero, outside the folders/],
      [`${dir}/etc_dir`, /resolves to \/etc, outside the folders/],
      [`${dir}/broken.png`, /is a link to a missing file/],
      [`${dir}/fifo.png`, /is not a regular file or folder/],
    ];
    for (const [input, re] of cases) {
      const t0 = performance.now();
      const r = await runWithin([input, "-o", `${dir}/out`, ...FAST], 20_000);
      assertEquals(r.code, 1, input);
      assert(oneLine(r.stderr), r.stderr);
      assertMatch(r.stderr, re);
      assert(performance.now() - t0 < 5_000, `${input} took ${performance.now() - t0} ms`);
    }
  },
});

Deno.test({
  name:
    "run() lists the links and FIFOs of a scanned folder with the reason and reads none of them",
  ignore: noLinks,
  async fn() {
    const dir = await fresh("scan_links");
    await Deno.mkdir(`${dir}/in`);
    await Deno.writeFile(`${dir}/in/ok.png`, testPng(10, 8));
    await sh("ln", "-s", "/etc/hostname", `${dir}/in/outside.png`);
    await sh("ln", "-s", "ok.png", `${dir}/in/inside_link.png`);
    await sh("mkfifo", `${dir}/in/fifo.png`);
    const r = await runWithin([`${dir}/in`, "-o", `${dir}/out`, ...FAST]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /1 written, 0 skipped, 0 failed/);
    assertMatch(r.stdout, /not read \(3 entries in the folders\):/);
    assertMatch(r.stdout, /in\/fifo\.png: not a regular file/);
    assertMatch(r.stdout, /in\/outside\.png: a symbolic link \(not followed/);
    assertMatch(r.stdout, /in\/inside_link\.png: a symbolic link/);
    assertMatch(r.stderr, /not read: .*in\/outside\.png/); // as it happens too
    const written = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name);
    assertEquals(written, ["ok.png"]);
  },
});

Deno.test({
  name: "run() never writes through a symlinked output folder or file",
  ignore: noLinks,
  async fn() {
    const dir = await fresh("out_links");
    await Deno.writeFile(`${dir}/ok.png`, testPng(10, 8));
    await sh("ln", "-s", "/tmp", `${dir}/out_link`);
    const r = await runWithin([`${dir}/ok.png`, "-o", `${dir}/out_link/`, ...FAST]);
    assertEquals(r.code, 1);
    assert(oneLine(r.stderr), r.stderr);
    assertMatch(r.stderr, /output folder .*out_link\/? resolves to \/tmp, outside the folders/);
    await Deno.mkdir(`${dir}/o`);
    await Deno.writeTextFile(`${dir}/victim.txt`, "keep me");
    await sh("ln", "-s", `${ROOT}${dir}/victim.txt`, `${dir}/o/ok.png`);
    const w = await runWithin([`${dir}/ok.png`, "-o", `${dir}/o`, "--overwrite", ...FAST]);
    assertEquals(w.code, 1);
    assertMatch(
      w.stdout,
      /ok\.png: output .*o\/ok\.png is a symbolic link; not writing through it/,
    );
    assertEquals(await Deno.readTextFile(`${dir}/victim.txt`), "keep me");
  },
});

Deno.test("run() prints file names with newlines and ANSI escapes escaped", async () => {
  const dir = await fresh("names");
  const evil = "bad\nname\x1b[31m.png";
  await Deno.writeFile(`${dir}/${evil}`, new Uint8Array([1, 2, 3]));
  const r = await capture(() => run([dir, "-o", `${dir}/out`, ...FAST]));
  assertEquals(r.code, 1);
  const all = r.stdout + r.stderr;
  assert(!all.includes("\x1b"), "raw escape printed");
  assert(!all.includes("bad\nname"), "raw newline in a name printed");
  assertMatch(r.stderr, /error: ".*bad\\nname\\u001b\[31m\.png": Cannot decode image/);
  assertMatch(r.stdout, /failed \(1 file\):\n {2}".*bad\\nname\\u001b\[31m\.png"/);
});

Deno.test("run() fails with one line naming --allow-write when the output folder is not writable", async () => {
  const r = await capture(() => run(["tests/testdata/images", "-o", "not_allowed_out", ...FAST]));
  assertEquals(r.code, 1);
  assert(oneLine(r.stderr), r.stderr);
  assertMatch(
    r.stderr.trim(),
    /^error: predict needs --allow-write=not_allowed_out: "deno task predict" grants --allow-write to \., .* only; pick another path, or run from \S+: deno run .*--allow-write=\S+,not_allowed_out .*cli\/main\.ts predict … /,
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
    [["--alpha", "half", "x.png"], /--alpha must be one of soft\|hard\|matting/],
    [["--threshold", "2", "x.png"], /--threshold must be a number in \[0, 1\]/],
    [["--threshold", "-0.5", "x.png"], /--threshold must be a number in \[0, 1\], got "-0.5"/],
    [["-b", "-2", "x.png"], /--batch-size must be an integer in \[1, 256\], got "-2"/],
    [["--bogus"], /unknown option --bogus \(see/],
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
  name: "deno task predict - reads stdin and writes the PNG to stdout, progress on stderr only",
  ignore: noRun !== undefined,
  async fn() {
    const png = await Deno.readFile("tests/testdata/images/chelsea.png");
    const r = await spawnDeno(["task", "-q", "predict", "-", "-f", "soft", ...FAST], {
      stdin: png,
    });
    assertEquals(r.code, 0, r.stderr);
    const out = await decodeImage(r.stdout);
    assertEquals([out.width, out.height, out.channels], [451, 300, 1]);
    assertMatch(r.stderr, /1 written, 0 skipped, 0 failed -> stdout/);
  },
});

Deno.test({
  name: "deno task predict started in a subfolder takes paths from there ($INIT_CWD)",
  ignore: noRun !== undefined,
  async fn() {
    const dir = await fresh("task_subfolder");
    await Deno.writeFile(`${dir}/in.png`, testPng(14, 9));
    const r = await spawnDeno(
      [
        "task",
        "-q",
        "predict",
        "in.png",
        "-o",
        "res",
        ...FAST.slice(0, 2),
        "-w",
        `${ROOT}${WEIGHTS}`,
      ],
      { cwd: `${ROOT}${dir}` },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(readImageHeader(await Deno.readFile(`${dir}/res/in.png`)).height, 9);
  },
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
    assertMatch(
      r.stderr.trim(),
      new RegExp(`^error: predict needs --allow-write=${TMP}/nowrite: "deno task predict" grants `),
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
    assertMatch(
      s.stderr.trim(),
      /^error: serve needs --allow-net=192\.0\.2\.1 to listen on 192\.0\.2\.1; run from \S+: .*deno run .*--allow-net=127\.0\.0\.1,\S*,192\.0\.2\.1 .*cli\/main\.ts serve … /,
    );
  },
});

Deno.test("run() says that -f mask ignores --bg-color and --alpha, which shape cut-outs only", async () => {
  const dir = await fresh("mask_bg");
  const r = await capture(() =>
    run([
      "tests/testdata/images/chelsea.png",
      "-o",
      `${dir}/m.png`,
      "-f",
      "mask",
      "--bg-color",
      "10,20,30",
      "--alpha",
      "hard",
      ...FAST,
    ])
  );
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, /--bg-color and --alpha apply to cut-outs only: -f mask ignores them/);
  const plain = await capture(() =>
    run([
      "tests/testdata/images/chelsea.png",
      "-o",
      `${dir}/c.png`,
      "--bg-color",
      "10,20,30",
      ...FAST,
    ])
  );
  assert(!/cut-outs only/.test(plain.stderr), plain.stderr);
});
