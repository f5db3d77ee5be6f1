import { assert, assertEquals, assertThrows } from "../assert.ts";
import { POST_PROCESS_THRESHOLD, postProcessMask } from "../../lib/predict/post_process.ts";

/** rembg's post_process written the slow way: 2-D cross opening, 2-D 5x5 Gaussian, reflect-101. */
function reference(m: Uint8Array, w: number, h: number): Uint8Array {
  const at = (a: Uint8Array, x: number, y: number) => a[y * w + x];
  const morph = (a: Uint8Array, pick: (...v: number[]) => number) =>
    a.map((_, i) => {
      const x = i % w, y = Math.floor(i / w);
      const v = [at(a, x, y)];
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const X = x + dx, Y = y + dy;
        if (X >= 0 && X < w && Y >= 0 && Y < h) v.push(at(a, X, Y));
      }
      return pick(...v);
    });
  const opened = morph(morph(m, Math.min), Math.max);
  const g = [-2, -1, 0, 1, 2].map((d) => Math.exp(-(d * d) / 8));
  const sum = g.reduce((a, b) => a + b) ** 2;
  const refl = (i: number, n: number) => {
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  };
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let j = -2; j <= 2; j++) {
        for (let i = -2; i <= 2; i++) {
          s += g[i + 2] * g[j + 2] * at(opened, refl(x + i, w), refl(y + j, h));
        }
      }
      out[y * w + x] = Math.round(s / sum) < POST_PROCESS_THRESHOLD ? 0 : 255;
    }
  }
  return out;
}

Deno.test("postProcessMask() matches rembg's opening + blur + cut computed the slow way", () => {
  let seed = 3;
  const rand = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (const [w, h] of [[17, 11], [1, 1], [2, 5], [40, 3]]) {
    // blobs of soft foreground with specks and holes
    const data = Float32Array.from({ length: w * h }, (_, i) => {
      const x = i % w, y = Math.floor(i / w);
      const inside = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / 3) ** 2;
      return rand() < 0.1 ? rand() : inside ? 0.9 : 0.05;
    });
    const m8 = Uint8Array.from(data, (p) => Math.round(p * 255));
    const got = postProcessMask({ width: w, height: h, data });
    assertEquals([...got.data].map((v) => v * 255), [...reference(m8, w, h)], `${w}x${h}`);
  }
});

Deno.test("postProcessMask() removes a one-pixel speck and keeps a solid square", () => {
  const w = 16, h = 16, data = new Float32Array(w * h);
  data[2 * w + 2] = 1; // speck
  for (let y = 6; y < 14; y++) for (let x = 6; x < 14; x++) data[y * w + x] = 1;
  const out = postProcessMask({ width: w, height: h, data }).data;
  assertEquals(out[2 * w + 2], 0);
  assertEquals(out[10 * w + 10], 1);
  assertEquals(out[0], 0);
  assert(out.every((v) => v === 0 || v === 1));
});

Deno.test("postProcessMask() refuses data that does not match the size", () => {
  assertThrows(
    () => postProcessMask({ width: 3, height: 3, data: new Float32Array(8) }),
    RangeError,
  );
});

Deno.test("postProcessMask() gives rembg's post_process bit for bit (OpenCV 4.6.0 fixture)", async () => {
  const fixture = JSON.parse(await Deno.readTextFile("tests/testdata/post_process_cv2.json"));
  const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  let mixed = 0;
  for (const c of fixture.cases) {
    const mask = bytes(c.mask), want = bytes(c.expected);
    const got = postProcessMask({
      width: c.width,
      height: c.height,
      data: Float32Array.from(mask, (v) => v / 255),
    });
    assertEquals([...got.data].map((v) => v * 255), [...want], `${c.width}x${c.height}`);
    if (want.some((v) => v === 255) && want.some((v) => v === 0)) mixed++;
  }
  assert(mixed >= 2, "the fixture's masks are all one value");
});
