/**
 * The query of `POST /predict`, parsed strictly: `format`
 * (`mask|soft|cutout|json`), `threshold` (a plain decimal in [0, 1]), `bg`
 * (a colour), `alpha` (`soft|hard|matting` cut-out alpha; `matting_fg`,
 * `matting_bg`, `matting_erode`: integers 0-255, rembg's `-af -ab -ae`) and
 * `postprocess` (`1|0`, rembg's mask clean-up). A parameter given with an empty value, or given
 * twice (`threshold=0.5&threshold=2`), is a 400.
 * Error messages repeat at most 40 characters of the input.
 *
 * @module
 */
import {
  ALPHA_MODES,
  type AlphaMode,
  DEFAULT_ALPHA,
  DEFAULT_FORMAT,
  DEFAULT_POST_PROCESS,
  DEFAULT_THRESHOLD,
  OUTPUT_FORMATS,
  type OutputFormat,
} from "../predict/render.ts";
import { parseColor, type RgbColor } from "../predict/parse_color.ts";
import { DEFAULT_MATTING, type MattingOptions } from "../predict/alpha_matting.ts";
import { byteValue } from "./_byte_value.ts";
import { HttpError, quoteInput } from "./errors.ts";

/** Formats `POST /predict` answers in: the render formats plus `json`. */
export const PREDICT_FORMATS: readonly (OutputFormat | "json")[] = [...OUTPUT_FORMATS, "json"];

/** A parsed `POST /predict` query (plain data: it crosses to the workers). */
export interface PredictQuery {
  /** Output format. */
  format: OutputFormat | "json";
  /** Foreground where probability > threshold. */
  threshold: number;
  /** Cut-out background colour; absent keeps transparency. */
  bgColor?: RgbColor;
  /** Cut-out alpha. */
  alpha: AlphaMode;
  /** Clean the mask first. */
  postProcess: boolean;
  /** Trimap of `alpha: "matting"`, and the server's limit on its solve. */
  matting: Required<MattingOptions>;
}

/**
 * The server's limit on alpha matting's unsure pixels (a quarter of the
 * CLI's {@linkcode DEFAULT_MATTING}: a worker's solve stays within about
 * 300 MB); past it the cut-out is the soft one.
 */
export const SERVER_MATTING_MAX_UNSURE_PIXELS = 262_144;

/**
 * The server's limit on the size of an image it mattes (2048², about 230 MB
 * of matting besides the solve); larger ones get the soft cut-out.
 */
export const SERVER_MATTING_MAX_PIXELS = 2048 * 2048;

/** rembg's trimap defaults with the server's limits: what `alpha=matting` starts from. */
export const SERVER_MATTING: Readonly<Required<MattingOptions>> = {
  ...DEFAULT_MATTING,
  maxUnsurePixels: SERVER_MATTING_MAX_UNSURE_PIXELS,
  maxPixels: SERVER_MATTING_MAX_PIXELS,
};

/** The parameters `POST /predict` reads (others are ignored). */
const QUERY_NAMES = [
  "format",
  "threshold",
  "bg",
  "alpha",
  "postprocess",
  "matting_fg",
  "matting_bg",
  "matting_erode",
] as const;

/** `matting_*` parameters and the option each sets. */
const MATTING_NAMES = [
  ["matting_fg", "foregroundThreshold"],
  ["matting_bg", "backgroundThreshold"],
  ["matting_erode", "erodeSize"],
] as const;

/**
 * A threshold: a plain decimal in [0, 1] (`0`, `0.5`, `.5`, `1`, `1.0`; at
 * most 12 decimals). Rejected: empty, spaces, signs, hex, exponents, `NaN`.
 */
const THRESHOLD_RE = /^(?:0|1)?(?:\.\d{1,12})?$/;

/**
 * Parses the query of `POST /predict`.
 *
 * @throws {HttpError} 400 for an unknown format, a threshold that is not a
 * plain decimal in [0, 1] (`threshold=` and `threshold=%20` included), a
 * `bg` that is not a colour, an `alpha` not in {@linkcode ALPHA_MODES}, a
 * `matting_*` that is not an integer in [0, 255], or a parameter given more
 * than once.
 * @example
 * ```ts
 * import { parsePredictQuery } from "./predict_query.ts";
 * const q = parsePredictQuery(new URLSearchParams("format=cutout&threshold=.25&bg=white"));
 * [q.format, q.threshold, q.bgColor]; // ["cutout", 0.25, [255, 255, 255]]
 * ```
 */
export function parsePredictQuery(params: URLSearchParams): PredictQuery {
  for (const name of QUERY_NAMES) {
    const n = params.getAll(name).length;
    if (n > 1) throw new HttpError("badRequest", `${name} is given ${n} times: give it once`);
  }
  const format = (params.get("format") ?? DEFAULT_FORMAT) as PredictQuery["format"];
  if (!PREDICT_FORMATS.includes(format)) {
    throw new HttpError(
      "badRequest",
      `format ${quoteInput(format)} is not one of ${PREDICT_FORMATS.join(", ")}`,
    );
  }
  const t = params.get("threshold");
  let threshold = DEFAULT_THRESHOLD;
  if (t !== null) {
    threshold = THRESHOLD_RE.test(t) && t !== "" && t !== "." ? Number(t) : NaN;
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new HttpError(
        "badRequest",
        `threshold ${quoteInput(t)} is not a decimal number in [0, 1] such as 0.5`,
      );
    }
  }
  const bg = params.get("bg");
  let bgColor: RgbColor | undefined;
  if (bg !== null) {
    try {
      bgColor = parseColor(bg.length > 64 ? "" : bg);
    } catch {
      throw new HttpError(
        "badRequest",
        `bg ${quoteInput(bg)} is not a colour: use #rrggbb, #rgb, r,g,b or white, black, red, ` +
          `green, blue, gray`,
      );
    }
  }
  const alpha = (params.get("alpha") ?? DEFAULT_ALPHA) as AlphaMode;
  if (!ALPHA_MODES.includes(alpha)) {
    throw new HttpError(
      "badRequest",
      `alpha ${quoteInput(alpha)} is not one of ${ALPHA_MODES.join(", ")}`,
    );
  }
  const pp = params.get("postprocess");
  if (pp !== null && !["0", "1", "true", "false"].includes(pp)) {
    throw new HttpError("badRequest", `postprocess ${quoteInput(pp)} is not 1, 0, true or false`);
  }
  const postProcess = pp === null ? DEFAULT_POST_PROCESS : pp === "1" || pp === "true";
  const matting = { ...SERVER_MATTING };
  for (const [name, key] of MATTING_NAMES) {
    const v = params.get(name);
    if (v !== null) matting[key] = byteValue(name, v);
  }
  return { format, threshold, bgColor, alpha, postProcess, matting };
}
