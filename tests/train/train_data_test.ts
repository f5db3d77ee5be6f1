import assert from "node:assert/strict";
import { encodePng } from "../../lib/data/image_io.ts";
import { syntheticSample } from "../../lib/data/synthetic.ts";
import { buildTrainData } from "../../lib/train/train_data.ts";
import { resolveTrainOptions } from "../../lib/train/train_options.ts";

const TMP = new URL("../.tmp/train_data_test/", import.meta.url).pathname;

/** A plain images/ + masks/ folder of three synthetic samples, masks scaled by `scale` / 255. */
async function folder(name: string, scale: number): Promise<string> {
  const root = `${TMP}${name}`;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${root}/images`, { recursive: true });
  await Deno.mkdir(`${root}/masks`, { recursive: true });
  for (let i = 0; i < 3; i++) {
    const s = syntheticSample(i, { size: 16 });
    const mask = s.mask.data.map((v) => (v ? scale : 0));
    await Deno.writeFile(`${root}/images/${s.name}.png`, encodePng(16, 16, s.image.data, 3));
    await Deno.writeFile(`${root}/masks/${s.name}.png`, encodePng(16, 16, mask, 1));
  }
  return root;
}

async function logs(root: string, workers: number, skipBad = false): Promise<string[]> {
  const lines: string[] = [];
  const o = resolveTrainOptions({ dataPath: root, inputSize: 16, cropSize: 16, workers, skipBad });
  await buildTrainData(o, { log: (l) => lines.push(l) });
  return lines;
}

Deno.test("buildTrainData() warns that masks are divided by 255 when every mask holds only 0 and 1", async () => {
  const root = await folder("zero_one", 1);
  for (const workers of [0, 1]) {
    const warned = (await logs(root, workers)).filter((l) => l.startsWith("warning: every mask"));
    // once, though the folder serves both splits; it names the folder and the fix
    assert.equal(warned.length, 1, `workers ${workers}: ${warned.join("\n")}`);
    assert.match(warned[0], /in .*images has values 0 and 1 only.*multiply by 255/);
  }
});

Deno.test("buildTrainData() says nothing of the masks when they use 0-255", async () => {
  const root = await folder("zero_255", 255);
  for (const workers of [0, 1]) {
    assert.deepEqual((await logs(root, workers)).filter((l) => l.startsWith("warning")), []);
  }
});

Deno.test("buildTrainData() names the images without a mask once when one folder serves both splits", async () => {
  const root = await folder("no_mask", 255);
  const s = syntheticSample(9, { size: 16 });
  await Deno.writeFile(`${root}/images/lonely.png`, encodePng(16, 16, s.image.data, 3));
  const skipped = (await logs(root, 0, true)).filter((l) => /without a mask/.test(l));
  assert.deepEqual(skipped, ["skipping 1 image(s) without a mask: lonely.png"]);
});
