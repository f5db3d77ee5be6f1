import assert from "node:assert/strict";
import type { RawSample, SampleSource } from "../../lib/data/dataset.ts";
import { type BadSample, type Batch, DataLoader, evalSamples } from "../../lib/data/loader.ts";
import { syntheticSource } from "../../lib/data/synthetic.ts";

/**
 * Sample i: a 10x7 image whose pixels all equal i, and a mask whose pixels all
 * equal 2i (so a batch can be checked for image/mask pairing). Logs loads;
 * indices in `bad` fail like a corrupt file.
 */
function fakeSource(n: number, bad = new Set<number>(), log: number[] = []): SampleSource {
  return {
    size: n,
    name: (i) => `s${String(i).padStart(2, "0")}`,
    load(i): Promise<RawSample> {
      log.push(i);
      if (bad.has(i)) {
        return Promise.reject(
          new TypeError(
            `Cannot load sample "s${i}": current image file /d/s${i}.jpg does not decode`,
          ),
        );
      }
      return Promise.resolve({
        name: `s${String(i).padStart(2, "0")}`,
        image: { width: 10, height: 7, channels: 3, data: new Uint8Array(210).fill(i) },
        mask: { width: 10, height: 7, channels: 1, data: new Uint8Array(70).fill(2 * i) },
      });
    },
  };
}

const SMALL = { inputSize: 12, cropSize: 10 };

async function collect(loader: DataLoader, epochs = 1): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let e = 0; e < epochs; e++) for await (const b of loader.epoch()) out.push(b);
  return out;
}

/** Each batch element's mask must be 2× its image's source value (and match its name). */
function assertPaired(b: Batch): void {
  const px = b.height * b.width;
  for (let j = 0; j < b.size; j++) {
    const i = b.indices[j];
    assert.equal(b.names[j], `s${String(i).padStart(2, "0")}`);
    // (bilinear weights need not sum to exactly 1 in float32: allow an ulp or so)
    assert.ok(Math.abs(b.masks[j * px] - 2 * i / 255) < 1e-6);
    const raw = b.images[j * px * 3] * 0.229 + 0.485; // undo normalise, channel 0
    assert.ok(Math.abs(raw - i / 255) < 1e-5);
  }
}

Deno.test("DataLoader.epoch() serves sorted order in batches with a short last one when shuffle is off", async () => {
  const loader = new DataLoader(fakeSource(10), { ...SMALL, batchSize: 4, shuffle: false });
  assert.equal(loader.batchesPerEpoch, 3);
  const batches = await collect(loader);
  assert.deepEqual(batches.map((b) => b.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.deepEqual(batches.map((b) => b.step), [0, 1, 2]);
  const b = batches[2];
  assert.deepEqual([b.size, b.height, b.width, b.images.length, b.masks.length], [
    2,
    10,
    10,
    600,
    200,
  ]);
  batches.forEach(assertPaired);
  assert.deepEqual(loader.state(), { seed: 0, epoch: 1, batch: 0, batchSize: 4, size: 10 });
});

Deno.test("DataLoader.epoch() shuffles per epoch and reproduces runs when given the same seed", async () => {
  const run = (seed: number) =>
    collect(new DataLoader(fakeSource(9), { ...SMALL, batchSize: 4, seed }), 2);
  const a = await run(1), b = await run(1), c = await run(2);
  const order = (bs: Batch[]) => bs.flatMap((x) => x.indices);
  assert.deepEqual(order(a), order(b));
  assert.deepEqual(a.map((x) => x.images), b.map((x) => x.images));
  assert.notDeepEqual(order(a), order(c));
  const [e0, e1] = [order(a).slice(0, 9), order(a).slice(9)];
  assert.deepEqual([...e0].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.notDeepEqual(e0, e1);
  a.forEach(assertPaired);
});

Deno.test("DataLoader.loadState() resumes with exactly the batches of the uninterrupted run", async () => {
  const src = syntheticSource({ count: 7, size: 16, seed: 5 });
  const opts = { inputSize: 16, cropSize: 12, batchSize: 3, seed: 9 };
  const full = await collect(new DataLoader(src, opts), 3);
  const first = new DataLoader(src, opts);
  const seen: Batch[] = [];
  for await (const b of first.epoch()) seen.push(b);
  for await (const b of first.epoch()) {
    seen.push(b);
    if (seen.length === 4) break; // interrupted after the 2nd batch of epoch 1
  }
  const saved = JSON.parse(JSON.stringify(first.state()));
  assert.deepEqual([saved.epoch, saved.batch], [1, 1]);
  const resumed = new DataLoader(src, opts);
  resumed.loadState(saved);
  const rest = await collect(resumed, 2);
  const names = (bs: Batch[]) => bs.map((b) => [b.epoch, b.step, ...b.names].join(","));
  assert.deepEqual(names([...seen, ...rest]), names(full));
  assert.deepEqual([...seen, ...rest].map((b) => b.images), full.map((b) => b.images));
  assert.deepEqual([...seen, ...rest].map((b) => b.masks), full.map((b) => b.masks));
  assert.throws(() => resumed.loadState({ ...saved, batchSize: 4 }), RangeError);
  // a dataset that changed size since the checkpoint: said in those words
  assert.throws(
    () => resumed.loadState({ ...saved, size: 9 }),
    /the dataset has 7 samples now and had 9 when saved/,
  );
});

Deno.test("DataLoader decodes prefetch batches ahead without changing the batches", async () => {
  const log: number[] = [];
  const loader = new DataLoader(fakeSource(20, undefined, log), {
    ...SMALL,
    batchSize: 2,
    prefetch: 3,
  });
  const it = loader.epoch();
  const first = await it.next();
  assert.equal(first.done, false);
  await new Promise((r) => setTimeout(r, 20)); // the consumer "works on the GPU"
  assert.equal(log.length, 8, "batch 0 plus 3 prefetched batches of 2 were loaded");
  await it.return(undefined);
  const plain = await collect(
    new DataLoader(fakeSource(20), { ...SMALL, batchSize: 2, prefetch: 0 }),
  );
  const ahead = await collect(
    new DataLoader(fakeSource(20), { ...SMALL, batchSize: 2, prefetch: 5 }),
  );
  assert.deepEqual(plain.map((b) => b.images), ahead.map((b) => b.images));
});

Deno.test("DataLoader skips decoding in later epochs when the cache is on", async () => {
  const log: number[] = [];
  const cached = new DataLoader(fakeSource(6, undefined, log), {
    ...SMALL,
    batchSize: 4,
    cache: true,
  });
  const a = await collect(cached, 2);
  assert.equal(log.length, 6);
  assert.equal(cached.cacheBytes, 6 * (12 * 12 * 4) * 4);
  const b = await collect(new DataLoader(fakeSource(6), { ...SMALL, batchSize: 4 }), 2);
  assert.deepEqual(a.map((x) => x.images), b.map((x) => x.images));
  const capLog: number[] = [];
  const capped = new DataLoader(fakeSource(6, undefined, capLog), {
    ...SMALL,
    cache: true,
    cacheMaxBytes: 2 * 12 * 12 * 4 * 4,
  });
  await collect(capped, 2);
  assert.equal(capLog.length, 6 + 4, "only two samples fit the cache");
});

Deno.test("DataLoader throws naming the file when a sample is bad and skipBad is off", async () => {
  const loader = new DataLoader(fakeSource(6, new Set([3])), {
    ...SMALL,
    batchSize: 2,
    shuffle: false,
  });
  const got: number[][] = [];
  await assert.rejects(
    (async () => {
      for await (const b of loader.epoch()) got.push(b.indices);
    })(),
    { name: "TypeError", message: /\/d\/s3\.jpg/ },
  );
  assert.deepEqual(got, [[0, 1]]);
  assert.deepEqual(loader.state().batch, 1, "the failed batch is not consumed");
});

Deno.test("DataLoader skips and reports bad samples once when skipBad is on", async () => {
  const bad: BadSample[] = [];
  const loader = new DataLoader(fakeSource(6, new Set([3, 4, 5])), {
    ...SMALL,
    batchSize: 2,
    shuffle: false,
    skipBad: true,
    onBadSample: (b) => bad.push(b),
  });
  const batches = await collect(loader, 2);
  assert.deepEqual(batches.map((b) => b.indices), [[0, 1], [2], [0, 1], [2]]);
  batches.forEach(assertPaired);
  assert.deepEqual(bad.map((b) => [b.index, b.name]), [[3, "s03"], [4, "s04"], [5, "s05"]]);
  assert.match(bad[0].error.message, /s3\.jpg/);
});

Deno.test("evalSamples() yields eval-preset images with masks at their own size in order", async () => {
  const bad: BadSample[] = [];
  const out = [];
  for await (
    const s of evalSamples(fakeSource(4, new Set([2])), {
      inputSize: 8,
      skipBad: true,
      onBadSample: (b) => bad.push(b),
    })
  ) out.push(s);
  assert.deepEqual(out.map((s) => s.name), ["s00", "s01", "s03"]);
  const s = out[2];
  assert.equal(s.image.length, 8 * 8 * 3);
  assert.deepEqual([s.maskWidth, s.maskHeight, s.imageWidth, s.imageHeight, s.index], [
    10,
    7,
    10,
    7,
    3,
  ]);
  assert.ok(s.mask.every((v) => v === 6));
  assert.equal(bad.length, 1);
  await assert.rejects(
    (async () => {
      for await (const _ of evalSamples(fakeSource(4, new Set([2])), { inputSize: 8 })) {
        /* drain */
      }
    })(),
    /s2\.jpg/,
  );
});
