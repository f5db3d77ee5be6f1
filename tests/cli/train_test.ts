import assert from "node:assert/strict";
import { RESULTS_LINE_PATTERN } from "../../lib/train/results.ts";
import { DEFAULT_TRAIN_OPTIONS, DEMO_TRAIN_OPTIONS } from "../../lib/train/train_options.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { readWeights } from "../../lib/io/read_weights.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { runProcess, startProcess } from "../process.ts";

const root = new URL("../../", import.meta.url);
/** Deadline of each training process these tests start. */
const TRAIN_DEADLINE_MS = 300_000;

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

/** Runs a CLI file with scoped permissions, from the project root. */
async function cli(
  file: string,
  args: string[],
  perms = ["--allow-read=.", "--allow-write=tests/.tmp", "--allow-env"],
): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await runProcess(deno!, {
    args: ["run", ...perms, file, ...args],
    cwd: root,
    deadlineMs: TRAIN_DEADLINE_MS,
  });
  return { code, out: stdout, err: stderr };
}

const OUT = "tests/.tmp/cli_train";

Deno.test({
  name:
    "train trains the synthetic demo and writes checkpoint, results, chart and mask; eval scores it",
  ignore: deno === null,
  async fn() {
    await Deno.remove(new URL(OUT, root), { recursive: true }).catch(() => {});
    const r = await cli("cli/train.ts", [
      "--backend=cpu",
      `--output-dir=${OUT}`,
      "--epochs=2",
      "--eval-interval=1",
      "--input-size=16",
      "--crop-size=16",
      "-b",
      "2",
      "--synthetic-train=4",
      "--synthetic-eval=2",
    ]);
    assert.equal(r.code, 0, r.err);
    // one line on stderr: our WebAssembly training step and evaluation on the cpu engine
    assert.match(r.err, /^engine: cpu \(wasm, \d+ threads?\)\n$/);
    const lines = r.out.trim().split("\n");
    assert.equal(lines[0], "backend: cpu");
    assert.ok(
      lines.some((l) => /^Epoch: \[0\] {2}\[0\/2\] {2}eta: \d:\d\d:\d\d {2}lr: /.test(l)),
      r.out,
    );
    assert.ok(lines.some((l) => /^Epoch: \[1\] Total time: \d:\d\d:\d\d$/.test(l)), r.out);
    assert.match(lines.at(-1)!, /^MAE: \d\.\d{3} maxF1: \d\.\d{3}$/);
    const dir = new URL(`${OUT}/`, root);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const results = names.find((n) => /^results\d{8}-\d{6}\.txt$/.test(n));
    assert.ok(results, names.join(" "));
    const text = await Deno.readTextFile(new URL(results, dir));
    const rl = text.split("\n").filter((l) => l);
    assert.deepEqual(rl.map((l) => l.slice(0, 10)), ["[epoch: 0]", "[epoch: 1]"]);
    rl.forEach((l) => assert.match(l, RESULTS_LINE_PATTERN));
    assert.ok(names.includes(results.replace(".txt", ".svg")));
    const svg = await Deno.readTextFile(new URL(results.replace(".txt", ".svg"), dir));
    assert.ok(svg.startsWith("<svg"));
    for (
      const n of ["model_0.json", "model_1.json", "model_1.safetensors", "model_best.safetensors"]
    ) {
      assert.ok(names.includes(n), n);
    }
    const w = await readWeights(await Deno.readFile(new URL("model_1.safetensors", dir)));
    assert.equal(w.arch, "lite");
    const mask = names.find((n) => /^prediction_.*\d\.png$/.test(n))!;
    const png = await decodeImage(await Deno.readFile(new URL(mask, dir)));
    assert.deepEqual([png.width, png.height, png.channels], [16, 16, 1]);

    const e = await cli("cli/eval.ts", [
      "--backend=cpu",
      `--weights=${OUT}/model_best.safetensors`,
      "--input-size=16",
      "--model=lite",
    ], ["--allow-read=.", "--allow-env"]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /^MAE: \d\.\d{3} maxF1: \d\.\d{3}\n$/);
    assert.match(e.err, /^engine: cpu \(wasm, \d+ threads?\)\n$/);
    const j = await cli("cli/eval.ts", [
      "--backend=cpu",
      `--weights=${OUT}/model_best.safetensors`,
      "--input-size=16",
      "--json",
      "--post-norm",
      "--engine=tfjs",
    ], ["--allow-read=.", "--allow-env"]);
    assert.equal(j.code, 0, j.err);
    assert.equal(j.err, "engine: tfjs (cpu)\n");
    const parsed = JSON.parse(j.out);
    assert.equal(parsed.count, DEMO_TRAIN_OPTIONS.syntheticEval);
    assert.equal(parsed.postNorm, true);
    assert.ok(parsed.mae >= 0 && parsed.mae <= 1 && parsed.maxF >= 0 && parsed.maxF <= 1);

    // resume the finished run from its folder: nothing left to train, same outputs
    // without --backend: the checkpoint's
    const again = await cli("cli/train.ts", [`--resume=${OUT}`]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /^backend: cpu \(.*the checkpoint's; --backend to change\)$/m);
    assert.ok(again.out.includes(`resuming from ${OUT}/model_1.json (epoch 1)`), again.out);
    // nothing to train, so no data is read (as the seed's empty epoch loop); the run's files and score
    assert.doesNotMatch(again.out, /^data: /m);
    assert.match(again.out, /^checkpoint: .*model_1\.json$/m);
    assert.match(again.out, /^MAE: \d\.\d{3} maxF1: \d\.\d{3}$/m);
  },
});

Deno.test({
  name: "train --help prints the defaults of DEFAULT_TRAIN_OPTIONS and the demo settings",
  ignore: deno === null,
  async fn() {
    const r = await cli("cli/train.ts", ["--help"], []);
    assert.equal(r.code, 0);
    const d = DEFAULT_TRAIN_OPTIONS;
    assert.match(r.out, new RegExp(`-b, --batch-size N +batch size \\(default: ${d.batchSize}\\)`));
    assert.match(r.out, new RegExp(`--epochs N +total epochs \\(default: ${d.epochs}\\)`));
    assert.match(r.out, new RegExp(`--lr X +base learning rate \\(default: ${d.lr}\\)`));
    assert.ok(r.out.includes(`inputSize=${DEMO_TRAIN_OPTIONS.inputSize}`));
    const flags = "--data-path --batch-size --wd --weight-decay --eval-interval --print-freq " +
      "--resume --start-epoch --model --init-weights --input-size --crop-size --no-augment " +
      "--no-shuffle --seed --output-dir --backend --skip-bad --cache";
    for (const flag of flags.split(" ")) {
      assert.ok(r.out.includes(flag), flag);
    }
  },
});

Deno.test({
  name: "train and eval report user errors in one line with exit status 1",
  ignore: deno === null,
  async fn() {
    const out = "--output-dir=tests/.tmp/cli_errors";
    const cases: [string, string[], RegExp][] = [
      ["cli/train.ts", ["--bogus"], /^error: unknown option --bogus \(see/],
      [
        "cli/train.ts",
        ["--data", "x"],
        /^error: unknown option --data; did you mean --data-path\? /,
      ],
      ["cli/train.ts", ["-e", "3"], /^error: unknown option -e \(see/], // no guess for a letter
      [
        "cli/train.ts",
        ["--epochs", "x"],
        /^error: --epochs must be an integer in \[1, \d+\], got "x"$/,
      ],
      ["cli/train.ts", ["--model", "huge"], /^error: --model must be one of full\|lite/],
      [
        "cli/train.ts",
        ["--output-dir=/elsewhere"],
        /^error: train needs --allow-write=\/elsewhere: .*outside/,
      ],
      [
        "cli/train.ts",
        [out, "--backend=cpu", "--data-path=tests/.tmp/nowhere"],
        /^error: Cannot discover dataset/,
      ],
      [
        "cli/train.ts",
        ["--backend=cpu", "--resume=tests/.tmp/nowhere"],
        /^error: Cannot resume: current path/,
      ],
      [
        "cli/train.ts",
        [out, "--backend=cpu", "--crop-size=64", "--input-size=32"],
        /^error: Cannot train: current cropSize 64 > inputSize 32$/,
      ],
      ["cli/eval.ts", [], /^error: --weights FILE\|NAME \(or U2NET_WEIGHTS\) is required/],
      [
        "cli/eval.ts",
        ["--backend=cpu", "--weights=tests/.tmp/none.pth"],
        /^error: Cannot read weights file/,
      ],
      [
        "cli/eval.ts",
        ["--backend=cpu", "--weights=tests/testdata/lite_wz.safetensors", "--model=full"],
        /^error: --model full but/,
      ],
    ];
    for (const [file, args, re] of cases) {
      const r = await cli(file, args);
      assert.equal(r.code, 1, `${args}: ${r.out}${r.err}`);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err.trim(), re);
    }
  },
});

Deno.test({
  name:
    "train killed (SIGKILL) around a checkpoint save resumes and ends bit for bit like a straight run",
  ignore: deno === null,
  async fn() {
    const base = [
      "--backend=cpu",
      "--epochs=4",
      "--eval-interval=100",
      "--input-size=16",
      "--crop-size=12",
      "-b",
      "2",
      "--synthetic-train=2",
      "--synthetic-eval=1",
    ];
    const [straight, crashed] = [`${OUT}_straight`, `${OUT}_crashed`];
    for (const d of [straight, crashed]) {
      await Deno.remove(new URL(d, root), { recursive: true }).catch(() => {});
    }
    const s = await cli("cli/train.ts", [...base, `--output-dir=${straight}`]);
    assert.equal(s.code, 0, s.err);
    // kill as soon as epoch 1 has trained: the process is then writing checkpoint model_1
    const child = startProcess(deno!, {
      args: [
        "run",
        "--allow-read=.",
        "--allow-write=tests/.tmp",
        "--allow-env",
        "cli/train.ts",
        ...base,
        `--output-dir=${crashed}`,
      ],
      cwd: root,
      deadlineMs: TRAIN_DEADLINE_MS,
    });
    try {
      await child.waitFor(/Epoch: \[1\] Total time/);
      child.child.kill("SIGKILL");
    } finally {
      await child.stop();
    }
    assert.notEqual((await child.stop()).code, 0);
    const r = await cli("cli/train.ts", ["--backend=cpu", `--resume=${crashed}`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`resuming from ${crashed}/model_[01]\\.json`));
    for (const f of ["model_3.safetensors", "model_3.optim.safetensors"]) {
      const a = readSafetensors(await Deno.readFile(new URL(`${straight}/${f}`, root))).tensors;
      const b = readSafetensors(await Deno.readFile(new URL(`${crashed}/${f}`, root))).tensors;
      assert.deepEqual([...b.keys()], [...a.keys()]);
      for (const [k, v] of a) assert.deepEqual(b.get(k)!.data, v.data, `${f} ${k}`);
    }
  },
});
