import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { AdamW, type AdamWState } from "../../lib/optim/adamw.ts";
import { createLrScheduler } from "../../lib/optim/lr_scheduler.ts";

await tf.setBackend("cpu");

/** PyTorch 1.13 single-tensor AdamW, in float64, on plain arrays (spec §2). */
class RefAdamW {
  m: number[];
  v: number[];
  t = 0;
  constructor(
    public p: number[],
    public wd: number,
    public betas = [0.9, 0.999],
    public eps = 1e-8,
  ) {
    this.m = p.map(() => 0);
    this.v = p.map(() => 0);
  }
  step(g: number[], lr: number): void {
    const [b1, b2] = this.betas;
    this.t++;
    for (let i = 0; i < this.p.length; i++) {
      this.p[i] *= 1 - lr * this.wd;
      this.m[i] = b1 * this.m[i] + (1 - b1) * g[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(this.v[i]) / Math.sqrt(1 - b2 ** this.t) + this.eps;
      this.p[i] -= (lr / (1 - b1 ** this.t)) * this.m[i] / denom;
    }
  }
}

const varOf = (values: number[], shape: number[]): tf.Variable =>
  tf.tidy(() => tf.variable(tf.tensor(values, shape)));

function assertClose(actual: ArrayLike<number>, expected: number[], tol: number, msg: string) {
  assert.equal(actual.length, expected.length, msg);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${msg}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

// deterministic pseudo-gradients, different at each step and element
const gradAt = (step: number, n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + step * 3.3 + i * 1.7) * (i + 1) * 0.3);

Deno.test("AdamW.applyGradients() matches a float64 PyTorch reference when stepped with two groups", async () => {
  const start = tf.memory().numTensors;
  const w0 = [0.5, -1.25, 2, 0.75, -0.1, 1.5];
  const b0 = [0.2, -0.3];
  const w = varOf(w0, [1, 2, 3]);
  const b = varOf(b0, [2]);
  const opt = new AdamW(
    [{ params: [b], names: ["x.bias"], weightDecay: 0 }, { params: [w], names: ["x.weight"] }],
    { lr: 0.05, weightDecay: 0.2 },
  );
  assert.equal(opt.paramGroups[1].weightDecay, 0.2);
  assert.deepEqual(opt.paramGroups[0].betas, [0.9, 0.999]);
  const refW = new RefAdamW([...w0], 0.2);
  const refB = new RefAdamW([...b0], 0);
  const lrs = [0.05, 0.02, 0.1, 0.001, 0.03];
  for (let s = 0; s < lrs.length; s++) {
    for (const g of opt.paramGroups) g.lr = lrs[s];
    const gw = gradAt(s, 6, 1);
    const gb = gradAt(s, 2, 2);
    const grads = { "x.weight": tf.tensor(gw, [1, 2, 3]), "x.bias": tf.tensor(gb, [2]) };
    opt.applyGradients(grads);
    tf.dispose(Object.values(grads));
    refW.step(gw, lrs[s]);
    refB.step(gb, lrs[s]);
    assertClose(await w.data(), refW.p, 2e-6, `weight after step ${s + 1}`);
    assertClose(await b.data(), refB.p, 2e-6, `bias after step ${s + 1}`);
  }
  assert.deepEqual(w.shape, [1, 2, 3]);
  opt.dispose();
  tf.dispose([w, b]);
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("AdamW.applyGradients() skips a parameter without a gradient when given a Map", async () => {
  const a = varOf([1, 2], [2]);
  const c = varOf([3], [1]);
  const opt = new AdamW([{ params: [a, c], names: ["a", "c"], weightDecay: 0.01 }], { lr: 0.1 });
  const refA = new RefAdamW([1, 2], 0.01);
  const refC = new RefAdamW([3], 0.01);
  for (let s = 0; s < 3; s++) {
    const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d(gradAt(s, 2, 3))]]);
    if (s === 1) grads.set("c", tf.tensor1d([0.7])); // c is stepped once: its t is 1
    opt.applyGradients(grads);
    tf.dispose([...grads.values()]);
    refA.step(gradAt(s, 2, 3), 0.1);
    if (s === 1) refC.step([0.7], 0.1);
  }
  assertClose(await a.data(), refA.p, 2e-6, "a");
  assertClose(await c.data(), refC.p, 2e-6, "c");
  const state = await opt.state();
  assert.deepEqual(Object.keys(state.params), ["a", "c"]);
  assert.equal(state.params.a.step, 3);
  assert.equal(state.params.c.step, 1);
  assertClose(state.params.a.expAvgSq, refA.v, 1e-7, "v(a)");
  opt.dispose();
  tf.dispose([a, c]);
});

Deno.test("AdamW.loadState() continues bit-identically when given state() of another optimizer", async () => {
  const start = tf.memory().numTensors;
  const init = [0.3, -0.6, 0.9, 1.2];
  const mk = () => {
    const p = varOf(init, [2, 2]);
    const q = varOf([0.5], [1]);
    const opt = new AdamW([{ params: [q], names: ["q.bias"], weightDecay: 0 }, {
      params: [p],
      names: ["p.weight"],
      weightDecay: 1e-4,
    }]);
    return { p, q, opt, sched: createLrScheduler(opt, 2, 3) };
  };
  const step = (r: ReturnType<typeof mk>, s: number) => {
    const grads = {
      "p.weight": tf.tensor(gradAt(s, 4, 5), [2, 2]),
      "q.bias": tf.tensor1d([s - 1]),
    };
    r.opt.applyGradients(grads);
    r.sched.step();
    tf.dispose(Object.values(grads));
  };
  const a = mk();
  step(a, 0);
  step(a, 1);
  const saved: AdamWState = structuredClone(await a.opt.state());
  const schedSaved = a.sched.state();
  assert.equal(saved.groups.length, 2);
  assert.ok(saved.params["p.weight"].expAvg instanceof Float32Array);

  const b = mk();
  const [pNow, qNow] = [await a.p.data(), await a.q.data()];
  tf.tidy(() => b.p.assign(tf.tensor(pNow, [2, 2])));
  tf.tidy(() => b.q.assign(tf.tensor(qNow, [1])));
  b.opt.loadState(saved);
  b.sched.loadState(schedSaved);
  assert.deepEqual(b.opt.paramGroups.map((g) => g.lr), a.opt.paramGroups.map((g) => g.lr));
  for (let s = 2; s < 5; s++) {
    step(a, s);
    step(b, s);
  }
  assert.deepEqual(await b.p.data(), await a.p.data());
  assert.deepEqual(await b.q.data(), await a.q.data());
  assert.deepEqual((await b.opt.state()).params["p.weight"].step, 5);

  assert.throws(() => b.opt.loadState({ groups: saved.groups.slice(1), params: {} }), RangeError);
  const bad = { ...saved, params: { nope: saved.params["q.bias"] } };
  assert.throws(() => b.opt.loadState(bad), RangeError);
  for (const r of [a, b]) {
    r.opt.dispose();
    tf.dispose([r.p, r.q]);
  }
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("AdamW.applyGradients() throws before updating when given an unknown name or shape", async () => {
  const a = varOf([1, 2], [2]);
  const opt = new AdamW([{ params: [a], names: ["a"] }]);
  const good = tf.tensor1d([1, 1]);
  const wrong = tf.tensor1d([1, 1, 1]);
  assert.throws(() => opt.applyGradients({ a: good, b: good }), RangeError);
  assert.throws(() => opt.applyGradients({ a: wrong }), RangeError);
  assert.deepEqual(Array.from(await a.data()), [1, 2]);
  assert.throws(() => new AdamW([{ params: [a, a], names: ["a", "a"] }]), RangeError);
  opt.dispose();
  assert.throws(() => opt.applyGradients({ a: good }), TypeError);
  tf.dispose([a, good, wrong]);
});
