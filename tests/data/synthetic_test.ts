import assert from "node:assert/strict";
import { SYNTHETIC_DEFAULTS, syntheticSample, syntheticSource } from "../../lib/data/synthetic.ts";

Deno.test("syntheticSample() is deterministic when given the same seed and index", () => {
  const a = syntheticSample(5, { seed: 3, size: 48 });
  const b = syntheticSample(5, { seed: 3, size: 48 });
  assert.deepEqual(a, b);
  assert.equal(a.name, "synthetic_000005");
  assert.deepEqual([a.image.width, a.image.height, a.image.channels], [48, 48, 3]);
  assert.deepEqual([a.mask.width, a.mask.height, a.mask.channels], [48, 48, 1]);
});

Deno.test("syntheticSample() differs when given another seed or index", () => {
  const a = syntheticSample(0, { seed: 1, size: 32 });
  assert.notDeepEqual(a.image.data, syntheticSample(0, { seed: 2, size: 32 }).image.data);
  assert.notDeepEqual(a.image.data, syntheticSample(1, { seed: 1, size: 32 }).image.data);
  assert.notDeepEqual(a.mask.data, syntheticSample(0, { seed: 2, size: 32 }).mask.data);
});

Deno.test("syntheticSample() gives binary, non-trivial masks on varied images", () => {
  const coverages: number[] = [];
  for (let i = 0; i < 40; i++) {
    const s = syntheticSample(i, { seed: 11 });
    assert.ok(s.mask.data.every((v) => v === 0 || v === 255));
    const cov = s.mask.data.reduce((n, v) => n + (v ? 1 : 0), 0) / s.mask.data.length;
    assert.ok(cov > 0.02 && cov < 0.75, `sample ${i} covers ${cov}`);
    coverages.push(cov);
    // Cluttered: the background alone is not a single colour.
    const bg = new Set<number>();
    s.mask.data.forEach((m, p) => {
      if (!m) {
        bg.add(s.image.data[3 * p] << 16 | s.image.data[3 * p + 1] << 8 | s.image.data[3 * p + 2]);
      }
    });
    assert.ok(bg.size > 20);
  }
  assert.ok(Math.max(...coverages) - Math.min(...coverages) > 0.1, "object sizes vary");
});

Deno.test("syntheticSample() takes a few ms when given the default 96x96 size", () => {
  syntheticSample(0);
  const t = performance.now();
  for (let i = 0; i < 20; i++) syntheticSample(i, { size: SYNTHETIC_DEFAULTS.size });
  const ms = (performance.now() - t) / 20;
  assert.ok(ms < 25, `${ms} ms per sample`);
});

Deno.test("syntheticSource() serves count samples and refuses indices outside it", async () => {
  const src = syntheticSource({ count: 3, seed: 4, size: 16 });
  assert.equal(src.size, 3);
  assert.equal(src.name(2), "synthetic_000002");
  assert.deepEqual(await src.load(2), syntheticSample(2, { seed: 4, size: 16 }));
  assert.throws(() => src.name(3), RangeError);
  assert.throws(() => syntheticSample(0, { size: 4 }), RangeError);
});
