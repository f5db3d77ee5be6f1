import { assert, assertEquals, assertRejects } from "../assert.ts";
import { decodeImage, readImageHeader } from "../../lib/data/image_io.ts";
import { createBackgroundRemover } from "../../lib/predict/background_remover.ts";
import { tf } from "../../lib/deps.ts";
import { jpegWithOrientation, quadrantImage } from "../exif_images.ts";

const WEIGHTS = "tests/testdata/lite_wz.safetensors";

Deno.test("createBackgroundRemover().remove() returns a soft RGBA cut-out in the displayed orientation when the JPEG carries EXIF 6", async () => {
  const start = tf.memory().numTensors;
  const remover = await createBackgroundRemover({
    weights: WEIGHTS,
    backend: "cpu",
    inputSize: 32,
  });
  try {
    const jpeg = await jpegWithOrientation(quadrantImage(40, 24), 6);
    const png = await remover.remove(jpeg);
    const header = readImageHeader(png);
    assertEquals([header.format, header.width, header.height], ["png", 24, 40]);
    const out = await decodeImage(png);
    assertEquals(out.channels, 4);
    const alphas = new Set<number>();
    for (let i = 3; i < out.data.length; i += 4) {
      alphas.add(out.data[i]);
      if (out.data[i] === 0) assertEquals([...out.data.subarray(i - 3, i)], [0, 0, 0]);
    }
    assert(alphas.size > 2, `alpha takes ${alphas.size} values: not soft`);
    const hard = await decodeImage(await remover.remove(jpeg, { alpha: "hard" }));
    for (let i = 3; i < hard.data.length; i += 4) {
      assert(hard.data[i] === 0 || hard.data[i] === 255);
    }
  } finally {
    remover.dispose();
  }
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("createBackgroundRemover() refuses an unknown model name in one line", async () => {
  await assertRejects(
    () => createBackgroundRemover({ weights: "u2net_nonexistent", backend: "cpu" }),
    TypeError,
    "Cannot",
  );
});
