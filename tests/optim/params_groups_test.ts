import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { getParamsGroups, isNoDecayParam } from "../../lib/optim/params_groups.ts";

await tf.setBackend("cpu");

const fixture: {
  lite: { no_decay: string[]; decay: string[] };
  full_counts: { no_decay: [number, number]; decay: [number, number] };
  lite_state_dict: Record<string, number[]>;
  full_state_dict: Record<string, number[]>;
} = JSON.parse(await Deno.readTextFile(new URL("../testdata/params.json", import.meta.url)));

const BUFFER = /\.(running_mean|running_var|num_batches_tracked)$/;

/** Parameter names and PyTorch shapes of a state dict, buffers skipped, in key order. */
function parameterShapes(sd: Record<string, number[]>): [string, number[]][] {
  return Object.entries(sd).filter(([k]) => !BUFFER.test(k));
}

/** A variable of zeros (the initial tensor is freed; only the variable remains). */
const zerosVar = (shape: number[], trainable = true): tf.Variable =>
  tf.tidy(() => tf.variable(tf.zeros(shape), trainable));

/** Tiny stand-in variables with the parameter's rank (NHWC/HWIO keeps PyTorch's ndim). */
function fakeVariables(sd: Record<string, number[]>): [string, tf.Variable][] {
  return parameterShapes(sd).map(([k, shape]) => [k, zerosVar(shape.map(() => 1))]);
}

Deno.test("getParamsGroups() matches the seed's lite groups when given params.json shapes", () => {
  const named = fakeVariables(fixture.lite_state_dict);
  assert.equal(named.length, 350);
  const [noDecay, decay] = getParamsGroups(named);
  assert.deepEqual(noDecay.names, fixture.lite.no_decay);
  assert.deepEqual(decay.names, fixture.lite.decay);
  assert.equal(noDecay.weightDecay, 0);
  assert.equal(decay.weightDecay, 1e-4);
  const byName = new Map(named);
  noDecay.names.forEach((n, i) => assert.equal(noDecay.params[i], byName.get(n)));
  decay.names.forEach((n, i) => assert.equal(decay.params[i], byName.get(n)));
  tf.dispose(named.map(([, v]) => v));
});

Deno.test("getParamsGroups() reproduces the full and lite counts when given params.json shapes", () => {
  const counts = (sd: Record<string, number[]>) => {
    const shapes = new Map(parameterShapes(sd));
    const named = fakeVariables(sd);
    const groups = getParamsGroups(named, 0.05);
    tf.dispose(named.map(([, v]) => v));
    return groups.map((g) => [
      g.names.length,
      g.names.reduce((a, n) => a + shapes.get(n)!.reduce((x, y) => x * y, 1), 0),
    ]);
  };
  assert.deepEqual(counts(fixture.full_state_dict), [
    fixture.full_counts.no_decay,
    fixture.full_counts.decay,
  ]);
  assert.deepEqual(counts(fixture.lite_state_dict), [[231, 5703], [119, 1122630]]);
});

Deno.test("getParamsGroups() applies the rank and .bias rules when given hand-made names", () => {
  const start = tf.memory().numTensors;
  const named: [string, tf.Variable][] = [
    ["a.conv.weight", zerosVar([3, 3, 2, 4])],
    ["a.bn.weight", zerosVar([4])],
    ["side1.bias", zerosVar([1])],
    ["odd.bias", zerosVar([2, 2])], // .bias of rank 2: still no decay
    ["lin.weight", zerosVar([2, 3])],
    ["frozen.weight", zerosVar([2, 3], false)], // not trainable: skipped
  ];
  const [noDecay, decay] = getParamsGroups(named, 0.5);
  assert.deepEqual(noDecay.names, ["a.bn.weight", "side1.bias", "odd.bias"]);
  assert.deepEqual(decay.names, ["a.conv.weight", "lin.weight"]);
  assert.equal(decay.weightDecay, 0.5);
  assert.equal(isNoDecayParam("x.bias", 4), true);
  assert.equal(isNoDecayParam("x.weight", 1), true);
  assert.equal(isNoDecayParam("x.weight", 2), false);
  tf.dispose(named.map(([, v]) => v));
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("getParamsGroups() throws RangeError when given a duplicate name or bad decay", () => {
  const v = zerosVar([2]);
  assert.throws(() => getParamsGroups([["a", v], ["a", v]]), RangeError);
  assert.throws(() => getParamsGroups([["a", v]], -1), RangeError);
  v.dispose();
});
