import assert from "node:assert/strict";
import type { U2Net } from "../../lib/model/u2net.ts";
import type { StateDict } from "../../lib/io/raw_tensor.ts";
import { maxAbsDiff } from "../helpers.ts";

/**
 * The end-state checks of the three-step PyTorch parity tests (see
 * train_step_test.ts for the tolerances' derivation): parameters within 5e-3,
 * the update aligned with PyTorch's (cosine >= 0.8, norm ratio within 10%),
 * BN running stats within 5e-2, batch counters advanced by 3.
 */
export async function assertNearReference(
  model: U2Net,
  wz: StateDict,
  ref: StateDict,
): Promise<void> {
  const sd = await model.stateDict();
  let [dot, nOurs, nRef, maxParam, maxBuffer] = [0, 0, 0, 0, 0];
  for (const [key, v] of sd) {
    if (v.dtype === "I64") {
      assert.equal(v.data[0], (wz.get(key)!.data[0] as bigint) + 3n, key);
      continue;
    }
    const r = ref.get(`after3.${key}`);
    assert.ok(r, `fixture lacks after3.${key}`);
    const ours = v.data as Float32Array;
    const theirs = r.data as Float32Array;
    const d = maxAbsDiff(ours, theirs);
    if (key.includes(".running_")) {
      maxBuffer = Math.max(maxBuffer, d);
      continue;
    }
    maxParam = Math.max(maxParam, d);
    const w0 = wz.get(key)!.data as Float32Array;
    for (let i = 0; i < ours.length; i++) {
      const [uo, ur] = [ours[i] - w0[i], theirs[i] - w0[i]];
      dot += uo * ur;
      nOurs += uo * uo;
      nRef += ur * ur;
    }
  }
  const cos = dot / Math.sqrt(nOurs * nRef);
  const ratio = Math.sqrt(nOurs / nRef);
  assert.ok(maxParam <= 5e-3, `params max |diff| ${maxParam}`);
  assert.ok(cos >= 0.8, `update cosine ${cos}`);
  assert.ok(Math.abs(ratio - 1) <= 0.1, `update norm ratio ${ratio}`);
  assert.ok(maxBuffer <= 5e-2, `BN buffers max |diff| ${maxBuffer}`);
}
