import assert from "node:assert/strict";
import { checkWeights } from "../../lib/io/check_weights.ts";
import { readWeights } from "../../lib/io/read_weights.ts";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import type { RawTensor, StateDict } from "../../lib/io/raw_tensor.ts";

const f32 = (xs: number[]): RawTensor => ({
  dtype: "F32",
  shape: [xs.length],
  data: new Float32Array(xs),
});

Deno.test("checkWeights() names the first tensor and index when a float is NaN or infinite", () => {
  const sd: StateDict = new Map([["ok", f32([1, 2])], ["bad", f32([0, 1, -Infinity, NaN])]]);
  assert.throws(
    () => checkWeights(sd, "w.pth"),
    (e: Error) =>
      e instanceof RangeError &&
      e.message === "Cannot load weights from w.pth: tensor bad has -Infinity at index 2",
  );
  const nan = new Float32Array(5000);
  nan[4321] = NaN;
  assert.throws(
    () => checkWeights(new Map([["x", { dtype: "F32", shape: [5000], data: nan }]]), "a"),
    /^RangeError: Cannot load weights from a: tensor x has NaN at index 4321$/,
  );
  const half = new Uint16Array([0x3c00, 0x7e00]); // 1, NaN
  assert.throws(
    () => checkWeights(new Map([["h", { dtype: "F16", shape: [2], data: half }]])),
    /h has NaN at index 1/,
  );
  // integers are not checked; finite floats pass through unchanged
  const ints: StateDict = new Map([["n", {
    dtype: "I64",
    shape: [1],
    data: new BigInt64Array([1n]),
  }]]);
  assert.equal(checkWeights(ints), ints);
});

Deno.test("checkWeights() refuses a negative BatchNorm running_var", () => {
  const sd: StateDict = new Map([["s.bn.running_mean", f32([-1])], [
    "s.bn.running_var",
    f32([1, -0.5]),
  ]]);
  assert.throws(
    () => checkWeights(sd, "m.safetensors"),
    /^RangeError: Cannot load weights from m\.safetensors: tensor s\.bn\.running_var has a negative variance -0\.5 at index 1$/,
  );
});

Deno.test("readWeights() refuses weights with NaN when the file is otherwise valid", async () => {
  const src = readSafetensors(
    await Deno.readFile(new URL("../testdata/lite_wz.safetensors", import.meta.url)),
  ).tensors;
  const [name, t] = [...src].find(([k]) => k.endsWith("conv.weight"))!;
  (t.data as Float32Array)[17] = NaN;
  await assert.rejects(
    readWeights(writeSafetensors(src), "bad.safetensors"),
    (e: Error) =>
      e instanceof RangeError &&
      e.message === `Cannot load weights from bad.safetensors: tensor ${name} has NaN at index 17`,
  );
});

Deno.test("checkWeights() scans the full network's 44M floats in well under a second", () => {
  const sd: StateDict = new Map();
  for (let i = 0; i < 44; i++) {
    sd.set(`t${i}`, { dtype: "F32", shape: [1e6], data: new Float32Array(1e6).fill(0.5) });
  }
  const t0 = performance.now();
  checkWeights(sd);
  const ms = performance.now() - t0;
  console.log(`checkWeights: 44M floats in ${ms.toFixed(1)} ms`);
  assert.ok(ms < 1000, `${ms} ms`);
});

Deno.test("readWeights() names the file when a checkpoint is truncated", async () => {
  const pth = await Deno.readFile(new URL("../testdata/lite_wz.pth", import.meta.url));
  await assert.rejects(
    readWeights(pth.subarray(0, 2_000_000), "runs/x/model_3.pth"),
    (e: Error) =>
      e instanceof RangeError && e.message.startsWith("Cannot read zip (runs/x/model_3.pth): ") &&
      !e.message.includes("\n"),
  );
});
