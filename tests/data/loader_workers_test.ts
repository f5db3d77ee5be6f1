import assert from "node:assert/strict";
import { type DatasetIndex, discoverDataset, fileSource } from "../../lib/data/dataset.ts";
import { encodeJpeg, encodePng } from "../../lib/data/image_io.ts";
import { type BadSample, type Batch, DataLoader } from "../../lib/data/loader.ts";
import { syntheticSource } from "../../lib/data/synthetic.ts";
import { subprocessUnavailable } from "../cli/capture.ts";
import { runProcess } from "../process.ts";

const TMP = decodeURIComponent(new URL("../.tmp/", import.meta.url).pathname);

/** Makes a fresh temp folder, runs `fn`, removes it. */
async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = `${TMP}data_loader_workers_${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${dir}/images`, { recursive: true });
  await Deno.mkdir(`${dir}/masks`, { recursive: true });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Pixels varying with position and `seed`, so resizes and crops are not trivial. */
function pixels(w: number, h: number, c: number, seed: number): Uint8Array {
  const d = new Uint8Array(w * h * c);
  for (let i = 0; i < d.length; i++) d[i] = (i * 37 + seed * 101 + (i >> 5) * 13) & 255;
  return d;
}

/**
 * Writes `n` samples of mixed formats and sizes (RGB JPEG, RGB/RGBA/grey
 * PNG; grey and RGB masks); sample names `s0` … in sorted order.
 */
async function writeDataset(root: string, n: number): Promise<DatasetIndex> {
  for (let i = 0; i < n; i++) {
    const [w, h] = [20 + 7 * i, 17 + 5 * (i % 3)];
    const name = `s${i}`;
    const img = i % 4 === 0
      ? await encodeJpeg({ width: w, height: h, channels: 3, data: pixels(w, h, 3, i) })
      : encodePng(w, h, pixels(w, h, [3, 4, 1, 3][i % 4], i), [3, 4, 1, 3][i % 4]);
    await Deno.writeFile(`${root}/images/${name}.${i % 4 === 0 ? "jpg" : "png"}`, img);
    const mc = i % 3 === 2 ? 3 : 1;
    await Deno.writeFile(`${root}/masks/${name}.png`, encodePng(w, h, pixels(w, h, mc, 7 * i), mc));
  }
  return await discoverDataset(root);
}

const SMALL = { inputSize: 24, cropSize: 20, batchSize: 3 };

/** Decode workers each collected loader had running before it was disposed. */
const started: number[] = [];

/** All batches of `epochs` epochs; disposes the loader (noting its workers in `started`). */
async function collect(loader: DataLoader, epochs = 1): Promise<Batch[]> {
  const out: Batch[] = [];
  try {
    for (let e = 0; e < epochs; e++) for await (const b of loader.epoch()) out.push(b);
  } finally {
    started.push(loader.decodeWorkers);
    loader.dispose();
  }
  return out;
}

/** Batches with their float data as bytes, so that equality is bit-exact. */
const bits = (batches: Batch[]) =>
  batches.map((b) => ({
    ...b,
    images: new Uint8Array(b.images.buffer),
    masks: new Uint8Array(b.masks.buffer),
  }));

Deno.test("DataLoader.epoch() yields bit-identical batches with workers 2 and 0 when reading files", async () => {
  await withTmp(async (root) => {
    const ds = await writeDataset(root, 8);
    for (const extra of [{ seed: 3 }, { seed: 4, cache: true, prefetch: 0 }]) {
      const run = (workers: number) =>
        collect(new DataLoader(fileSource(ds), { ...SMALL, ...extra, workers }), 2);
      started.splice(0);
      const [main, pooled] = [await run(0), await run(2)];
      assert.deepEqual(started.splice(0), [0, 2]); // the second run did decode on workers
      assert.equal(main.length, 6);
      assert.deepEqual(bits(pooled), bits(main));
    }
  });
});

Deno.test("DataLoader.epoch() rejects with the main thread's error when a file is corrupt, with or without workers", async () => {
  await withTmp(async (root) => {
    const ds = await writeDataset(root, 5);
    await Deno.writeFile(ds.samples[2].imagePath, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const errors: Error[] = [];
    for (const workers of [0, 2]) {
      const loader = new DataLoader(fileSource(ds), { ...SMALL, shuffle: false, workers });
      const e = await collect(loader).then(() => null, (e: Error) => e);
      assert.ok(e instanceof TypeError, String(e));
      errors.push(e);
    }
    assert.match(errors[0].message, /sample "s2": current image file .*s2\.png does not decode/);
    assert.equal(errors[1].message, errors[0].message);
    assert.equal((errors[1].cause as Error)?.message, (errors[0].cause as Error)?.message);
  });
});

Deno.test("DataLoader.epoch() skips the same bad samples with skipBad, with or without workers", async () => {
  await withTmp(async (root) => {
    const ds = await writeDataset(root, 7);
    await Deno.writeFile(ds.samples[1].imagePath, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    await Deno.remove(ds.samples[4].maskPath);
    const runs: { batches: Batch[]; bad: [number, string, string, string][] }[] = [];
    started.splice(0);
    for (const workers of [0, 2]) {
      const bad: [number, string, string, string][] = [];
      const onBadSample = (b: BadSample) =>
        bad.push([b.index, b.name, b.error.name, b.error.message]);
      const loader = new DataLoader(fileSource(ds), {
        ...SMALL,
        skipBad: true,
        onBadSample,
        workers,
      });
      runs.push({ batches: await collect(loader, 2), bad });
    }
    assert.deepEqual(started.splice(0), [0, 2]);
    for (const r of runs) r.bad.sort((a, b) => a[0] - b[0]); // reported as loads finish
    assert.deepEqual(runs[0].bad.map((b) => b[0]), [1, 4]); // each once, over 2 epochs
    assert.match(runs[0].bad[1][3], /mask file .*s4\.png is missing/);
    assert.deepEqual(runs[1].bad, runs[0].bad);
    assert.equal(runs[0].batches.flatMap((b) => b.indices).length, 10);
    assert.deepEqual(bits(runs[1].batches), bits(runs[0].batches));
  });
});

Deno.test("DataLoader.dispose() ends the workers, rejects further use and is idempotent", async () => {
  await withTmp(async (root) => {
    const ds = await writeDataset(root, 9);
    const loader = new DataLoader(fileSource(ds), { ...SMALL, workers: 2, prefetch: 2 });
    for await (const b of loader.epoch()) {
      assert.equal(b.size, 3);
      break; // batches 1 and 2 are still being decoded
    }
    assert.equal(loader.decodeWorkers, 2);
    loader.dispose();
    assert.equal(loader.decodeWorkers, 0);
    loader.dispose();
    await assert.rejects(loader.epoch().next(), {
      name: "TypeError",
      message: "Cannot read batches: current loader is disposed",
    });
  });
});

Deno.test("DataLoader keeps in-memory sources on the calling thread when given workers", async () => {
  const src = syntheticSource({ count: 5, size: 24 });
  const run = (workers: number) => collect(new DataLoader(src, { ...SMALL, workers }));
  started.splice(0);
  assert.deepEqual(bits(await run(2)), bits(await run(0)));
  assert.deepEqual(started.splice(0), [0, 0]); // no paths: no worker started
  assert.throws(() => new DataLoader(src, { workers: 1.5 }), /current workers is 1.5/);
  assert.throws(() => new DataLoader(src, { workers: -1 }), /current workers is -1/);
});

Deno.test({
  name: "DataLoader.dispose() lets the process exit when workers were started",
  ignore: subprocessUnavailable() !== undefined,
  async fn() {
    await withTmp(async (root) => {
      await writeDataset(root, 4);
      const loader = new URL("../../lib/data/loader.ts", import.meta.url).href;
      const dataset = new URL("../../lib/data/dataset.ts", import.meta.url).href;
      const script = `${root}/run.ts`;
      await Deno.writeTextFile(
        script,
        `import { DataLoader } from "${loader}";
import { discoverDataset, fileSource } from "${dataset}";
const l = new DataLoader(fileSource(await discoverDataset("${root}")), {
  inputSize: 24, cropSize: 20, batchSize: 2, workers: 2,
});
for await (const b of l.epoch()) { console.log(b.size); break; }
l.dispose();
`,
      );
      const r = await runProcess("deno", {
        args: ["run", "--allow-read=.", script],
        cwd: new URL("../../", import.meta.url).pathname,
        deadlineMs: 60_000, // a live worker would keep it running
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "2");
    });
  },
});
