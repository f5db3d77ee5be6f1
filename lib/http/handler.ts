/**
 * The prediction handler: `(req: Request) => Promise<Response>`, usable with
 * `Deno.serve`, `deno serve` or any fetch-style platform.
 *
 * Routes: `POST /predict` (raw PNG/JPEG body, sniffed when it has no
 * Content-Type, or multipart field `file` or `image`; query
 * `format=mask|soft|cutout|json`, `threshold`, `bg`, `alpha=soft|hard|matting`
 * with `matting_fg`, `matting_bg`, `matting_erode`, `postprocess=1|0`),
 * `POST /api/remove` (rembg's HTTP API, {@linkcode rembgQuery}), `GET /healthz`, `GET /`
 * (upload page), and `OPTIONS` preflights when CORS is on.
 *
 * Load shedding happens before any body is read: a request takes a queue
 * ticket (running + waiting ≤ `concurrency + maxQueue`) and its body's bytes
 * come out of a shared budget (`maxInflightBytes`); otherwise it is answered
 * 503 with `Retry-After` at once. The work itself runs on a
 * {@linkcode PredictionService}: worker threads, or in-thread yielding
 * between stages, so `/healthz` answers while the queue is full.
 *
 * @module
 */
import type { Predictor } from "../predict/predictor.ts";
import { ByteBudget, DEFAULT_MAX_INFLIGHT_BYTES } from "./byte_budget.ts";
import { createCors } from "./cors.ts";
import { errorResponse, HttpError, quoteInput } from "./errors.ts";
import { PAGE_CSP, PAGE_SCRIPT, PAGE_STYLE, uploadPage } from "./page.ts";
import { parsePredictQuery, type PredictQuery } from "./predict_query.ts";
import { rembgParams, rembgQuery } from "./rembg_api.ts";
import {
  createInThreadService,
  DEFAULT_MAX_PARTS,
  DEFAULT_MAX_PIXELS,
  type PredictionService,
} from "./prediction_service.ts";
import { createQueue, DEFAULT_MAX_WAITING } from "./queue.ts";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_READ_TIMEOUT_MS, readBody } from "./read_body.ts";

export { DEFAULT_MAX_PIXELS } from "./prediction_service.ts";
export { MAX_NETWORK_AREA_FACTOR } from "./_pipeline.ts";
export { PREDICT_FORMATS } from "./predict_query.ts";

/**
 * Idle time after the last prediction before the handler asks for a garbage
 * collection, where the runtime offers one (`--v8-flags=--expose-gc`): a
 * burst's request bodies then go back to the system instead of waiting for
 * the next allocation to trigger a collection.
 */
export const DEFAULT_IDLE_GC_MS = 1000;

/** Options of {@linkcode createPredictHandler}. */
export interface PredictHandlerOptions {
  /** Largest request body. @default DEFAULT_MAX_BODY_BYTES */
  maxBodyBytes?: number;
  /** Largest image, in pixels, read from the header. @default DEFAULT_MAX_PIXELS */
  maxPixels?: number;
  /** Largest number of parts of a multipart upload (more: 400). @default DEFAULT_MAX_PARTS */
  maxParts?: number;
  /** Deadline for the body to arrive. @default DEFAULT_READ_TIMEOUT_MS */
  readTimeoutMs?: number;
  /** Predictions running at once. @default {the service's capacity (workers), 1 in-thread} */
  concurrency?: number;
  /** Requests admitted beyond the running ones (reading or waiting); beyond, 503. @default DEFAULT_MAX_WAITING */
  maxQueue?: number;
  /** Request-body bytes held at once across requests; beyond, 503. @default DEFAULT_MAX_INFLIGHT_BYTES */
  maxInflightBytes?: number;
  /** `Retry-After` of 503 answers. @default 1 */
  retryAfterSeconds?: number;
  /** Allowed CORS origin(s): `*` or a comma-separated list; none: no CORS. @default {undefined} */
  cors?: string;
  /** Extra fields of `GET /healthz` (backend, adapter, model…). @default {{}} */
  health?: Record<string, unknown>;
  /** The served model's name, which rembg's `model` parameter must match (`/api/remove`). @default {undefined} */
  modelName?: string;
  /** Receives unexpected errors (answered 500). @default {undefined} */
  onError?: (e: unknown) => void;
  /** See {@linkcode DEFAULT_IDLE_GC_MS}; 0 turns it off. @default DEFAULT_IDLE_GC_MS */
  idleGcMs?: number;
}

/** A fetch-style handler. */
export type RequestHandler = (req: Request) => Promise<Response>;

const ROUTES: Record<string, string[]> = {
  "/": ["GET", "HEAD"],
  "/healthz": ["GET", "HEAD"],
  "/predict": ["POST"],
  "/api/remove": ["POST"],
  "/page.js": ["GET", "HEAD"],
  "/page.css": ["GET", "HEAD"],
};

const ASSETS: Record<string, [string, string]> = {
  "/": ["text/html; charset=utf-8", uploadPage()],
  "/page.js": ["text/javascript; charset=utf-8", PAGE_SCRIPT],
  "/page.css": ["text/css; charset=utf-8", PAGE_STYLE],
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function memory(): Record<string, number> | null {
  try {
    const m = Deno.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed };
  } catch {
    return null;
  }
}

function isService(x: Predictor | PredictionService): x is PredictionService {
  return typeof (x as PredictionService).run === "function";
}

/**
 * Creates the handler around a prediction service (a worker pool from
 * `createWorkerPool`) or one shared predictor (run in-thread).
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { createPredictor } from "../predict/predictor.ts";
 * import { createPredictHandler } from "./handler.ts";
 * const model = U2Net.create("lite");
 * const handle = createPredictHandler(createPredictor(model, { inputSize: 32 }));
 * const res = await handle(new Request("http://localhost/healthz"));
 * (await res.json()).mode; // "in-thread"
 * model.dispose();
 * ```
 */
export function createPredictHandler(
  predictor: Predictor | PredictionService,
  options: PredictHandlerOptions = {},
): RequestHandler {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxParts = options.maxParts ?? DEFAULT_MAX_PARTS;
  const readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const input = isService(predictor) ? undefined : {
    size: predictor.options.inputSize,
    resize: predictor.options.resize,
    preprocess: predictor.options.preprocess,
  };
  const service = isService(predictor) ? predictor : createInThreadService(predictor, {
    maxPixels,
    maxParts,
    capacity: options.concurrency ?? 1,
  });
  const queue = createQueue({
    concurrency: options.concurrency ?? service.capacity,
    maxWaiting: options.maxQueue ?? DEFAULT_MAX_WAITING,
    retryAfterSeconds: options.retryAfterSeconds,
  });
  const budget = new ByteBudget(options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES, {
    retryAfterSeconds: options.retryAfterSeconds,
  });
  const cors = options.cors ? createCors(options.cors) : undefined;
  const gc = (globalThis as { gc?: () => void }).gc;
  const idleGcMs = options.idleGcMs ?? DEFAULT_IDLE_GC_MS;
  let gcTimer: ReturnType<typeof setTimeout> | undefined;
  const collectWhenIdle = () => {
    if (!gc || !idleGcMs) return;
    clearTimeout(gcTimer);
    gcTimer = setTimeout(() => {
      const q = queue.stats();
      if (q.active + q.waiting === 0) gc();
    }, idleGcMs);
    globalThis.Deno?.unrefTimer?.(gcTimer as unknown as number);
  };

  /**
   * A prediction: the query from the URL (checked before the body is read)
   * or, for rembg's API, from the URL and the form (after).
   */
  async function predict(
    req: Request,
    queryOf: (body?: Uint8Array) => PredictQuery | undefined,
  ): Promise<Response> {
    const early = queryOf();
    const ticket = queue.admit(); // 503 here, before any byte of the body is read
    let held = 0;
    try {
      const body = await readBody(req, {
        maxBytes: maxBodyBytes,
        timeoutMs: readTimeoutMs,
        budget,
      });
      held = body.byteLength;
      const contentType = req.headers.get("content-type");
      const query = early ?? queryOf(body)!;
      const out = await ticket.run(() => service.run({ body, contentType, query }));
      return new Response(out.body as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": out.contentType, "cache-control": "no-store" },
      });
    } finally {
      budget.release(held);
      ticket.release();
      collectWhenIdle();
    }
  }

  async function route(req: Request, url: URL): Promise<Response> {
    const methods = ROUTES[url.pathname];
    if (!methods) throw new HttpError("notFound", `no route ${quoteInput(url.pathname)}`);
    if (cors && req.method === "OPTIONS") return cors.preflight(req);
    if (!methods.includes(req.method)) {
      const allow = cors ? [...methods, "OPTIONS"] : methods;
      throw new HttpError(
        "methodNotAllowed",
        `${quoteInput(req.method)} is not allowed on ${url.pathname}; use ${allow.join(" or ")}`,
        { allow: allow.join(", ") },
      );
    }
    if (url.pathname === "/predict") {
      const query = parsePredictQuery(url.searchParams);
      return await predict(req, () => query);
    }
    if (url.pathname === "/api/remove") {
      return await predict(req, (body) => {
        if (!body) return undefined;
        const params = rembgParams(url.searchParams, req.headers.get("content-type"), body, {
          maxParts,
        });
        return rembgQuery(params, options.modelName);
      });
    }
    if (url.pathname === "/healthz") {
      return json({
        ok: true,
        mode: service.mode,
        ...options.health,
        ...(input ? { input } : {}),
        limits: {
          maxBodyBytes,
          maxPixels,
          maxParts,
          readTimeoutMs,
          maxInflightBytes: budget.limit,
        },
        queue: queue.stats(),
        inflight: budget.stats(),
        service: service.stats(),
        memory: memory(),
      });
    }
    const [type, text] = ASSETS[url.pathname];
    return new Response(req.method === "HEAD" ? null : text, {
      headers: {
        "content-type": type,
        "content-security-policy": PAGE_CSP,
        "x-content-type-options": "nosniff",
      },
    });
  }

  return async (req: Request): Promise<Response> => {
    let res: Response;
    try {
      res = await route(req, new URL(req.url));
    } catch (e) {
      // Refused before reading: say so to the client's connection, not only in the status.
      if (!req.bodyUsed) req.body?.cancel().catch(() => {});
      res = errorResponse(e, { onInternalError: options.onError });
    }
    if (cors) { for (const [k, v] of Object.entries(cors.headers(req))) res.headers.set(k, v); }
    return res;
  };
}
