import { assert, assertEquals } from "../assert.ts";
import { decodeImage } from "../../lib/data/image_io.ts";
import { renderOutput, renderPng } from "../../lib/predict/render.ts";
import { parseColor } from "../../lib/predict/parse_color.ts";
import { summarizeMask } from "../../lib/predict/summarize_mask.ts";
import { MATTING_CASES } from "./_matting_fixture.ts";
import { postProcessMask } from "../../lib/predict/post_process.ts";

const image = {
  width: 3,
  height: 1,
  channels: 3 as const,
  data: new Uint8Array([10, 20, 30, 40, 50, 60, 70, 80, 90]),
};
const prob = { width: 3, height: 1, data: new Float32Array([0.9, 0.5, 0.2]) };

Deno.test("renderOutput() draws a binary mask with the seed's strict threshold", () => {
  assertEquals([...renderOutput(image, prob, { format: "mask" }).data], [255, 0, 0]);
  assertEquals([...renderOutput(image, prob, { format: "mask", threshold: 0.1 }).data], [
    255,
    255,
    255,
  ]);
});

Deno.test("renderOutput() makes a soft RGBA cut-out when no format is given", () => {
  const out = renderOutput(image, prob);
  assertEquals(out.channels, 4);
  assertEquals([...out.data].filter((_, i) => i % 4 === 3), [229, 128, 51]);
});

Deno.test("renderOutput() draws a soft mask rounded to 8 bits", () => {
  const out = renderOutput(image, prob, { format: "soft" });
  // float32 0.9 · 255 = 229.4999…
  assertEquals([out.channels, ...out.data], [1, 229, 128, 51]);
});

Deno.test("renderOutput() makes a hard RGBA cut-out with colour zeroed where alpha is 0, or RGB on bgColor", () => {
  const rgba = renderOutput(image, prob, { format: "cutout", alpha: "hard" });
  assertEquals([rgba.channels, ...rgba.data], [4, 10, 20, 30, 255, 0, 0, 0, 0, 0, 0, 0, 0]);
  const rgb = renderOutput(image, prob, { format: "cutout", alpha: "hard", bgColor: [1, 2, 3] });
  assertEquals([rgb.channels, ...rgb.data], [3, 10, 20, 30, 1, 2, 3, 1, 2, 3]);
  const grey = { width: 1, height: 1, channels: 1 as const, data: new Uint8Array([77]) };
  const g = renderOutput(grey, { width: 1, height: 1, data: new Float32Array([1]) }, {
    format: "cutout",
  });
  assertEquals([...g.data], [77, 77, 77, 255]);
});

Deno.test("renderOutput() uses the soft mask as cut-out alpha by default (rembg's cut-out)", () => {
  const p = { width: 3, height: 1, data: new Float32Array([0.9, 0.3, 0.001]) };
  const soft = renderOutput(image, p, { format: "cutout" });
  const alphas = [0.9, 0.3, 0.001].map((v) => Math.round(Math.fround(v) * 255)); // 229, 77, 0
  assertEquals([...soft.data], [10, 20, 30, alphas[0], 40, 50, 60, alphas[1], 0, 0, 0, 0]);
  // Same alpha as the soft mask format.
  const mask = renderOutput(image, p, { format: "soft" });
  assertEquals([0, 1, 2].map((i) => soft.data[4 * i + 3]), [...mask.data]);
  // On a background: a·rgb + (255 − a)·bg, rounded.
  const bg = [200, 100, 0] as const;
  const on = renderOutput(image, p, { format: "cutout", bgColor: bg });
  const mix = (v: number, a: number, b: number) => Math.round((a * v + (255 - a) * b) / 255);
  assertEquals([...on.data], [
    ...[10, 20, 30].map((v, c) => mix(v, alphas[0], bg[c])),
    ...[40, 50, 60].map((v, c) => mix(v, alphas[1], bg[c])),
    ...bg,
  ]);
});

Deno.test("renderOutput() with postProcess renders the cleaned mask, in every format", () => {
  const w = 12, h = 12;
  const img = {
    width: w,
    height: h,
    channels: 3 as const,
    data: new Uint8Array(w * h * 3).fill(90),
  };
  const data = new Float32Array(w * h);
  data[1 * w + 1] = 0.8; // a speck
  for (let y = 4; y < 10; y++) for (let x = 4; x < 10; x++) data[y * w + x] = 0.7;
  const p = { width: w, height: h, data };
  const cleaned = postProcessMask(p).data;
  const soft = renderOutput(img, p, { format: "soft", postProcess: true });
  assertEquals([...soft.data], [...cleaned].map((v) => v * 255));
  const cut = renderOutput(img, p, { format: "cutout", postProcess: true });
  assertEquals([...cut.data].filter((_, i) => i % 4 === 3), [...soft.data]);
  assertEquals(soft.data[1 * w + 1], 0);
  assertEquals(renderOutput(img, p, { format: "soft" }).data[1 * w + 1], 204); // without: kept
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

Deno.test("renderOutput() refuses an unknown alpha mode", () => {
  let threw = false;
  try {
    renderOutput(image, prob, { format: "cutout", alpha: "half" as "soft" });
  } catch (e) {
    threw = e instanceof TypeError;
  }
  assert(threw);
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

Deno.test("renderOutput() with alpha matting writes rembg's matted cut-out, and the soft one where rembg falls back", () => {
  for (const c of MATTING_CASES) {
    const { width, height, image: img, mask, options: matting } = c;
    const p = { width, height, data: Float32Array.from(mask, (v) => v / 255) };
    const told: string[] = [];
    const out = renderOutput(img, p, {
      alpha: "matting",
      matting,
      onMattingFallback: (why) => told.push(why),
    });
    assertEquals(out.channels, 4);
    if (c.fallback) {
      assertEquals([...out.data], [...renderOutput(img, p).data]);
      assertEquals(told, ["no sure foreground is left after the erosion"]);
      continue;
    }
    assertEquals(told, []);
    const want = c.cutout!;
    assert(out.data.every((v, i) => Math.abs(v - want[i]) <= 1), "cut-out differs by more than 1");
    const white = renderOutput(img, p, { alpha: "matting", matting, bgColor: [255, 255, 255] });
    assertEquals(white.channels, 3);
    for (let i = 0; i < width * height; i++) {
      const a = out.data[i * 4 + 3], v = out.data[i * 4];
      assertEquals(white.data[i * 3], a === 255 ? v : Math.round((a * v + (255 - a) * 255) / 255));
    }
  }
});
