import assert from "node:assert/strict";
import {
  createLrScheduler,
  DEFAULT_LR_SCHEDULER_OPTIONS,
  lrFactor,
} from "../../lib/optim/lr_scheduler.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";

interface LrCase {
  num_step: number;
  epochs: number;
  warmup: boolean;
  warmup_epochs: number;
  warmup_factor: number;
  end_factor: number;
  steps: number[];
  factors: number[];
}
const fixture: { cases: LrCase[] } = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/lr.json", import.meta.url)),
);

function assertRel(actual: number, expected: number, rel: number, msg: string): void {
  const err = Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(err <= rel, `${msg}: ${actual} vs ${expected} (rel ${err})`);
}

const optionsOf = (c: LrCase) => ({
  warmup: c.warmup,
  warmupEpochs: c.warmup_epochs,
  warmupFactor: c.warmup_factor,
  endFactor: c.end_factor,
});

Deno.test("lrFactor() matches the seed when given every step of lr.json", () => {
  assert.equal(fixture.cases.length, 4);
  for (const [ci, c] of fixture.cases.entries()) {
    assert.equal(c.steps.length, c.factors.length);
    c.steps.forEach((s, i) =>
      assertRel(
        lrFactor(s, c.num_step, c.epochs, optionsOf(c)),
        c.factors[i],
        1e-12,
        `case ${ci} step ${s}`,
      )
    );
  }
});

Deno.test("lrFactor() reproduces the spec §2 table when given num_step 660 and 360 epochs", () => {
  // values as printed in the spec (10 significant digits): absolute tolerance per row
  const table: [number, number, number][] = [
    [0, 0.001, 1e-15],
    [1, 0.0017568182, 5e-11],
    [659, 0.4997431818, 5e-11],
    [660, 0.5005, 1e-15],
    [1319, 0.9992431818, 5e-11],
    [1320, 1.0, 1e-15],
    [1321, 0.99999999996, 5e-12],
    [118800, 0.5043881385, 5e-11],
    [237599, 1.0000442e-6, 5e-14],
    [237600, 1e-6, 1e-18],
  ];
  for (const [x, f, abs] of table) {
    const got = lrFactor(x, 660, 360, { warmupEpochs: 2 });
    assert.ok(Math.abs(got - f) <= abs, `x=${x}: ${got} vs ${f}`);
  }
});

Deno.test("DEFAULT_LR_SCHEDULER_OPTIONS holds the seed's keyword defaults", () => {
  assert.deepEqual({ ...DEFAULT_LR_SCHEDULER_OPTIONS }, {
    warmup: true,
    warmupEpochs: 1,
    warmupFactor: 1e-3,
    endFactor: 1e-6,
  });
  // defaults in use: warmup over 1 epoch of 10 steps, 5 epochs
  assertRel(lrFactor(0, 10, 5), 1e-3, 1e-15, "f(0)");
  assertRel(lrFactor(10, 10, 5), 1, 1e-15, "f(10)");
  assertRel(lrFactor(50, 10, 5), 1e-6, 1e-9, "f(50)");
});

Deno.test("createLrScheduler() applies f(0) at construction and f(k) after k steps when stepped", () => {
  const c = fixture.cases[1]; // num_step 7, epochs 5, warmup 1, factors at every step 0..35
  assert.deepEqual(c.steps, Array.from({ length: 36 }, (_, i) => i));
  const opt = { paramGroups: [{ lr: 0.004 }, { lr: 0.1 }] };
  const sched = createLrScheduler(opt, c.num_step, c.epochs, optionsOf(c));
  assert.equal(sched.stepCount, 0);
  for (let k = 0; k < c.steps.length; k++) {
    if (k > 0) sched.step();
    assert.equal(sched.stepCount, k);
    assertRel(opt.paramGroups[0].lr, 0.004 * c.factors[k], 1e-12, `group 0 step ${k}`);
    assertRel(opt.paramGroups[1].lr, 0.1 * c.factors[k], 1e-12, `group 1 step ${k}`);
    assert.deepEqual(sched.lastLr, opt.paramGroups.map((g) => g.lr));
  }
  // base lrs are recorded as PyTorch's initial_lr and do not drift
  assert.deepEqual(opt.paramGroups.map((g) => (g as { initialLr?: number }).initialLr), [
    0.004,
    0.1,
  ]);
});

Deno.test("createLrScheduler() keeps an existing initialLr when the group has one", () => {
  const opt = { paramGroups: [{ lr: 123, initialLr: 0.01 }] };
  createLrScheduler(opt, 4, 3);
  assertRel(opt.paramGroups[0].lr, 0.01 * 1e-3, 1e-15, "lr");
});

Deno.test("LrScheduler.loadState() resumes the schedule when given state() of another run", () => {
  const optA = { paramGroups: [{ lr: 1e-3 }, { lr: 2e-3 }] };
  const a = createLrScheduler(optA, 2, 3);
  for (let i = 0; i < 3; i++) a.step();
  const saved = JSON.parse(JSON.stringify(a.state()));
  assert.deepEqual(saved, { stepCount: 3, baseLrs: [1e-3, 2e-3] });

  const optB = { paramGroups: [{ lr: 5 }, { lr: 5 }] };
  const b = createLrScheduler(optB, 2, 3);
  b.loadState(saved);
  assert.equal(b.stepCount, 3);
  assert.deepEqual(optB.paramGroups.map((g) => g.lr), optA.paramGroups.map((g) => g.lr));
  a.step();
  b.step();
  assert.deepEqual(optB.paramGroups.map((g) => g.lr), optA.paramGroups.map((g) => g.lr));
  // num_step 2, epochs 3, warmup 1: step 4 is half-way through the cosine, (1 + cos(π/2))/2
  assertRel(
    optA.paramGroups[0].lr,
    1e-3 * (((1 + Math.cos(Math.PI / 2)) / 2) * (1 - 1e-6) + 1e-6),
    1e-12,
    "k=4",
  );
  assert.throws(() => b.loadState({ stepCount: 1, baseLrs: [1] }), RangeError);
});

Deno.test("createLrScheduler() throws RangeError when given a non-positive step count", () => {
  assert.throws(() => createLrScheduler({ paramGroups: [] }, 0, 3), RangeError);
  assert.throws(() => lrFactor(0, 5, 0), RangeError);
});

Deno.test("createLrScheduler() gives the lrs of lite_train.safetensors when stepped after each update", async () => {
  const file = readSafetensors(
    await Deno.readFile(new URL("../testdata/lite_train.safetensors", import.meta.url)),
  );
  const lrs = file.tensors.get("lrs")!.data as Float32Array; // float32 lr used at each of 3 steps
  assert.equal(lrs.length, 3);
  const opt = { paramGroups: [{ lr: 1e-3 }, { lr: 1e-3 }] };
  const sched = createLrScheduler(opt, 2, 3, { warmup: true, warmupEpochs: 1 });
  for (let k = 0; k < 3; k++) {
    for (const g of opt.paramGroups) assert.equal(Math.fround(g.lr), lrs[k], `step ${k}`);
    sched.step();
  }
});

Deno.test("createLrScheduler() takes the warmup branch at every step when epochs <= warmupEpochs", () => {
  // The seed's lambda, written out: x <= W → warmup_factor·(1 − x/W) + x/W, W = warmup_epochs·num_step.
  for (const [numStep, epochs, warmupEpochs] of [[5, 1, 2], [5, 2, 2], [3, 1, 1], [4, 2, 3]]) {
    const opt = { paramGroups: [{ lr: 0.01 }] };
    const sched = createLrScheduler(opt, numStep, epochs, { warmupEpochs });
    const w = warmupEpochs * numStep;
    for (let x = 0; x <= epochs * numStep; x++) {
      const seed = 1e-3 * (1 - x / w) + x / w;
      assertRel(sched.factor(x), seed, 1e-15, `numStep ${numStep} epochs ${epochs} x ${x}`);
      assertRel(opt.paramGroups[0].lr, 0.01 * seed, 1e-15, `lr at x ${x}`);
      assert.ok(Number.isFinite(opt.paramGroups[0].lr));
      sched.step();
    }
  }
});
