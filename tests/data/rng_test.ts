import assert from "node:assert/strict";
import { mixSeed, Rng } from "../../lib/data/rng.ts";

Deno.test("Rng() gives the same stream when given the same seed", () => {
  const a = new Rng(123), b = new Rng(123), c = new Rng(124);
  const sa = Array.from({ length: 20 }, () => a.nextU32());
  const sb = Array.from({ length: 20 }, () => b.nextU32());
  const sc = Array.from({ length: 20 }, () => c.nextU32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  assert.ok(sa.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
});

Deno.test("Rng.state() resumes the exact stream when loaded after a JSON round trip", () => {
  const a = new Rng(7);
  for (let i = 0; i < 13; i++) a.float();
  const saved = JSON.parse(JSON.stringify(a.state()));
  const next = Array.from({ length: 10 }, () => a.int(0, 1000));
  const b = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 10 }, () => b.int(0, 1000)), next);
  const c = new Rng(99);
  c.loadState(saved);
  assert.deepEqual(Array.from({ length: 10 }, () => c.int(0, 1000)), next);
});

Deno.test("Rng.loadState() throws when given a malformed state", () => {
  const r = new Rng(1);
  assert.throws(() => r.loadState({ s: [0, 0, 0, 0] }), TypeError);
  assert.throws(() => r.loadState({ s: [1, 2, 3] } as never), TypeError);
  assert.throws(() => r.loadState({ s: [1, 2, 3, 2 ** 32] }), TypeError);
});

Deno.test("Rng.int() covers [lo, hi) inclusive of lo and exclusive of hi", () => {
  const r = new Rng(5);
  const seen = new Set<number>();
  for (let i = 0; i < 3000; i++) {
    const v = r.int(0, 33);
    assert.ok(v >= 0 && v <= 32);
    seen.add(v);
  }
  assert.equal(seen.size, 33);
  assert.throws(() => r.int(3, 3), RangeError);
  assert.throws(() => r.int(0, 1.5), RangeError);
});

Deno.test("Rng.float() stays in [0, 1) with a plausible mean", () => {
  const r = new Rng(11);
  let sum = 0;
  for (let i = 0; i < 10000; i++) {
    const v = r.float();
    assert.ok(v >= 0 && v < 1);
    sum += v;
  }
  assert.ok(Math.abs(sum / 10000 - 0.5) < 0.02);
});

Deno.test("Rng.shuffle() returns a permutation that depends on the seed", () => {
  const base = Array.from({ length: 50 }, (_, i) => i);
  const a = new Rng(1).shuffle([...base]);
  const b = new Rng(2).shuffle([...base]);
  assert.deepEqual([...a].sort((x, y) => x - y), base);
  assert.notDeepEqual(a, base);
  assert.notDeepEqual(a, b);
});

Deno.test("mixSeed() depends on order and on high bits when given several parts", () => {
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
  assert.notEqual(mixSeed(1), mixSeed(1 + 2 ** 32));
  assert.equal(mixSeed(3, 4), mixSeed(3, 4));
});
