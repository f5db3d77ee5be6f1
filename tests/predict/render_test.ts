import { assert, assertEquals } from "../_assert.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { parseColor, renderOutput, renderPng, summarizeMask } from "../../lib/predict/render.ts";

const image = {
  width: 3,
  height: 1,
  channels: 3 as const,
  data: new Uint8Array([10, 20, 30, 40, 50, 60, 70, 80, 90]),
};
const prob = { width: 3, height: 1, data: new Float32Array([0.9, 0.5, 0.2]) };

Deno.test("renderOutput() draws a binary mask with the seed's strict threshold", () => {
  assertEquals([...renderOutput(image, prob).data], [255, 0, 0]);
  assertEquals([...renderOutput(image, prob, { threshold: 0.1 }).data], [255, 255, 255]);
});

Deno.test("renderOutput() draws a soft mask rounded to 8 bits", () => {
  const out = renderOutput(image, prob, { format: "soft" });
  // float32 0.9 · 255 = 229.4999…
  assertEquals([out.channels, ...out.data], [1, 229, 128, 51]);
});

Deno.test("renderOutput() makes an RGBA cut-out, or an RGB one on bgColor", () => {
  const rgba = renderOutput(image, prob, { format: "cutout" });
  assertEquals([rgba.channels, ...rgba.data], [4, 10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 0]);
  const rgb = renderOutput(image, prob, { format: "cutout", bgColor: [1, 2, 3] });
  assertEquals([rgb.channels, ...rgb.data], [3, 10, 20, 30, 1, 2, 3, 1, 2, 3]);
  const grey = { width: 1, height: 1, channels: 1 as const, data: new Uint8Array([77]) };
  const g = renderOutput(grey, { width: 1, height: 1, data: new Float32Array([1]) }, {
    format: "cutout",
  });
  assertEquals([...g.data], [77, 77, 77, 255]);
});

Deno.test("renderOutput() refuses mismatched sizes and bad thresholds", () => {
  for (
    const f of [
      () => renderOutput(image, { width: 2, height: 1, data: new Float32Array(2) }),
      () => renderOutput(image, prob, { threshold: 1.5 }),
      () => renderOutput(image, prob, { threshold: NaN }),
    ]
  ) {
    let threw = false;
    try {
      f();
    } catch (e) {
      threw = e instanceof RangeError;
    }
    assert(threw);
  }
});

Deno.test("renderPng() encodes what renderOutput() draws", async () => {
  const back = await decodeImage(renderPng(image, prob, { format: "cutout" }));
  assertEquals([back.width, back.height, back.channels], [3, 1, 4]);
  assertEquals([...back.data], [...renderOutput(image, prob, { format: "cutout" }).data]);
});

Deno.test("summarizeMask() gives the foreground fraction and bounding box", () => {
  const p = {
    width: 4,
    height: 3,
    data: new Float32Array([0, 0, 0, 0, 0, 0.8, 0.9, 0, 0, 0, 0.7, 0]),
  };
  assertEquals(summarizeMask(p), {
    width: 4,
    height: 3,
    threshold: 0.5,
    foregroundFraction: 0.25,
    bbox: { x: 1, y: 1, width: 2, height: 2 },
  });
  assertEquals(summarizeMask(p, { threshold: 0.95 }).bbox, null);
});

Deno.test("parseColor() reads hex, r,g,b and names and refuses the rest", () => {
  assertEquals(parseColor("#ff8000"), [255, 128, 0]);
  assertEquals(parseColor("0f0"), [0, 255, 0]);
  assertEquals(parseColor("1, 2, 3"), [1, 2, 3]);
  assertEquals(parseColor("White"), [255, 255, 255]);
  for (const bad of ["", "#12345", "256,0,0", "purple-ish"]) {
    let threw = false;
    try {
      parseColor(bad);
    } catch (e) {
      threw = e instanceof TypeError;
    }
    assert(threw, bad);
  }
});
