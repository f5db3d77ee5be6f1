/**
 * Cross-origin access for browser pages on other origins: the allowed
 * origin(s) get `Access-Control-Allow-Origin` on every answer (errors
 * included) and `OPTIONS` preflights are answered 204.
 *
 * @module
 */

/** Methods a preflight allows. */
export const CORS_METHODS = "GET, HEAD, POST, OPTIONS";

/** Request headers a preflight allows. */
export const CORS_HEADERS = "content-type";

/** Seconds a browser may cache a preflight. */
export const CORS_MAX_AGE_SECONDS = 600;

/** What {@linkcode createCors} returns. */
export interface Cors {
  /** Headers to add to the answer to `req`. */
  headers(req: Request): Record<string, string>;
  /** The 204 answer to an `OPTIONS` preflight. */
  preflight(req: Request): Response;
}

/**
 * CORS for `allow`: `*` (any origin, no credentials) or a comma-separated
 * list of origins (`https://a.example,https://b.example`); a listed origin is
 * echoed with `Vary: Origin`, others get no `Access-Control-Allow-Origin`.
 *
 * @throws {TypeError} for an origin that is not `scheme://host[:port]`.
 * @example
 * ```ts
 * import { createCors } from "./cors.ts";
 * const cors = createCors("https://app.example");
 * const req = new Request("http://x/healthz", { headers: { origin: "https://app.example" } });
 * cors.headers(req)["access-control-allow-origin"]; // "https://app.example"
 * ```
 */
export function createCors(allow: string): Cors {
  const any = allow.trim() === "*";
  const origins = any ? [] : allow.split(",").map((o) => o.trim()).filter(Boolean);
  for (const o of origins) {
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(o)) {
      throw new TypeError(
        `Cannot use CORS origin: current value is "${
          o.slice(0, 80)
        }", expected * or scheme://host[:port]`,
      );
    }
  }
  if (!any && !origins.length) {
    throw new TypeError(`Cannot use CORS origin: current value is "${allow.slice(0, 80)}"`);
  }
  const headers = (req: Request): Record<string, string> => {
    const h: Record<string, string> = { "access-control-expose-headers": "retry-after" };
    if (any) h["access-control-allow-origin"] = "*";
    else {
      h.vary = "Origin";
      const origin = req.headers.get("origin");
      if (origin && origins.includes(origin)) h["access-control-allow-origin"] = origin;
    }
    return h;
  };
  return {
    headers,
    preflight(req: Request): Response {
      return new Response(null, {
        status: 204,
        headers: {
          ...headers(req),
          "access-control-allow-methods": CORS_METHODS,
          "access-control-allow-headers": CORS_HEADERS,
          "access-control-max-age": String(CORS_MAX_AGE_SECONDS),
          vary: any
            ? "Access-Control-Request-Method, Access-Control-Request-Headers"
            : "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        },
      });
    },
  };
}
