import assert from "node:assert/strict";
import { discoverDataset, fileSource } from "../../lib/data/dataset.ts";
import { type BadSample, loadOrSkip } from "../../lib/data/load_common.ts";
import { MAX_SAMPLE_FILE_BYTES } from "../../lib/data/sample_file.ts";
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

/** Runs `ln`/`mkfifo` (Deno.symlink needs unscoped permissions); false when not allowed. */
async function tool(command: string, args: string[]): Promise<boolean> {
  if ((await Deno.permissions.query({ name: "run", command })).state !== "granted") return false;
  const child = new Deno.Command(command, { args, stdout: "null", stderr: "null" }).spawn();
  const timer = setTimeout(() => child.kill(), 5000);
  try {
    return (await child.status).success;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("fileSource().load() refuses a link out of the dataset, a device and a FIFO as bad samples", async () => {
  if (!(await tool("ln", ["--version"]))) {
    console.log("skipped: needs --allow-run=ln,mkfifo (deno task test grants them)");
    return;
  }
  await withTmp(async (root) => {
    for (const n of ["a", "b", "c", "d", "e"]) {
      await write(`${root}/images/${n}.png`, encodePng(8, 6, image(1).data, 3));
    }
    await write(`${root}/masks/a.png`, maskPng(1));
    await tool("ln", ["-s", "/dev/zero", `${root}/masks/b.png`]); // b's mask: /dev/zero
    // c's mask: a link to a real PNG outside the dataset's folders
    const outside = `${root}_outside.png`;
    await Deno.writeFile(outside, maskPng(1));
    await tool("ln", ["-s", outside, `${root}/masks/c.png`]);
    // a link inside the dataset is followed
    await tool("ln", ["-s", `${root}/masks/a.png`, `${root}/masks/d.png`]);
    const fifo = await tool("mkfifo", [`${root}/masks/e.png`]);
    if (!fifo) console.log("FIFO case skipped: mkfifo is not allowed or failed");
    try {
      const ds = await discoverDataset(root);
      assert.deepEqual(
        ds.samples.map((s) => s.name),
        fifo ? ["a", "b", "c", "d", "e"] : ["a", "b", "c", "d"],
      );
      const src = fileSource(ds);
      assert.equal((await src.load(0)).mask.width, 8);
      assert.equal((await src.load(3)).mask.width, 8);
      const bad: [number, RegExp][] = [
        [
          1,
          /sample "b": current mask file .*\/masks\/b\.png resolves to \/dev\/zero, outside the dataset folders/,
        ],
        [2, /sample "c": current mask file .*\/masks\/c\.png resolves to .*_outside\.png, outside/],
      ];
      if (fifo) bad.push([4, /sample "e": current mask file .*\/masks\/e\.png is a FIFO$/]);
      for (const [i, re] of bad) {
        const t0 = performance.now();
        await assert.rejects(
          src.load(i),
          (e: Error) => e instanceof TypeError && re.test(e.message),
        );
        assert.ok(performance.now() - t0 < 2000, `sample ${i} took ${performance.now() - t0} ms`);
      }
      // a (sparse) image file over the size limit is refused before it is read
      const big = `${root}/images/a.png`;
      const keep = await Deno.readFile(big);
      await Deno.truncate(big, MAX_SAMPLE_FILE_BYTES + 1);
      await assert.rejects(src.load(0), /image file .*a\.png has 268435457 bytes, over the/);
      await Deno.writeFile(big, keep);
      // with skipBad they are skipped and reported once, like any unreadable sample
      const skipped: string[] = [];
      const o = { skipBad: true, onBadSample: (b: BadSample) => skipped.push(b.name) };
      assert.equal(await loadOrSkip(src, 1, o, new Set()), null);
      assert.deepEqual(skipped, ["b"]);
      // without the dataset's roots, the device is still refused (not a regular file)
      const loose = fileSource([{ ...ds.samples[1], roots: undefined }]);
      await assert.rejects(loose.load(0), /current mask file .*b\.png is (a device|unreadable)/);
    } finally {
      await Deno.remove(outside);
    }
  });
});

Deno.test("discoverDataset() says what most likely went wrong when it finds no pairs or no split", async () => {
  await withTmp(async (root) => {
    const fails = (dir: string, message: RegExp, split?: "test") =>
      assert.rejects(discoverDataset(dir, split ? { split } : {}), { name: "RangeError", message });
    await write(`${root}/a/images/x.jpg`, await encodeJpeg(image(1)));
    await fails(`${root}/a`, /a\/masks does not exist\)/);
    await write(`${root}/a/masks/x.jpg`, await encodeJpeg(image(1)));
    await fails(`${root}/a`, /masks are read as \.png only .* 1 other image such as x\.jpg\)/);
    await write(`${root}/b/images/sub/x.png`, encodePng(8, 6, image(1).data, 3));
    await write(`${root}/b/masks/x.png`, maskPng(1));
    await fails(`${root}/b`, /sub-folders are not searched, and .*b\/images has sub\)/);
    await write(`${root}/c/DUTS-TR/DUTS-TR-Image/x.jpg`, await encodeJpeg(image(1)));
    await write(`${root}/c/DUTS-TR/DUTS-TR-Mask/x.png`, maskPng(1));
    await fails(`${root}/c`, /only DUTS-TR is there; DUTS-TE is needed too\)/, "test");
    await fails(
      `${root}/c/DUTS-TR`,
      /split folder: give the folder that holds DUTS-TR and DUTS-TE/,
      "test",
    );
    assert.equal((await discoverDataset(`${root}/c/DUTS-TR`)).samples.length, 1); // its own split reads
  });
});
