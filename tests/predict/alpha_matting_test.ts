import { assert, assertEquals, assertThrows } from "../assert.ts";
import { alphaMatting, alphaMattingAsync, mattingTrimap } from "../../lib/predict/alpha_matting.ts";

import { MATTING_CASES } from "./_matting_fixture.ts";

const run = (c: (typeof MATTING_CASES)[number]) => ({
  trimap: mattingTrimap(c.mask, c, c.options),
  matte: alphaMatting(c.image, c.mask, c.options),
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assertEquals(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

Deno.test("mattingTrimap() matches scipy's erosion of rembg's thresholds for square and cross structures", () => {
  for (const c of MATTING_CASES) {
    assertEquals([...run(c).trimap], [...c.trimap], `erode ${c.options.erodeSize}`);
  }
});

Deno.test("alphaMatting() matches pymatting's alpha and foreground when the trimap has both sides", () => {
  for (const c of MATTING_CASES.filter((c) => !c.fallback)) {
    const { matte } = run(c);
    assert(!("fallback" in matte), `case ${c.width}x${c.height}: ${JSON.stringify(matte)}`);
    const da = maxDiff(matte.alpha, c.alpha!);
    const df = maxDiff(matte.foreground, c.foreground!);
    assert(da < 5e-5, `alpha differs by ${da}`);
    assert(df < 5e-5, `foreground differs by ${df}`);
    // The uint8 cut-out: truncation, so a value next to an integer may flip by one.
    const n = c.width * c.height, cut = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 3; k++) cut[i * 4 + k] = Math.trunc(matte.foreground[i * 3 + k] * 255);
      cut[i * 4 + 3] = Math.trunc(matte.alpha[i] * 255);
    }
    assert(maxDiff(cut, c.cutout!) <= 1, "cut-out bytes differ by more than 1");
  }
});

Deno.test("alphaMatting() falls back where rembg does: no sure foreground", () => {
  const c = MATTING_CASES.find((c) => c.fallback)!;
  assertEquals(run(c).matte, { fallback: "no sure foreground is left after the erosion" });
});

Deno.test("alphaMatting() falls back when no pixel is unknown (pymatting never converges)", () => {
  const image = { width: 8, height: 4, channels: 3 as const, data: new Uint8Array(96).fill(9) };
  const mask = new Uint8Array(32).map((_, i) => (i % 8 < 4 ? 0 : 255));
  assertEquals(alphaMatting(image, mask, { erodeSize: 1 }), {
    fallback: "no unsure pixel touches the sure foreground",
  });
});

Deno.test("alphaMatting() falls back past maxUnsurePixels and maxPixels, and mattes at the limits", () => {
  const { image, mask, options, trimap, width, height } = MATTING_CASES[1];
  const unsure = trimap.filter((v) => v === 128).length;
  assertEquals(alphaMatting(image, mask, { ...options, maxUnsurePixels: unsure - 1 }), {
    fallback: `${unsure} pixels are unsure, over the limit of ${unsure - 1}`,
  });
  const at = alphaMatting(image, mask, { ...options, maxUnsurePixels: unsure });
  assert("alpha" in at, JSON.stringify(at));
  const n = width * height;
  assertEquals(alphaMatting(image, mask, { ...options, maxPixels: n - 1 }), {
    fallback: `the image has ${n} pixels, over the limit of ${n - 1}`,
  });
  assert("alpha" in alphaMatting(image, mask, { ...options, maxPixels: n }));
});

Deno.test("mattingTrimap() refuses thresholds outside 0-255 and masks of the wrong size", () => {
  const size = { width: 2, height: 1 };
  assertThrows(
    () => mattingTrimap(new Uint8Array(2), size, { foregroundThreshold: 256 }),
    RangeError,
  );
  assertThrows(() => mattingTrimap(new Uint8Array(2), size, { erodeSize: -1 }), RangeError);
  assertThrows(() => mattingTrimap(new Uint8Array(3), size), RangeError);
  assertThrows(() => mattingTrimap(new Uint8Array(2), size, { maxUnsurePixels: 0.5 }), RangeError);
});

/** A 160x160 photo crop under a soft ellipse: a matte of a few hundred ms. */
function ellipseCase() {
  const S = 160, c = MATTING_CASES[0], src = c.image.data;
  const data = new Uint8Array(S * S * 3), mask = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const s = (((y * c.height) / S) | 0) * c.width + (((x * c.width) / S) | 0);
      for (let k = 0; k < 3; k++) data[(y * S + x) * 3 + k] = src[s * 3 + k];
      const d = Math.hypot((x - 80) / 50, (y - 80) / 60);
      mask[y * S + x] = Math.round(255 * Math.min(1, Math.max(0, (1 - d) * 5 + 0.5)));
    }
  }
  return { image: { width: S, height: S, channels: 3 as const, data }, mask };
}

Deno.test("alphaMattingAsync() gives alphaMatting()'s matte and pauses between slices", async () => {
  const { image, mask } = ellipseCase();
  const sync = alphaMatting(image, mask);
  let pauses = 0;
  const t = performance.now();
  const matte = await alphaMattingAsync(image, mask, {
    pause: () => (pauses++, Promise.resolve()),
  });
  const ms = performance.now() - t;
  assert("alpha" in sync && "alpha" in matte);
  assertEquals([...matte.alpha], [...sync.alpha]);
  assertEquals([...matte.foreground], [...sync.foreground]);
  // A pause per 20 ms of work (checkpoints come every iteration or few rows): here ~90 ms.
  assert(pauses >= 1 && pauses >= Math.floor(ms / 60), `${pauses} pauses in ${ms.toFixed(0)} ms`);
});
