import { assertEquals, assertMatch } from "../assert.ts";
import { run } from "../../cli/eval.ts";
import { testPng } from "../http/fixtures.ts";
import { encodePng } from "../../lib/data/image_io.ts";
import { capture } from "./capture.ts";
import { tf } from "../../lib/deps.ts";

const DIR = "tests/.tmp/cli_eval";

Deno.test("run() names the images it scores without (no mask, bad with --skip-bad) and counts them in --json", async () => {
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${DIR}/images`, { recursive: true });
  await Deno.mkdir(`${DIR}/masks`, { recursive: true });
  const mask = encodePng(24, 16, new Uint8Array(24 * 16).map((_, i) => (i % 24 > 12 ? 255 : 0)), 1);
  for (const name of ["good", "bad", "lonely"]) {
    await Deno.writeFile(`${DIR}/images/${name}.png`, testPng());
  }
  await Deno.writeFile(`${DIR}/masks/good.png`, mask);
  await Deno.writeFile(`${DIR}/masks/bad.png`, mask.subarray(0, 40)); // truncated
  await Deno.writeFile(`${DIR}/masks/orphan.png`, mask);
  const tensors = tf.memory().numTensors;
  const r = await capture(() =>
    run([
      "--data-path",
      DIR,
      "--weights",
      "tests/testdata/lite_wz.safetensors",
      "--input-size",
      "32",
      "--backend",
      "cpu",
      "--skip-bad",
      "--json",
    ])
  );
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, /skipping 1 image\(s\) without a mask: lonely\.png/);
  assertMatch(r.stderr, /skipping 1 mask\(s\) without an image: orphan\.png/);
  assertMatch(r.stderr, /skipping bad sample: bad/);
  const j = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assertEquals([j.count, j.skipped], [1, ["bad"]]);
  assertEquals(tf.memory().numTensors, tensors); // the model and engine were disposed
});

Deno.test("run() warns that masks are divided by 255 when every mask holds only 0 and 1", async () => {
  const dir = `${DIR}_zero_one`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/images`, { recursive: true });
  await Deno.mkdir(`${dir}/masks`, { recursive: true });
  const args = ["--data-path", dir, "--weights", "tests/testdata/lite_wz.safetensors"];
  args.push("--input-size", "32", "--backend", "cpu", "--json");
  await Deno.writeFile(`${dir}/images/a.png`, testPng());
  const tensors = tf.memory().numTensors;
  for (const [top, warned] of [[1, true], [255, false]] as const) {
    const mask = new Uint8Array(24 * 16).map((_, i) => (i % 24 > 12 ? top : 0));
    await Deno.writeFile(`${dir}/masks/a.png`, encodePng(24, 16, mask, 1));
    const r = await capture(() => run(args));
    assertEquals(r.code, 0, r.stderr);
    assertEquals(/warning: every mask has values 0 and 1 only/.test(r.stderr), warned, r.stderr);
  }
  assertEquals(tf.memory().numTensors, tensors);
});
