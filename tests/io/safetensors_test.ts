import assert from "node:assert/strict";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors.ts";
import type { RawTensor } from "../../lib/io/raw_tensor.ts";

/** A safetensors file with a hand-written header over `data`. */
function fileOf(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + raw.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(raw.length), true);
  out.set(raw, 8);
  out.set(data, 8 + raw.length);
  return out;
}

const f32 = (shape: number[], start: number, end: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [start, end],
});

Deno.test("readSafetensors() round-trips writeSafetensors() when tensors tile the data", () => {
  const a = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
  const b = { dtype: "I64" as const, shape: [1], data: new BigInt64Array([3n]) };
  const back = readSafetensors(
    writeSafetensors(new Map<string, RawTensor>([["a", a], ["b", b]]), { k: "v" }),
  );
  assert.deepEqual(back.tensors.get("a"), a);
  assert.deepEqual(back.tensors.get("b"), b);
  assert.deepEqual(back.metadata, { k: "v" });
  // listed out of order in the header but tiling the data: accepted (as the reference does)
  const swapped = readSafetensors(
    fileOf({ b: f32([1], 8, 12), a: f32([2], 0, 8) }, new Uint8Array(12)),
  );
  assert.deepEqual([...swapped.tensors.keys()], ["b", "a"]);
});

Deno.test("readSafetensors() refuses overlapping, gapped or out-of-bounds data offsets", () => {
  const data = new Uint8Array(16);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ a: f32([2], 0, 8), b: f32([2], 4, 12) }, /"b": current data offsets 4\.\.12 overlap/],
    [{ a: f32([2], 0, 8), b: f32([1], 12, 16) }, /"b": current data offsets 12\.\.16 leave a gap/],
    [{ a: f32([4], 8, 24) }, /"a": current data offsets are 8\.\.24/],
    [{ a: f32([3], 0, 8) }, /"a": current data offsets are 0\.\.8 \(shape \[3\] of F32 needs 12/],
    [{ a: f32([2], -8, 0) }, /"a": current data offsets are -8\.\.0/],
    [{ a: f32([-2], 0, 8) }, /"a": current shape is \[-2\]/],
    [{ a: f32([2], 8, 0) }, /"a": current data offsets are 8\.\.0/],
  ];
  for (const [header, re] of bad) {
    assert.throws(() => readSafetensors(fileOf(header, data)), (e: Error) => {
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, re);
      return true;
    });
  }
});
