/**
 * Every HTTP error status of the prediction server, decided in one place:
 * {@linkcode HttpError} kinds map to statuses, and {@linkcode errorResponse}
 * turns anything thrown (including the image readers' `TypeError`s and
 * `RangeError`s) into a JSON `{error, status}` response.
 *
 * @module
 */

/** Error kinds and their statuses. */
export const ERROR_STATUS = {
  badRequest: 400,
  notFound: 404,
  methodNotAllowed: 405,
  timeout: 408,
  tooLarge: 413,
  unsupportedMediaType: 415,
  unprocessable: 422,
  busy: 503,
  internal: 500,
} as const;

/** A kind of {@linkcode ERROR_STATUS}. */
export type ErrorKind = keyof typeof ERROR_STATUS;

/** Seconds in `Retry-After` of 503 answers unless the thrower says otherwise. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/**
 * A request failure with its kind (hence status) and extra headers.
 *
 * @example
 * ```ts
 * import { HttpError } from "./errors.ts";
 * new HttpError("notFound", "no route GET /x").status; // 404
 * ```
 */
export class HttpError extends Error {
  /** The kind. */
  readonly kind: ErrorKind;
  /** Extra response headers (`Allow`, `Retry-After`). */
  readonly headers: Record<string, string>;

  /**
   * Creates the error; `status` follows from `kind`.
   *
   * @param kind The failure kind; it picks the status.
   * @param message The one-line reason sent to the client.
   * @param headers Extra response headers (`Allow`, `Retry-After`).
   */
  constructor(kind: ErrorKind, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.kind = kind;
    this.headers = headers;
  }

  /** The HTTP status of the kind. */
  get status(): number {
    return ERROR_STATUS[this.kind];
  }
}

/**
 * Classifies a failure of the image header reader or decoder: formats we do
 * not read → 415, announced sizes over a pixel limit → 413, everything else
 * (truncated, corrupt) → 422.
 *
 * @example
 * ```ts
 * import { imageError } from "./errors.ts";
 * imageError(new TypeError("Cannot decode image: current format is gif")).status; // 415
 * ```
 */
export function imageError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  if (/current format is/.test(msg)) return new HttpError("unsupportedMediaType", msg);
  if (e instanceof RangeError && /pixels/.test(msg)) return new HttpError("tooLarge", msg);
  return new HttpError(
    "unprocessable",
    msg.startsWith("Cannot") ? msg : `Cannot decode image: ${msg}`,
  );
}

/** Most characters of user input that an error message repeats. */
export const MAX_ECHO_CHARS = 40;

/**
 * `text` for an error message: at most {@linkcode MAX_ECHO_CHARS} characters
 * (then "…"), control characters replaced, quoted.
 *
 * @example
 * ```ts
 * import { quoteInput } from "./errors.ts";
 * quoteInput("x".repeat(10_000)).length; // 43
 * ```
 */
export function quoteInput(text: string): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  const cut = clean.length > MAX_ECHO_CHARS ? clean.slice(0, MAX_ECHO_CHARS) + "…" : clean;
  return JSON.stringify(cut);
}

/**
 * Classifies a failure of the predictor: a `RangeError` (an input over an
 * engine's memory cap, or a network input too large) is 413 with its first
 * line; anything else is left as it is (500 unless it is an HttpError).
 *
 * @example
 * ```ts
 * import { HttpError, predictError } from "./errors.ts";
 * const e = predictError(new RangeError("Cannot build engine: current input needs 9 GiB"));
 * console.log(e instanceof HttpError && e.status); // 413
 * ```
 */
export function predictError(e: unknown): unknown {
  if (e instanceof HttpError || !(e instanceof RangeError)) return e;
  return new HttpError("tooLarge", e.message.split("\n")[0].slice(0, 300));
}

/** An error as plain data, to cross a worker boundary. */
export interface ErrorWire {
  /** `HttpError`, `TypeError`, `RangeError`, `Error`… */
  name: string;
  /** The message. */
  message: string;
  /** The kind of an HttpError. */
  kind?: ErrorKind;
  /** The headers of an HttpError. */
  headers?: Record<string, string>;
  /** The stack, for `onInternalError` logs (never sent to clients). */
  stack?: string;
}

/**
 * `e` as {@linkcode ErrorWire}.
 *
 * @example
 * ```ts
 * import { errorFromWire, errorToWire, HttpError } from "./errors.ts";
 * (errorFromWire(errorToWire(new HttpError("notFound", "x"))) as HttpError).status; // 404
 * ```
 */
export function errorToWire(e: unknown): ErrorWire {
  if (e instanceof HttpError) {
    return { name: "HttpError", message: e.message, kind: e.kind, headers: e.headers };
  }
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: "Error", message: String(e) };
}

/**
 * The error that {@linkcode errorToWire} describes (HttpError, TypeError, RangeError or Error).
 *
 * @example
 * ```ts
 * import { errorFromWire } from "./errors.ts";
 * errorFromWire({ name: "RangeError", message: "x" }) instanceof RangeError; // true
 * ```
 */
export function errorFromWire(w: ErrorWire): Error {
  if (w.name === "HttpError" && w.kind) return new HttpError(w.kind, w.message, w.headers);
  const Ctor = w.name === "TypeError" ? TypeError : w.name === "RangeError" ? RangeError : Error;
  const e = new Ctor(w.message);
  if (w.stack) e.stack = w.stack;
  return e;
}

/** Options of {@linkcode errorResponse}. */
export interface ErrorResponseOptions {
  /** Called with errors that map to 500 (bugs), e.g. to log them. @default {undefined} */
  onInternalError?: (e: unknown) => void;
}

/**
 * The response for any thrown value: {@linkcode HttpError}s keep their
 * status; other errors are 500 with a generic message (details go to
 * `onInternalError`, never to the client).
 *
 * @example
 * ```ts
 * import { errorResponse, HttpError } from "./errors.ts";
 * const res = errorResponse(new HttpError("busy", "queue full", { "retry-after": "1" }));
 * res.status; // 503
 * await res.json(); // { error: "queue full", status: 503 }
 * ```
 */
export function errorResponse(e: unknown, options: ErrorResponseOptions = {}): Response {
  const err = e instanceof HttpError ? e : new HttpError("internal", "internal error");
  if (!(e instanceof HttpError)) options.onInternalError?.(e);
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    ...err.headers,
  };
  if (err.kind === "busy" && !headers["retry-after"]) {
    headers["retry-after"] = String(DEFAULT_RETRY_AFTER_SECONDS);
  }
  return new Response(JSON.stringify({ error: err.message, status: err.status }), {
    status: err.status,
    headers,
  });
}
