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

/** The panel's smallest row height: small samples are enlarged (nearest) to it. */
const PANEL_MIN_SIDE = 160;

/** One sample's mask bytes (0-255) from its prediction in [0, 1]. */
function maskBytes(prediction: Float32Array): Uint8Array {
  return Uint8Array.from(prediction, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}

/**
 * Writes `{dir}/prediction_{name}.png` for the first sample (the sigmoid map
 * at its mask's size, 0-255 grey) and, when the network input and the masks
 * have one size, `{dir}/prediction_{name}_panel.png`: a row per sample (input
 * | ground truth | prediction), enlarged (nearest) to rows of at least
 * 160 px. Returns the mask's path.
 */
export async function savePrediction(
  dir: string,
  samples: { sample: EvalSample; prediction: Float32Array }[],
): Promise<string> {
  const { sample, prediction } = samples[0];
  const { maskWidth: w, maskHeight: h } = sample;
  const safe = sample.name.replace(/[^\w.-]+/g, "_");
  const path = `${dir}/prediction_${safe}.png`;
  await writeFileAtomic(path, encodePng(w, h, maskBytes(prediction), 1));
  const size = Math.round(Math.sqrt(sample.image.length / 3));
  const same = samples.every(({ sample: s }) =>
    s.maskWidth === size && s.maskHeight === size && s.image.length === size * size * 3
  );
  if (!same) return path;
  const k = Math.max(1, Math.ceil(PANEL_MIN_SIDE / size)), side = size * k;
  const pw = 3 * side, ph = side * samples.length;
  const panel = new Uint8Array(pw * ph * 3);
  samples.forEach(({ sample: s, prediction: p }, row) => {
    const img = imageBytes(s, size), pred = maskBytes(p);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const q = Math.floor(y / k) * size + Math.floor(x / k);
        const o = ((row * side + y) * pw + x) * 3;
        for (let c = 0; c < 3; c++) {
          panel[o + c] = img[q * 3 + c];
          panel[o + side * 3 + c] = s.mask[q];
          panel[o + 2 * side * 3 + c] = pred[q];
        }
      }
    }
  });
  await writeFileAtomic(`${dir}/prediction_${safe}_panel.png`, encodePng(pw, ph, panel, 3));
  return path;
}
