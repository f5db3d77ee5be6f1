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
