/**
 * rembg's HTTP API (`rembg s`: `POST /api/remove`), so clients written for
 * it work against this server: the image in a multipart field `file` (or a
 * raw body, as `POST /predict` takes), and rembg's parameters as form fields
 * or query parameters: `a` (alpha matting) with `af`, `ab`, `ae`, `om`
 * (only the mask), `ppm` (post-process the mask), `bgc` (`r,g,b[,a]`
 * background) and `model`, which must name the served model when given.
 * rembg's `GET /api/remove?url=` (the server fetching a URL) is not offered.
 *
 * @module
 */
import { DEFAULT_THRESHOLD } from "../predict/render.ts";
import { byteValue } from "./_byte_value.ts";
import { forEachPart } from "./_multipart.ts";
import { HttpError, quoteInput } from "./errors.ts";
import { type PredictQuery, SERVER_MATTING } from "./predict_query.ts";

/** rembg's parameters, in its names. */
export const REMBG_PARAMS: readonly string[] = ["model", "a", "af", "ab", "ae", "om", "ppm", "bgc"];

/** Longest form-field value read. */
const MAX_FIELD_BYTES = 64;

/** pydantic's booleans (FastAPI's `bool` parameters). */
const TRUE = ["1", "true", "t", "yes", "y", "on"], FALSE = ["0", "false", "f", "no", "n", "off"];

function bool(name: string, v: string | undefined): boolean {
  if (v === undefined) return false;
  const s = v.trim().toLowerCase();
  if (TRUE.includes(s)) return true;
  if (FALSE.includes(s)) return false;
  throw new HttpError("badRequest", `${name} ${quoteInput(v)} is not a boolean (true or false)`);
}

/** A byte parameter (pydantic's `int` takes surrounding spaces), or `fallback`. */
function byte(name: string, v: string | undefined, fallback: number): number {
  return v === undefined ? fallback : byteValue(name, v.trim(), v);
}

/**
 * rembg's parameters of a request: query parameters, then the text fields
 * of a multipart body (those win, as FastAPI reads them from the form). A
 * parameter given twice in one place is a 400.
 */
export function rembgParams(
  params: URLSearchParams,
  contentType: string | null,
  body: Uint8Array,
  options: { maxParts: number },
): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of REMBG_PARAMS) {
    const all = params.getAll(name);
    if (all.length > 1) throw new HttpError("badRequest", `${name} is given ${all.length} times`);
    if (all.length) out.set(name, all[0]);
  }
  const mime = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (mime !== "multipart/form-data") return out;
  const seen = new Set<string>();
  const dec = new TextDecoder();
  forEachPart(contentType!, body, (part) => {
    if (part.filename !== undefined || !REMBG_PARAMS.includes(part.name)) return false;
    if (seen.has(part.name)) {
      throw new HttpError("badRequest", `form field ${part.name} is given twice`);
    }
    if (part.body.length > MAX_FIELD_BYTES) {
      throw new HttpError("badRequest", `form field ${part.name} is over ${MAX_FIELD_BYTES} bytes`);
    }
    seen.add(part.name);
    out.set(part.name, dec.decode(part.body));
    return false;
  }, options);
  return out;
}

/**
 * The `POST /predict` query that rembg's parameters ask for: a cut-out
 * (`om`: the soft mask), alpha matting with `af`/`ab`/`ae` when `a`, rembg's
 * mask clean-up when `ppm`, a background colour from `bgc` (its alpha, if
 * given, is ignored: the answer is then RGB).
 *
 * @throws {HttpError} 400 when `model` names another model than `served`,
 * or a value is not what rembg accepts.
 * @example
 * ```ts
 * import { rembgQuery } from "./rembg_api.ts";
 * const q = rembgQuery(new Map([["a", "true"], ["af", "230"]]), "u2netp");
 * [q.alpha, q.matting.foregroundThreshold]; // ["matting", 230]
 * ```
 */
export function rembgQuery(params: Map<string, string>, served?: string): PredictQuery {
  const model = params.get("model");
  if (model !== undefined && model !== served) {
    throw new HttpError(
      "badRequest",
      `model ${quoteInput(model)} is not served here: this server runs ${
        quoteInput(served ?? "an unnamed model")
      } (leave model out)`,
    );
  }
  let bgColor: [number, number, number] | undefined;
  const bgc = params.get("bgc");
  if (bgc !== undefined) {
    const parts = bgc.split(",").map((p) => p.trim());
    if (
      !(parts.length === 3 || parts.length === 4) ||
      !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)
    ) {
      throw new HttpError("badRequest", `bgc ${quoteInput(bgc)} is not r,g,b or r,g,b,a (0-255)`);
    }
    bgColor = [Number(parts[0]), Number(parts[1]), Number(parts[2])];
  }
  return {
    format: bool("om", params.get("om")) ? "soft" : "cutout",
    threshold: DEFAULT_THRESHOLD,
    ...(bgColor ? { bgColor } : {}),
    alpha: bool("a", params.get("a")) ? "matting" : "soft",
    postProcess: bool("ppm", params.get("ppm")),
    matting: {
      ...SERVER_MATTING,
      foregroundThreshold: byte("af", params.get("af"), SERVER_MATTING.foregroundThreshold),
      backgroundThreshold: byte("ab", params.get("ab"), SERVER_MATTING.backgroundThreshold),
      erodeSize: byte("ae", params.get("ae"), SERVER_MATTING.erodeSize),
    },
  };
}
