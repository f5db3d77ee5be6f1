/**
 * Times rembg-style alpha matting (`alphaMatting`: trimap, closed-form alpha,
 * foreground) on a synthetic photo: `astronaut.png` scaled to SIZE² under a
 * soft elliptic mask (a 24 px ramp, like an upsampled network mask). Writes
 * the image, mask and our alpha to OUT (for `pymatting_bench.py`) and prints
 * one JSON line: ms per phase (median of RUNS), unsure pixels, and our
 * alpha's bytes.
 *
 *     deno run --allow-read=. --allow-write=OUT bench/matting/matting_bench.ts [SIZE] [RUNS] [OUT]
 *
 * @module
 */
import { decodeImage } from "../../lib/data/image_io.ts";
import { alphaMatting, mattingTrimap } from "../../lib/predict/alpha_matting.ts";

const [size = "1200", runs = "3", out = "tests/.tmp/matting"] = Deno.args;
const W = Number(size), H = W;
const src = await decodeImage(await Deno.readFile("tests/testdata/images/astronaut.png"));
const data = new Uint8Array(W * H * 3);
for (let y = 0; y < H; y++) {
  for (let x = 0; x < W; x++) {
    const s = (((y * src.height) / H) | 0) * src.width + (((x * src.width) / W) | 0);
    for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = src.data[s * src.channels + c];
  }
}
const mask = new Uint8Array(W * H);
for (let y = 0; y < H; y++) {
  for (let x = 0; x < W; x++) {
    const d = Math.hypot((x - W / 2) / (W * 0.3), (y - H / 2) / (H * 0.4));
    mask[y * W + x] = Math.round(255 * Math.min(1, Math.max(0, ((1 - d) * W * 0.3) / 12 + 0.5)));
  }
}
const image = { width: W, height: H, channels: 3 as const, data };
const times: number[] = [];
let alpha: Float64Array | undefined;
for (let r = 0; r < Number(runs); r++) {
  const t = performance.now();
  const matte = alphaMatting(image, mask);
  alpha = "alpha" in matte ? matte.alpha : undefined;
  times.push(performance.now() - t);
}
const unsure = mattingTrimap(mask, image).filter((v) => v === 128).length;
await Deno.mkdir(out, { recursive: true });
await Deno.writeFile(`${out}/image.bin`, data);
await Deno.writeFile(`${out}/mask.bin`, mask);
if (alpha) await Deno.writeFile(`${out}/alpha_ours.bin`, new Uint8Array(alpha.buffer));
const median = times.toSorted((a, b) => a - b)[times.length >> 1];
console.log(JSON.stringify({
  workload: `alpha_matting_${W}x${H}`,
  impl: "ours",
  unsure,
  median_ms: +median.toFixed(1),
  runs: times.map((t) => +t.toFixed(1)),
}));
