/**
 * Saves a predicted mask (and an image | ground truth | prediction panel)
 * for one evaluation sample.
 *
 * @module
 */
import { encodePng } from "../data/image_io.ts";
import type { EvalSample } from "../data/loader.ts";
import { writeFileAtomic } from "./atomic_write.ts";

/** Un-normalises an eval-preset image (ImageNet mean/std) to RGB bytes. */
function imageBytes(s: EvalSample, size: number): Uint8Array {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < out.length; i++) {
    const c = i % 3;
    out[i] = Math.round(Math.min(1, Math.max(0, s.image[i] * std[c] + mean[c])) * 255);
  }
  return out;
}

/**
 * Writes `{dir}/prediction_{name}.png` (the sigmoid map at the mask's size,
 * 0-255 grey) and, when the network input and the mask have the same size,
 * `{dir}/prediction_{name}_panel.png` (input | ground truth | prediction).
 * Returns the mask's path.
 */
export async function savePrediction(
  dir: string,
  sample: EvalSample,
  prediction: Float32Array,
): Promise<string> {
  const { maskWidth: w, maskHeight: h } = sample;
  const pred = new Uint8Array(w * h);
  for (let i = 0; i < pred.length; i++) {
    pred[i] = Math.round(Math.min(1, Math.max(0, prediction[i])) * 255);
  }
  const safe = sample.name.replace(/[^\w.-]+/g, "_");
  const path = `${dir}/prediction_${safe}.png`;
  await writeFileAtomic(path, encodePng(w, h, pred, 1));
  const size = Math.round(Math.sqrt(sample.image.length / 3));
  if (size === w && size === h) {
    const img = imageBytes(sample, size);
    const panel = new Uint8Array(h * w * 3 * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const row = y * w * 3;
        for (let c = 0; c < 3; c++) {
          panel[(row + x) * 3 + c] = img[p * 3 + c];
          panel[(row + w + x) * 3 + c] = sample.mask[p];
          panel[(row + 2 * w + x) * 3 + c] = pred[p];
        }
      }
    }
    await writeFileAtomic(`${dir}/prediction_${safe}_panel.png`, encodePng(3 * w, h, panel, 3));
  }
  return path;
}
