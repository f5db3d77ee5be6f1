import assert from "node:assert/strict";
import { decodeImage } from "../../lib/data/image_io.ts";
import { Rng } from "../../lib/data/rng.ts";
import {
  augmentSample,
  crop,
  evalPreset,
  type FloatImage,
  hflip,
  normalize,
  predictPreset,
  resizeBilinear,
  shorterSideSize,
  squashSample,
  toFloat,
  trainPreset,
} from "../../lib/data/transforms.ts";
import { type RawTensor, toFloat32 } from "../../lib/io/raw_tensor.ts";
import { fixture, testdata } from "../helpers.ts";

const NAMES = ["chelsea", "coffee", "astronaut"] as const;
const images = Object.fromEntries(
  await Promise.all(
    NAMES.map(async (
      n,
    ) => [n, await decodeImage(await Deno.readFile(testdata(`images/${n}.png`)))]),
  ),
);

/** Compares our HWC output with an NCHW [1,C,H,W] fixture by index. */
function compareNchw(ours: FloatImage, tensor: RawTensor | undefined) {
  assert.ok(tensor, "fixture tensor present");
  const expected = { shape: tensor.shape, data: toFloat32(tensor) };
  const [, C, H, W] = expected.shape;
  assert.deepEqual([ours.channels, ours.height, ours.width], [C, H, W]);
  let max = 0, mismatches = 0;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const a = ours.data[(y * W + x) * C + c], b = expected.data[(c * H + y) * W + x];
        max = Math.max(max, Math.abs(a - b));
        if (a !== b) mismatches++;
      }
    }
  }
  return { max, mismatches };
}

Deno.test("evalPreset() reproduces preprocess.safetensors when given the fixture images", async () => {
  const fx = await fixture("preprocess.safetensors");
  for (const n of NAMES) {
    const { max, mismatches } = compareNchw(evalPreset(images[n]), fx.get(`${n}.eval_320x320`));
    assert.ok(max <= 1e-5, `${n}: ${max}`);
    // Bit for bit, thanks to the FMA-aware kernel (see _bilinear.ts).
    assert.equal(mismatches, 0, n);
  }
});

Deno.test("predictPreset() reproduces preprocess.safetensors when given the fixture images", async () => {
  const fx = await fixture("preprocess.safetensors");
  for (const n of NAMES) {
    const { max, mismatches } = compareNchw(
      predictPreset(images[n]),
      fx.get(`${n}.predict_short320`),
    );
    assert.ok(max <= 1e-5, `${n}: ${max}`);
    assert.equal(mismatches, 0, n);
  }
});

Deno.test("shorterSideSize() truncates the long side when given predict.py's Resize(320)", () => {
  assert.deepEqual(shorterSideSize(300, 451, 320), { height: 320, width: 481 }); // 481.07
  assert.deepEqual(shorterSideSize(400, 600, 320), { height: 320, width: 480 });
  assert.deepEqual(shorterSideSize(451, 300, 320), { height: 481, width: 320 }); // portrait
  assert.deepEqual(shorterSideSize(512, 512, 320), { height: 320, width: 320 });
  assert.deepEqual(shorterSideSize(320, 999, 320), { height: 320, width: 999 }); // unchanged
  assert.deepEqual(shorterSideSize(3, 1000, 320), { height: 320, width: 106666 });
});

Deno.test("resizeBilinear() matches spec §10 reference values when given small grids", () => {
  const close = (a: Float32Array, b: number[]) => {
    assert.equal(a.length, b.length);
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6, `${i}: ${v} vs ${b[i]}`));
  };
  close(resizeBilinear(new Float32Array([0, 0.2, 0.4, 0.6, 0.8, 1]), 2, 3, 1, 4, 6), [
    ...[0, 0.05, 0.15, 0.25, 0.35, 0.4],
    ...[0.15, 0.2, 0.3, 0.4, 0.5, 0.55],
    ...[0.45, 0.5, 0.6, 0.7, 0.8, 0.85],
    ...[0.6, 0.65, 0.75, 0.85, 0.95, 1],
  ]);
  const g = new Float32Array([0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.05, 0.6, 1]);
  close(resizeBilinear(g, 3, 3, 1, 5, 4), [
    ...[0.1, 0.6, 0.675, 0.3],
    ...[0.34, 0.515, 0.575, 0.5],
    ...[0.7, 0.3875, 0.425, 0.8],
    ...[0.31, 0.39125, 0.62, 0.92],
    ...[0.05, 0.39375, 0.75, 1],
  ]);
  close(resizeBilinear(g, 3, 3, 1, 2, 2), [0.36875, 0.5, 0.284375, 0.8375]);
});

Deno.test("resizeBilinear() treats channels independently and copies when sizes match", () => {
  const one = new Float32Array([0.1, 0.9, 0.3, 0.7, 0.2, 0.8]);
  const two = new Float32Array(12);
  one.forEach((v, i) => (two[2 * i] = v, two[2 * i + 1] = 1 - v));
  const r1 = resizeBilinear(one, 2, 3, 1, 5, 7);
  const r2 = resizeBilinear(two, 2, 3, 2, 5, 7);
  r1.forEach((v, i) => assert.equal(r2[2 * i], v));
  assert.deepEqual(resizeBilinear(one, 2, 3, 1, 2, 3), one);
  assert.throws(() => resizeBilinear(one, 2, 2, 1, 4, 4), RangeError);
  assert.throws(() => resizeBilinear(one, 2, 3, 1, 0, 4), RangeError);
});

Deno.test("toFloat(), crop(), hflip() and normalize() follow torchvision when given small images", () => {
  const f = toFloat({ width: 2, height: 1, channels: 1, data: new Uint8Array([51, 255]) });
  assert.deepEqual(Array.from(f.data), [Math.fround(0.2), 1]);
  const img: FloatImage = {
    height: 2,
    width: 3,
    channels: 1,
    data: new Float32Array([1, 2, 3, 4, 5, 6]),
  };
  assert.deepEqual(Array.from(crop(img, { top: 1, left: 1, height: 1, width: 2 }).data), [5, 6]);
  assert.throws(() => crop(img, { top: 1, left: 2, height: 1, width: 2 }), RangeError);
  assert.deepEqual(Array.from(hflip(img).data), [3, 2, 1, 6, 5, 4]);
  const px: FloatImage = { height: 1, width: 1, channels: 3, data: new Float32Array([1, 0, 0.5]) };
  const n = normalize(px).data;
  const f32 = Math.fround;
  assert.equal(n[0], f32(f32(1 - f32(0.485)) / f32(0.229)));
  assert.equal(n[1], f32(f32(0 - f32(0.456)) / f32(0.224)));
  assert.throws(() => normalize({ ...px, channels: 1, data: new Float32Array(1) }), RangeError);
});

const tiny = {
  width: 6,
  height: 5,
  channels: 3 as const,
  data: Uint8Array.from({ length: 90 }, (_, i) => (i * 37) % 256),
};
const tinyMask = {
  width: 6,
  height: 5,
  channels: 1 as const,
  data: Uint8Array.from({ length: 30 }, (_, i) => (i % 6 < 3 ? 255 : 0)),
};

Deno.test("augmentSample() draws crop offsets over [0, inputSize - cropSize] inclusive", () => {
  const sq = squashSample(tiny, tinyMask, { inputSize: 40 });
  const rng = new Rng(3);
  const tops = new Set<number>(), lefts = new Set<number>();
  let flips = 0;
  for (let i = 0; i < 1500; i++) {
    const t = augmentSample(sq, rng, { cropSize: 8 });
    tops.add(t.top);
    lefts.add(t.left);
    if (t.flipped) flips++;
  }
  assert.equal(tops.size, 33);
  assert.equal(Math.min(...tops), 0);
  assert.equal(Math.max(...lefts), 32);
  assert.ok(flips > 600 && flips < 900, `${flips} flips`);
});

Deno.test("trainPreset() crops the centre and never flips when augment is false", () => {
  const t = trainPreset(tiny, tinyMask, new Rng(1), {
    inputSize: 40,
    cropSize: 29,
    augment: false,
  });
  assert.deepEqual([t.top, t.left, t.flipped], [5, 5, false]);
  assert.deepEqual([t.image.height, t.image.width, t.image.channels], [29, 29, 3]);
  assert.deepEqual([t.mask.height, t.mask.width, t.mask.channels], [29, 29, 1]);
});

Deno.test("trainPreset() applies the same crop and flip to image and mask with a soft mask", () => {
  const sq = squashSample(tiny, tinyMask, { inputSize: 16 });
  const flipped = augmentSample(sq, new Rng(0), { cropSize: 12, hflipProb: 1 });
  const plain = augmentSample(sq, new Rng(0), { cropSize: 12, hflipProb: 0 });
  assert.deepEqual([flipped.top, flipped.left], [plain.top, plain.left]);
  assert.equal(flipped.flipped, true);
  assert.deepEqual(flipped.mask.data, hflip(plain.mask).data);
  assert.deepEqual(flipped.image.data, hflip(plain.image).data);
  const box = { top: plain.top, left: plain.left, height: 12, width: 12 };
  assert.deepEqual(plain.image.data, normalize(crop(sq.image, box)).data);
  const m = Array.from(sq.mask.data);
  assert.ok(m.every((v) => v >= 0 && v <= 1));
  assert.ok(m.some((v) => v > 0 && v < 1), "bilinear mask resize gives soft edges");
  const t = trainPreset(tiny, tinyMask, new Rng(0), { inputSize: 16, cropSize: 12, hflipProb: 0 });
  assert.deepEqual(t.image.data, plain.image.data);
  assert.throws(() => augmentSample(sq, new Rng(0), { cropSize: 17 }), RangeError);
});
