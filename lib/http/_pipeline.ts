/**
 * One prediction request from body bytes to response bytes, the same in a
 * worker and in-thread: multipart extraction (bounded), header and structure
 * checks, decode, predict, render and encode. `pause` runs between stages
 * (in-thread, it yields to the event loop so `/healthz` and 503s get
 * through).
 *
 * @module
 */
import { decodeImage } from "../data/image_io.ts";
import { networkSize, type Predictor } from "../predict/predictor.ts";
import { renderPng, renderPngAsync } from "../predict/render.ts";
import { summarizeMask } from "../predict/summarize_mask.ts";
import { HttpError, imageError, predictError } from "./errors.ts";
import type { PredictQuery } from "./predict_query.ts";
import { checkImage, extractImage } from "./upload.ts";

/**
 * Largest network input, as a multiple of `inputSize²`: with the
 * shorter-side resize, an extreme aspect ratio (1x100000) would otherwise
 * make a huge input tensor from a small image.
 */
export const MAX_NETWORK_AREA_FACTOR = 16;

/** A prediction request as plain data. */
export interface PredictJob {
  /** The request body. */
  body: Uint8Array;
  /** Its Content-Type header, if any. */
  contentType: string | null;
  /** The parsed query. */
  query: PredictQuery;
}

/** A prediction response as plain data. */
export interface PredictOutput {
  /** Response bytes (PNG or JSON). */
  body: Uint8Array;
  /** Their Content-Type. */
  contentType: string;
  /** Pixels of the decoded image (the pool recycles workers after large ones). */
  pixels: number;
}

/** Limits of {@linkcode runPrediction}. */
export interface PipelineOptions {
  /** Largest image, in pixels, from its header. */
  maxPixels: number;
  /** Largest number of multipart parts. */
  maxParts: number;
  /** Awaited between stages. @default {undefined} */
  pause?: () => Promise<void>;
}

const jsonEncoder = new TextEncoder();

/** Runs one prediction; throws {@linkcode HttpError}s for client errors. */
export async function runPrediction(
  predictor: Predictor,
  job: PredictJob,
  options: PipelineOptions,
): Promise<PredictOutput> {
  const { maxPixels, pause } = options;
  const bytes = extractImage(job.contentType, job.body, { maxParts: options.maxParts });
  const header = checkImage(bytes, maxPixels);
  const net = networkSize(header, predictor.options);
  const side = predictor.options.inputSize;
  if (net.height * net.width > MAX_NETWORK_AREA_FACTOR * side * side) {
    throw new HttpError(
      "tooLarge",
      `image is ${header.width}x${header.height}: its aspect ratio gives a ${net.width}x${net.height} ` +
        `network input, over ${MAX_NETWORK_AREA_FACTOR}x${side}² pixels`,
    );
  }
  try {
    predictor.checkSize?.(header); // an engine over the memory limit: 413 before decoding
  } catch (e) {
    throw predictError(e);
  }
  await pause?.();
  const image = await decodeImage(bytes, { maxPixels, orientation: true }).catch((e) => {
    throw imageError(e);
  });
  const pixels = image.width * image.height;
  await pause?.();
  const [prob] = await predictor.predict([image]).catch((e) => {
    throw predictError(e);
  });
  await pause?.();
  const q = job.query;
  if (q.format === "json") {
    const summary = summarizeMask(prob, { threshold: q.threshold });
    return {
      body: jsonEncoder.encode(JSON.stringify(summary)),
      contentType: "application/json; charset=utf-8",
      pixels,
    };
  }
  const render = {
    format: q.format,
    threshold: q.threshold,
    bgColor: q.bgColor,
    alpha: q.alpha,
    matting: q.matting,
    postProcess: q.postProcess,
  };
  // In-thread, a matte of seconds runs in slices with the pause between them.
  const png = pause
    ? await renderPngAsync(image, prob, { ...render, pause })
    : renderPng(image, prob, render);
  return { body: png, contentType: "image/png", pixels };
}
