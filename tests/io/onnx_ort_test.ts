/**
 * The imported network against onnxruntime-node running the same ONNX file.
 * onnxruntime-node is a native addon (a test-only dependency, like the
 * bench's); the test task scopes --allow-ffi and read to its npm folders.
 */
import { assert, assertEquals } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { modelFromWeights } from "../../lib/model/load_weights.ts";
import { readWeights } from "../../lib/io/read_weights.ts";
import { parseOnnx } from "../../lib/io/onnx.ts";
import { exportOnnx } from "../../lib/engines/onnx/onnx_export.ts";
import { maxAbsDiff, useBackend } from "../helpers.ts";
import {
  float16Weights,
  HALF_LITE,
  type ResizeForm,
  staticResizes,
  writeOnnxModel,
} from "./_onnx_variants.ts";

// deno-lint-ignore no-import-prefix -- test-only native dependency, as in bench/ort_bench.ts
type Ort = typeof import("npm:onnxruntime-node@1.30.0");
let ort: Ort | undefined;
try {
  // deno-lint-ignore no-import-prefix -- see above
  ort = await import("npm:onnxruntime-node@1.30.0");
} catch (e) {
  console.log(
    `onnx_ort_test: skipped, onnxruntime-node cannot be loaded (${
      (e instanceof Error ? e.message : String(e)).split("\n")[0]
    })`,
  );
}

/** onnxruntime's outputs (NCHW with one channel, so also NHWC) and ours, for one NCHW input. */
async function both(bytes: Uint8Array, nchw: Float32Array, shape: number[]) {
  const session = await ort!.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const inputName = session.inputNames[0];
  const out = await session.run({ [inputName]: new ort!.Tensor("float32", nchw, shape) });
  const theirs = session.outputNames.map((n) => out[n].data as Float32Array);
  await session.release();
  const model = modelFromWeights(await readWeights(bytes, "x.onnx"));
  const x = tf.tidy(() =>
    tf.transpose(tf.tensor4d(nchw, shape as [number, number, number, number]), [0, 2, 3, 1])
  ) as tf.Tensor4D;
  const ys = model.forward(x, { allSides: true });
  const ours: Float32Array[] = [];
  for (const y of ys) ours.push(await y.data() as Float32Array);
  tf.dispose([x, ...ys]);
  model.dispose();
  return { theirs, ours };
}

function randomInput(shape: number[], seed: number): Float32Array {
  let s = seed;
  return Float32Array.from(
    { length: shape.reduce((a, b) => a * b, 1) },
    () => ((s = (s * 16807) % 2147483647) / 2147483647) * 4 - 2,
  );
}

Deno.test({
  name: "readWeights() matches onnxruntime on all seven outputs when given lite_orig.onnx",
  ignore: !ort,
  async fn() {
    await useBackend("cpu");
    const start = tf.memory().numTensors;
    const bytes = await Deno.readFile(new URL("../testdata/lite_orig.onnx", import.meta.url));
    const shape = parseOnnx(bytes).graph.inputs[0].shape as number[];
    const { theirs, ours } = await both(bytes, randomInput(shape, 5), shape);
    assertEquals([theirs.length, ours.length], [7, 7]);
    theirs.forEach((t, i) => {
      const d = maxAbsDiff(t, ours[i]);
      assert(d < 1e-5, `d${i}: max abs difference ${d}`);
    });
    assertEquals(tf.memory().numTensors, start);
  },
});

Deno.test({
  name: "readWeights() matches onnxruntime when the file has custom widths or float16 weights",
  ignore: !ort,
  async fn() {
    await useBackend("cpu");
    const model = U2Net.create(HALF_LITE, { seed: 8 });
    const exported = await exportOnnx(model, { inputSize: [32, 32], allSides: true });
    model.dispose();
    const f16 = parseOnnx(exported);
    float16Weights(f16);
    for (const [name, bytes] of [["custom", exported], ["float16", writeOnnxModel(f16)]] as const) {
      const { theirs, ours } = await both(bytes, randomInput([1, 3, 32, 32], 9), [1, 3, 32, 32]);
      theirs.forEach((t, i) => {
        const d = maxAbsDiff(t, ours[i]);
        assert(d < 1e-5, `${name} d${i}: max abs difference ${d}`);
      });
    }
  },
});

Deno.test({
  name: "onnxruntime differs from the import only by the resize mode when the file uses Upsample",
  ignore: !ort,
  async fn() {
    await useBackend("cpu");
    const model = U2Net.create(HALF_LITE, { seed: 10 });
    const exported = await exportOnnx(model, { inputSize: [32, 32], allSides: true });
    model.dispose();
    const x = randomInput([1, 3, 32, 32], 11);
    const diffs: Partial<Record<ResizeForm, number>> = {};
    for (const form of ["resize13", "upsample9", "resize10"] as const) {
      const m = parseOnnx(exported);
      staticResizes(m, form);
      const { theirs, ours } = await both(writeOnnxModel(m), x, [1, 3, 32, 32]);
      diffs[form] = maxAbsDiff(theirs[0], ours[0]);
    }
    // Half-pixel files agree; asymmetric ones (old PyTorch exports) run a
    // shifted bilinear in onnxruntime, while the import keeps PyTorch's.
    assert(diffs.resize13! < 1e-5, `resize13: ${diffs.resize13}`);
    assert(diffs.upsample9! > 1e-5 && diffs.resize10! > 1e-5, JSON.stringify(diffs));
  },
});
