/**
 * Shared fixtures of the HTTP tests: a tiny random-weight network with the
 * lite architecture's graph (2-4 channels per layer, so a 32-64 px forward
 * pass takes tens of milliseconds on the cpu backend), test images, and a
 * handler around them.
 *
 * @module
 */
import { tf } from "../../lib/deps.ts";
import { encodeJpeg, encodePng } from "../../lib/data/image_io.ts";
import { U2NET_LITE, type U2NetConfig } from "../../lib/net/config.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { createPredictor, type Predictor } from "../../lib/predict/predictor.ts";
import { createPredictHandler, type PredictHandlerOptions } from "../../lib/http/handler.ts";

/** The lite graph with 2 middle and 4 output channels per RSU block. */
export const TINY_LITE: U2NetConfig = Object.freeze({
  name: "lite",
  encoder: U2NET_LITE.encoder.map((s) => ({
    ...s,
    inCh: s.inCh === 3 ? 3 : s.inCh / 16,
    midCh: 2,
    outCh: 4,
  })),
  decoder: U2NET_LITE.decoder.map((s) => ({ ...s, inCh: s.inCh / 16, midCh: 2, outCh: 4 })),
});

/** A tiny random-weight network on the cpu backend. */
export async function tinyModel(seed = 1): Promise<U2Net> {
  await tf.setBackend("cpu");
  await tf.ready();
  return U2Net.create(TINY_LITE, { seed });
}

/** Deterministic RGB test pixels (a bright disc on a gradient). */
export function testPixels(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      const inside =
        (x - width / 2) ** 2 + (y - height / 2) ** 2 < (Math.min(width, height) / 3) ** 2;
      data[i] = inside ? 240 : (x * 255) / width;
      data[i + 1] = inside ? 200 : (y * 255) / height;
      data[i + 2] = inside ? 40 : 128;
    }
  }
  return data;
}

/** A small RGB PNG. */
export function testPng(width = 24, height = 16): Uint8Array {
  return encodePng(width, height, testPixels(width, height), 3);
}

/** A small RGB JPEG. */
export function testJpeg(width = 24, height = 16): Promise<Uint8Array> {
  return encodeJpeg({ width, height, channels: 3, data: testPixels(width, height) });
}

/** A handler around a tiny model (and the model and predictor, to dispose and inspect). */
export async function tinyHandler(
  options: PredictHandlerOptions = {},
  inputSize = 32,
): Promise<{ handle: (r: Request) => Promise<Response>; model: U2Net; predictor: Predictor }> {
  const model = await tinyModel();
  const predictor = createPredictor(model, { inputSize, maxBatch: 1 });
  const handle = createPredictHandler(predictor, {
    health: { model: { arch: "lite" } },
    ...options,
  });
  return { handle, model, predictor };
}

/** A POST /predict request. */
export function post(
  body: BodyInit | Uint8Array | null,
  contentType: string | null = "image/png",
  query = "",
): Request {
  const headers = new Headers();
  if (contentType !== null) headers.set("content-type", contentType);
  return new Request(`http://localhost/predict${query}`, {
    method: "POST",
    body: body as BodyInit | null,
    headers,
  });
}

/** Image size from PNG bytes (IHDR). */
export function pngSize(bytes: Uint8Array): { width: number; height: number; colorType: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20), colorType: bytes[25] };
}

/**
 * Trimap thresholds inside a mask's own range (its first and third
 * quartiles), so that alpha matting has sure sides whatever the test net
 * predicts.
 */
export function maskQuartiles(mask: Uint8Array): { bg: number; fg: number } {
  const sorted = [...mask].sort((a, b) => a - b);
  return { bg: sorted[mask.length >> 2], fg: sorted[(3 * mask.length) >> 2] };
}
