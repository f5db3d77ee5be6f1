import { assert, assertEquals } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { foldBatchNorm } from "../../lib/model/fold_bn.ts";
import {
  concatChannels,
  convReluFewChannels,
  fastEvalActive,
  fastEvalSettings,
  fuseSides,
  sideConv,
} from "../../lib/engines/tfjs/fast_eval.ts";
import { fixture, maxAbsDiff, nchwToNhwc, nhwcToNchw, useBackend } from "../helpers.ts";

// The fast kernels run on cpu (always here) and wasm (when its binaries are readable).
async function backends(): Promise<("cpu" | "wasm")[]> {
  try {
    await useBackend("wasm");
    return ["cpu", "wasm"];
  } catch {
    return ["cpu"];
  }
}
const BACKENDS = await backends();

async function close(a: tf.Tensor, b: tf.Tensor, tol: number): Promise<number> {
  assertEquals(a.shape, b.shape);
  const d = maxAbsDiff(await a.data(), await b.data());
  assert(d <= tol, `max abs diff ${d} > ${tol}`);
  return d;
}

for (const be of BACKENDS) {
  Deno.test(`fast eval kernels equal the tfjs ops when run on ${be}`, async () => {
    await useBackend(be);
    assert(fastEvalActive());
    const start = tf.memory().numTensors;
    const r = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, "float32", seed);
    const a = r([2, 5, 7, 3], 1) as tf.Tensor4D, b = r([2, 5, 7, 1], 2) as tf.Tensor4D;
    const c = r([2, 5, 7, 4], 3) as tf.Tensor4D;
    const w = r([3, 3, 4, 1], 4) as tf.Tensor4D, bias = r([1], 5);
    const w6 = r([1, 1, 3, 1], 6), w3 = r([3, 3, 3, 8], 7) as tf.Tensor4D, b8 = r([8], 8);
    const flat = tf.tidy(() =>
      [
        [concatChannels([a, b, c]), tf.concat([a, b, c], 3)],
        [sideConv(c, w, bias), tf.add(tf.conv2d(c, w, 1, "same"), bias)],
        [
          fuseSides([b, b, tf.slice(c, [0, 0, 0, 0], [2, 5, 7, 1])], w6, bias),
          tf.add(
            tf.conv2d(
              tf.concat([b, b, tf.slice(c, [0, 0, 0, 0], [2, 5, 7, 1])], 3),
              w6 as tf.Tensor4D,
              1,
              "same",
            ),
            bias,
          ),
        ],
        [convReluFewChannels(a, w3, b8), tf.relu(tf.add(tf.conv2d(a, w3, 1, "same"), b8))],
      ].flat()
    );
    const outs = [0, 2, 4, 6].map((i) => [flat[i], flat[i + 1]]);
    try {
      for (const [fast, ref] of outs) await close(fast, ref, 1e-6);
    } finally {
      tf.dispose([a, b, c, w, bias, w6, w3, b8, ...flat]);
    }
    assertEquals(tf.memory().numTensors, start);
  });

  Deno.test(`U2Net eval output stays within 1e-5 of the fixture when the fast path runs on ${be}`, async () => {
    await useBackend(be);
    const io = await fixture("lite_io.safetensors");
    const model = U2Net.create("lite");
    model.loadStateDict(await fixture("lite_wz.safetensors"));
    const folded = await foldBatchNorm(model);
    const xr = io.get("x")!;
    const x = nchwToNhwc(xr.data as Float32Array, xr.shape);
    const expected = io.get("eval_wz")!.data as Float32Array;
    const start = tf.memory().numTensors;
    try {
      for (const m of [model.eval(), folded]) {
        const y = m.predict(x);
        fastEvalSettings.enabled = false;
        const slow = m.predict(x);
        fastEvalSettings.enabled = true;
        try {
          assert(maxAbsDiff(await nhwcToNchw(y), expected) <= 1e-5);
          await close(y, slow, 1e-6);
        } finally {
          tf.dispose([y, slow]);
        }
      }
      assertEquals(tf.memory().numTensors, start);
    } finally {
      fastEvalSettings.enabled = true;
      tf.dispose(x);
      model.dispose();
      folded.dispose();
    }
  });
}

Deno.test("fastEvalActive() is false when the switch is off or a gradient is recorded", async () => {
  await useBackend("cpu");
  const x = tf.scalar(2);
  let inside = true;
  tf.dispose(
    tf.grad((v: tf.Tensor) => {
      inside = fastEvalActive();
      return tf.square(v);
    })(x),
  );
  x.dispose();
  assertEquals(inside, false);
  fastEvalSettings.enabled = false;
  try {
    assertEquals(fastEvalActive(), false);
  } finally {
    fastEvalSettings.enabled = true;
  }
  assertEquals(fastEvalActive(), true);
});
