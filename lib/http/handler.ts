/**
 * The prediction handler: `(req: Request) => Promise<Response>`, usable with
 * `Deno.serve`, `deno serve` or any fetch-style platform.
 *
 * Routes: `POST /predict` (raw PNG/JPEG body or multipart field `file` or
 * `image`; query `format=mask|soft|cutout|json`, `threshold`, `bg`),
 * `GET /healthz`, `GET /` (upload page). Cheap checks come first (query,
 * queue room, body bytes, header pixel count, container structure); decoding,
 * inference and encoding run in a bounded queue around the shared model.
 *
 * @module
 */
import { decodeImage } from "../data/image_io.ts";
import { networkSize, type Predictor } from "../predict/predictor.ts";
import {
  DEFAULT_FORMAT,
  DEFAULT_THRESHOLD,
  OUTPUT_FORMATS,
  type OutputFormat,
  parseColor,
  renderPng,
  type RgbColor,
  summarizeMask,
} from "../predict/render.ts";
import { errorResponse, HttpError, imageError } from "./errors.ts";
import { PAGE_CSP, uploadPage } from "./page.ts";
import { createQueue, DEFAULT_CONCURRENCY, DEFAULT_MAX_WAITING } from "./queue.ts";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_READ_TIMEOUT_MS, readBody } from "./read_body.ts";
import { checkImage, extractImage } from "./_upload.ts";

/** Default pixel limit of uploads (4096 x 4096), checked from the header before decoding. */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

/**
 * Largest network input, as a multiple of `inputSize²`: with the
 * shorter-side resize, an extreme aspect ratio (1x100000) would otherwise
 * make a huge input tensor from a small image.
 */
export const MAX_NETWORK_AREA_FACTOR = 16;

/** Formats `POST /predict` answers in: the render formats plus `json`. */
export const PREDICT_FORMATS: readonly (OutputFormat | "json")[] = [...OUTPUT_FORMATS, "json"];

/** Options of {@linkcode createPredictHandler}. */
export interface PredictHandlerOptions {
  /** Largest request body. @default DEFAULT_MAX_BODY_BYTES */
  maxBodyBytes?: number;
  /** Largest image, in pixels, read from the header. @default DEFAULT_MAX_PIXELS */
  maxPixels?: number;
  /** Deadline for the body to arrive. @default DEFAULT_READ_TIMEOUT_MS */
  readTimeoutMs?: number;
  /** Predictions running at once. @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** Predictions waiting at most; beyond, 503. @default DEFAULT_MAX_WAITING */
  maxQueue?: number;
  /** `Retry-After` of 503 answers. @default 1 */
  retryAfterSeconds?: number;
  /** Extra fields of `GET /healthz` (backend, adapter, model…). @default {{}} */
  health?: Record<string, unknown>;
  /** Receives unexpected errors (answered 500). @default {undefined} */
  onError?: (e: unknown) => void;
}

/** A fetch-style handler. */
export type RequestHandler = (req: Request) => Promise<Response>;

const ROUTES: Record<string, string[]> = {
  "/": ["GET", "HEAD"],
  "/healthz": ["GET", "HEAD"],
  "/predict": ["POST"],
};

interface PredictQuery {
  format: OutputFormat | "json";
  threshold: number;
  bgColor?: RgbColor;
}

function parseQuery(url: URL): PredictQuery {
  const format = (url.searchParams.get("format") ?? DEFAULT_FORMAT) as PredictQuery["format"];
  if (!PREDICT_FORMATS.includes(format)) {
    throw new HttpError(
      "badRequest",
      `format "${format.slice(0, 40)}" is not one of ${PREDICT_FORMATS.join(", ")}`,
    );
  }
  const t = url.searchParams.get("threshold");
  const threshold = t === null || t === "" ? DEFAULT_THRESHOLD : Number(t);
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new HttpError("badRequest", `threshold "${t!.slice(0, 40)}" is not a number in [0, 1]`);
  }
  const bg = url.searchParams.get("bg");
  let bgColor: RgbColor | undefined;
  if (bg) {
    try {
      bgColor = parseColor(bg);
    } catch (e) {
      throw new HttpError("badRequest", (e as Error).message);
    }
  }
  return { format, threshold, bgColor };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Creates the handler around one shared predictor.
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { createPredictor } from "../predict/predictor.ts";
 * import { createPredictHandler } from "./handler.ts";
 * const model = U2Net.create("lite");
 * const handle = createPredictHandler(createPredictor(model, { inputSize: 32 }));
 * const res = await handle(new Request("http://localhost/healthz"));
 * (await res.json()).ok; // true
 * model.dispose();
 * ```
 */
export function createPredictHandler(
  predictor: Predictor,
  options: PredictHandlerOptions = {},
): RequestHandler {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const queue = createQueue({
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    maxWaiting: options.maxQueue ?? DEFAULT_MAX_WAITING,
    retryAfterSeconds: options.retryAfterSeconds,
  });
  const page = uploadPage();

  async function predict(req: Request, url: URL): Promise<Response> {
    const q = parseQuery(url);
    queue.assertRoom(); // 503 before reading a body we could not process
    const body = await readBody(req, { maxBytes: maxBodyBytes, timeoutMs: readTimeoutMs });
    const bytes = await extractImage(req.headers.get("content-type"), body);
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
    return await queue.run(async () => {
      const image = await decodeImage(bytes, { maxPixels }).catch((e) => {
        throw imageError(e);
      });
      const [prob] = await predictor.predict([image]);
      if (q.format === "json") return json(summarizeMask(prob, { threshold: q.threshold }));
      const png = renderPng(image, prob, {
        format: q.format,
        threshold: q.threshold,
        bgColor: q.bgColor,
      });
      return new Response(png as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "image/png", "cache-control": "no-store" },
      });
    });
  }

  async function route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const methods = ROUTES[url.pathname];
    if (!methods) throw new HttpError("notFound", `no route ${url.pathname.slice(0, 100)}`);
    if (!methods.includes(req.method)) {
      throw new HttpError(
        "methodNotAllowed",
        `${req.method} is not allowed on ${url.pathname}; use ${methods.join(" or ")}`,
        { allow: methods.join(", ") },
      );
    }
    if (url.pathname === "/predict") return await predict(req, url);
    if (url.pathname === "/healthz") {
      return json({
        ok: true,
        ...options.health,
        input: { size: predictor.options.inputSize, resize: predictor.options.resize },
        limits: { maxBodyBytes, maxPixels, readTimeoutMs },
        queue: queue.stats(),
      });
    }
    return new Response(req.method === "HEAD" ? null : page, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": PAGE_CSP,
        "x-content-type-options": "nosniff",
      },
    });
  }

  return async (req: Request): Promise<Response> => {
    try {
      return await route(req);
    } catch (e) {
      return errorResponse(e, { onInternalError: options.onError });
    }
  };
}
