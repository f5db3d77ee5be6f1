/**
 * Reads a request body with a byte cap and a deadline: a declared
 * `Content-Length` over the cap is refused before reading, a stream that
 * grows past it is cancelled, and one that is still arriving at the deadline
 * is cancelled too. With a {@linkcode ByteBudget}, the declared length is
 * reserved before reading (a chunked body's bytes as they arrive) and a body
 * that does not fit is refused with 503 before more of it is read.
 *
 * @module
 */
import type { ByteBudget } from "./byte_budget.ts";
import { HttpError } from "./errors.ts";

/** Default body cap: 20 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;

/** Default time allowed for the whole body to arrive. */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

/** Options of {@linkcode readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted. @default DEFAULT_MAX_BODY_BYTES */
  maxBytes?: number;
  /** Deadline for the whole body, in milliseconds. @default DEFAULT_READ_TIMEOUT_MS */
  timeoutMs?: number;
  /**
   * Bytes in flight across requests. On success the body's length stays
   * reserved (the caller releases `bytes.byteLength` when the request ends);
   * on failure nothing stays reserved.
   * @default {undefined}
   */
  budget?: ByteBudget;
}

function tooLarge(n: number | string, max: number): HttpError {
  return new HttpError("tooLarge", `body is ${n} bytes, over the limit of ${max} bytes`);
}

/**
 * The request body as bytes (a fresh buffer of exactly the body's length),
 * within the cap, the deadline and the budget.
 *
 * @throws {HttpError} 413 over the cap, 408 past the deadline, 503 over the
 * budget, 400 for a bad `Content-Length` or an empty body.
 * @example
 * ```ts
 * import { readBody } from "./read_body.ts";
 * const req = new Request("http://x/", { method: "POST", body: "abc" });
 * (await readBody(req, { maxBytes: 10 })).length; // 3
 * ```
 */
export async function readBody(req: Request, options: ReadBodyOptions = {}): Promise<Uint8Array> {
  const max = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const budget = options.budget;
  const declaredText = req.headers.get("content-length");
  let declared: number | undefined;
  if (declaredText !== null) {
    if (!/^\d{1,15}$/.test(declaredText.trim())) {
      throw new HttpError("badRequest", `invalid Content-Length "${declaredText.slice(0, 40)}"`);
    }
    declared = Number(declaredText);
    if (declared > max) throw tooLarge(declared, max);
  }
  if (!req.body) throw new HttpError("badRequest", "empty body: send the image bytes");
  let reserved = 0;
  if (budget && declared !== undefined) {
    budget.reserve(declared);
    reserved = declared;
  }
  const reader = req.body.getReader();
  // With a declared length the bytes go straight into one buffer (no chunk list to concatenate).
  const direct = declared !== undefined && declared > 0 ? new Uint8Array(declared) : undefined;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((done) => {
    timer = setTimeout(() => done("timeout"), timeoutMs);
  });
  try {
    while (true) {
      const next = await Promise.race([reader.read(), deadline]);
      if (next === "timeout") {
        throw new HttpError(
          "timeout",
          `body not received within ${timeoutMs} ms (${total} bytes arrived)`,
        );
      }
      if (next.done) break;
      const at = total;
      total += next.value.byteLength;
      if (total > max) throw tooLarge(`more than ${max}`, max);
      if (direct) {
        if (total > direct.length) {
          throw new HttpError("badRequest", `body is longer than its Content-Length ${declared}`);
        }
        direct.set(next.value, at);
        continue;
      }
      if (budget && total > reserved) {
        budget.reserve(total - reserved);
        reserved = total;
      }
      chunks.push(next.value);
    }
    if (total === 0) throw new HttpError("badRequest", "empty body: send the image bytes");
  } catch (e) {
    budget?.release(reserved);
    reader.cancel().catch(() => {});
    if (e instanceof HttpError) throw e;
    throw new HttpError("badRequest", `body could not be read (${String(e).split("\n")[0]})`);
  } finally {
    clearTimeout(timer);
  }
  budget?.release(reserved - total);
  if (direct) return total === direct.length ? direct : direct.slice(0, total);
  const first = chunks[0];
  if (chunks.length === 1 && first.byteOffset === 0 && first.buffer.byteLength === total) {
    return first;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}
