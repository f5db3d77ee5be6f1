import { assert, assertEquals } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import { createPredictor, type PredictModel } from "../../lib/predict/predictor.ts";
import {
  postprocessMap,
  PREPROCESS_DESCRIPTIONS,
  PREPROCESS_PROFILES,
  preprocessImage,
} from "../../lib/predict/preprocess.ts";
import { resizeLanczos8 } from "../../lib/predict/pil_resize.ts";
import { maxAbsDiff } from "../helpers.ts";

/** Pillow 9.4 LANCZOS and rembg's pre/post-processing on small arrays (`rembg_pil.py`). */
type Arr = { height: number; width: number; data: number[] };
const ref: Record<"image" | "down" | "up" | "net_input" | "pred" | "mask", Arr> = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/rembg_pil.json", import.meta.url)),
);
const image = {
  width: ref.image.width,
  height: ref.image.height,
  channels: 3 as const,
  data: Uint8Array.from(ref.image.data),
};

Deno.test("resizeLanczos8() equals Pillow's LANCZOS when downscaling and upscaling", () => {
  const src = Float32Array.from(ref.image.data);
  for (const r of [ref.down, ref.up]) {
    const got = resizeLanczos8(src, image.height, image.width, 3, r.height, r.width);
    assertEquals(maxAbsDiff(got, r.data), 0);
  }
});

Deno.test("preprocessImage() scales by the image's own maximum when the profile is rembg", () => {
  const got = preprocessImage(image, { height: 8, width: 8 }, { profile: "rembg" });
  assert(maxAbsDiff(got, ref.net_input.data) < 1e-6, `${maxAbsDiff(got, ref.net_input.data)}`);
  // An image whose maximum is 128 is scaled up: 128 becomes 1, as 255 does in a twice brighter one.
  const half = {
    ...image,
    data: new Uint8Array(image.data.length).fill(64).map((_, i) => i % 2 ? 128 : 64),
  };
  const full = { ...half, data: half.data.map((v) => v * 2 - 1) };
  const a = preprocessImage(half, { height: 17, width: 23 }, { profile: "rembg" });
  const b = preprocessImage(full, { height: 17, width: 23 }, { profile: "rembg" });
  assertEquals(a[1], Math.fround((128 / 128 - 0.456) / 0.224));
  assert(maxAbsDiff(a, b) < 0.02, `${maxAbsDiff(a, b)}`);
  const seed = preprocessImage(half, { height: 17, width: 23 });
  assert(Math.abs(seed[1] - (128 / 255 - 0.456) / 0.224) < 1e-6, `seed: ${seed[1]}`);
});

Deno.test("postprocessMap() min-max normalises the map when the profile is rembg", () => {
  const pred = { height: 8, width: 8, data: Float32Array.from(ref.pred.data) };
  const got = postprocessMap(pred, { height: 17, width: 23 }, { profile: "rembg" });
  assertEquals([...got].map((v) => Math.round(v * 255)), ref.mask.data);
  const narrow = { height: 1, width: 4, data: new Float32Array([0.3, 0.4, 0.5, 0.6]) };
  const same = postprocessMap(narrow, { height: 1, width: 4 }, { profile: "rembg" });
  assertEquals([same[0], same[3]], [0, 1]);
  assert(Math.abs(same[1] - 1 / 3) < 1 / 255, `${same[1]}`);
  const seed = postprocessMap(narrow, { height: 1, width: 4 });
  assertEquals([...seed], [...narrow.data]);
  const flat = postprocessMap({ height: 2, width: 2, data: new Float32Array(4).fill(0.7) }, {
    height: 2,
    width: 2,
  }, { profile: "rembg" });
  assertEquals([...flat], [0, 0, 0, 0]);
});

Deno.test("createPredictor() applies the rembg profile when preprocess is rembg", async () => {
  await tf.setBackend("cpu");
  const inputs: number[] = [];
  const model: PredictModel = {
    predict(x: tf.Tensor4D) {
      inputs.push(...x.dataSync());
      // A map in [0.4, 0.6]: left half 0.4, right half 0.6.
      return tf.tidy(() => {
        const [b, h, w] = x.shape;
        const col = tf.reshape(tf.linspace(0.4, 0.6, w), [1, 1, w, 1]);
        return tf.tile(col, [b, h, 1, 1]) as tf.Tensor4D;
      });
    },
  };
  const p = createPredictor(model, { inputSize: 8, preprocess: "rembg", engine: "tfjs" });
  assertEquals(p.options.preprocess, "rembg");
  const [m] = await p.predict([image]);
  assert(maxAbsDiff(inputs, ref.net_input.data) < 1e-6);
  assertEquals([m.width, m.height], [23, 17]);
  assertEquals(Math.min(...m.data), 0);
  assertEquals(Math.max(...m.data), 1);
  assertEquals(PREPROCESS_PROFILES.map((k) => typeof PREPROCESS_DESCRIPTIONS[k]), [
    "string",
    "string",
  ]);
});
