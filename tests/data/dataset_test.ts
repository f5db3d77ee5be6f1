import assert from "node:assert/strict";
import { discoverDataset, fileSource } from "../../lib/data/dataset.ts";
import { encodeJpeg, encodePng } from "../../lib/data/image_io.ts";

const TMP = decodeURIComponent(new URL("../.tmp/", import.meta.url).pathname);

/** Makes a fresh temp folder, runs `fn`, removes it. */
async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = `${TMP}data_dataset_${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir, { recursive: true });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An 8x6 image whose pixels all equal `v`, and a mask whose pixels all equal `m`. */
const image = (v: number) => ({
  width: 8,
  height: 6,
  channels: 3 as const,
  data: new Uint8Array(144).fill(v),
});
const maskPng = (m: number) => encodePng(8, 6, new Uint8Array(48).fill(m), 1);

async function write(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(path.replace(/\/[^/]+$/, ""), { recursive: true });
  await Deno.writeFile(path, bytes);
}

Deno.test("discoverDataset() pairs DUTS files sorted by name and reports unmatched ones", async () => {
  await withTmp(async (root) => {
    const img = `${root}/DUTS-TR/DUTS-TR-Image`, msk = `${root}/DUTS-TR/DUTS-TR-Mask`;
    for (const [i, stem] of ["b", "a", "c"].entries()) {
      await write(`${img}/${stem}.jpg`, await encodeJpeg(image(40 * (i + 1))));
      await write(`${msk}/${stem}.png`, maskPng(50 * (i + 1)));
    }
    await write(`${img}/lonely.jpg`, await encodeJpeg(image(1)));
    await write(`${msk}/orphan.png`, maskPng(1));
    await write(`${img}/notes.txt`, new Uint8Array([1]));
    const ds = await discoverDataset(root, { split: "train" });
    assert.equal(ds.layout, "duts");
    assert.deepEqual(ds.samples.map((s) => s.name), ["a", "b", "c"]);
    assert.equal(ds.samples[0].imagePath, `${img}/a.jpg`);
    assert.equal(ds.samples[0].maskPath, `${msk}/a.png`);
    assert.deepEqual(ds.unmatchedImages, ["lonely.jpg"]);
    assert.deepEqual(ds.unmatchedMasks, ["orphan.png"]);
    // The split folder itself also works as root.
    assert.deepEqual((await discoverDataset(`${root}/DUTS-TR`)).samples.length, 3);
    await assert.rejects(discoverDataset(root, { split: "test" }), {
      name: "RangeError",
      message: /DUTS-TE/,
    });
    // Loading pairs each image with its own mask.
    const src = fileSource(ds);
    assert.equal(src.size, 3);
    const b = await src.load(1);
    assert.equal(b.name, "b");
    assert.deepEqual([b.image.channels, b.mask.channels, b.mask.width], [3, 1, 8]);
    assert.ok(Math.abs(b.image.data[0] - 40) <= 2);
    assert.equal(b.mask.data[0], 50);
    assert.equal((await src.load(0)).mask.data[0], 100);
    assert.throws(() => src.name(3), RangeError);
  });
});

Deno.test("discoverDataset() reads the plain layout when given images/ and masks/", async () => {
  await withTmp(async (root) => {
    await write(`${root}/images/x1.png`, encodePng(8, 6, image(9).data, 3));
    await write(`${root}/images/x2.jpeg`, await encodeJpeg(image(9)));
    await write(`${root}/masks/x1.png`, maskPng(255));
    await write(`${root}/masks/x2.png`, maskPng(0));
    const ds = await discoverDataset(`${root}/`, { split: "test" });
    assert.equal(ds.layout, "plain");
    assert.deepEqual(ds.samples.map((s) => s.name), ["x1", "x2"]);
    assert.deepEqual([ds.unmatchedImages, ds.unmatchedMasks], [[], []]);
  });
});

Deno.test("discoverDataset() throws RangeError when nothing matches or stems collide", async () => {
  await withTmp(async (root) => {
    await assert.rejects(discoverDataset(root), { name: "RangeError", message: /neither/ });
    await write(`${root}/images/a.jpg`, await encodeJpeg(image(1)));
    await assert.rejects(discoverDataset(root), {
      name: "RangeError",
      message: /no image with a mask/,
    });
    await write(`${root}/images/a.png`, encodePng(8, 6, image(1).data, 3));
    await write(`${root}/masks/a.png`, maskPng(1));
    await assert.rejects(discoverDataset(root), {
      name: "RangeError",
      message: /share the stem "a"/,
    });
  });
});

Deno.test("fileSource().load() names the file when an image is corrupt or a mask is missing", async () => {
  await withTmp(async (root) => {
    await write(`${root}/images/bad.jpg`, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1]));
    await write(`${root}/masks/bad.png`, maskPng(1));
    await write(`${root}/images/gone.png`, encodePng(8, 6, image(1).data, 3));
    await write(`${root}/masks/gone.png`, maskPng(1));
    const ds = await discoverDataset(root);
    const src = fileSource(ds);
    await assert.rejects(src.load(0), {
      name: "TypeError",
      message: new RegExp(
        `sample "bad": current image file ${root}/images/bad.jpg does not decode`,
      ),
    });
    await Deno.remove(`${root}/masks/gone.png`);
    await assert.rejects(src.load(1), {
      name: "TypeError",
      message: new RegExp(`current mask file ${root}/masks/gone.png is missing`),
    });
  });
});
