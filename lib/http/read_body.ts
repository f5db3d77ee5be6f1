/**
 * Reads a request body with a byte cap and a deadline: a declared
 * `Content-Length` over the cap is refused before reading, a stream that
 * grows past it is cancelled, and one that is still arriving at the deadline
 * is cancelled too.
 *
 * @module
 */
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
}

function tooLarge(n: number | string, max: number): HttpError {
  return new HttpError("tooLarge", `body is ${n} bytes, over the limit of ${max} bytes`);
}

/**
 * The request body as bytes, within the cap and the deadline.
 *
 * @throws {HttpError} 413 over the cap, 408 past the deadline, 400 for a bad
 * `Content-Length` or an empty body.
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
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) {
      throw new HttpError("badRequest", `invalid Content-Length "${declared.slice(0, 40)}"`);
    }
    if (Number(declared) > max) throw tooLarge(declared.trim(), max);
  }
  if (!req.body) throw new HttpError("badRequest", "empty body: send the image bytes");
  const reader = req.body.getReader();
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
      total += next.value.byteLength;
      if (total > max) throw tooLarge(`more than ${max}`, max);
      chunks.push(next.value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    if (e instanceof HttpError) throw e;
    throw new HttpError("badRequest", `body could not be read (${String(e).split("\n")[0]})`);
  } finally {
    clearTimeout(timer);
  }
  if (total === 0) throw new HttpError("badRequest", "empty body: send the image bytes");
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}
