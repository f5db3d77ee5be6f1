/**
 * A bounded `multipart/form-data` reader: finds the parts of a body already
 * in memory without copying them, refusing bodies with more than `maxParts`
 * parts or part headers over 8 KiB (so a body of hundreds of thousands of
 * empty parts costs one linear scan, not a FormData of them).
 *
 * @module
 */
import { HttpError, quoteInput } from "./errors.ts";

/** One part: its form field name, file name (if any), type and bytes (a view into the body). */
export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  body: Uint8Array;
}

/** Largest header block of one part. */
const MAX_PART_HEADER_BYTES = 8192;

const enc = new TextEncoder();
const dec = new TextDecoder();
const CRLF2 = enc.encode("\r\n\r\n");

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0], m = needle.length;
  for (
    let i = hay.indexOf(first, from);
    i >= 0 && i + m <= hay.length;
    i = hay.indexOf(first, i + 1)
  ) {
    let k = 1;
    while (k < m && hay[i + k] === needle[k]) k++;
    if (k === m) return i;
  }
  return -1;
}

/** The boundary of a `multipart/form-data` Content-Type. */
export function boundaryOf(contentType: string): string {
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  if (!b) throw new HttpError("badRequest", "multipart/form-data without a valid boundary");
  return b;
}

function param(header: string, key: string): string | undefined {
  const re = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^\\s;]+))`, "i");
  const m = re.exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

function parseHeaders(block: string): Omit<FormPart, "body"> {
  let disposition = "", contentType: string | undefined;
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "content-disposition") disposition = value;
    else if (key === "content-type") contentType = value;
  }
  if (!/^form-data\b/i.test(disposition)) {
    throw new HttpError(
      "badRequest",
      "malformed multipart/form-data body: a part has no form-data disposition",
    );
  }
  const name = param(disposition, "name");
  if (name === undefined) {
    throw new HttpError("badRequest", "malformed multipart/form-data body: a part has no name");
  }
  return { name, filename: param(disposition, "filename"), contentType };
}

/**
 * Visits the parts of a multipart body in order until `visit` returns true.
 *
 * @throws {HttpError} 400 for a malformed body or more than `maxParts` parts.
 */
export function forEachPart(
  contentType: string,
  body: Uint8Array,
  visit: (part: FormPart) => boolean,
  { maxParts }: { maxParts: number },
): void {
  const boundary = boundaryOf(contentType);
  const dash = enc.encode(`--${boundary}`);
  const delim = enc.encode(`\r\n--${boundary}`);
  const bad = (why: string) =>
    new HttpError("badRequest", `malformed multipart/form-data body: ${why}`);
  let o = indexOf(body, dash, 0);
  if (o !== 0) {
    const at = indexOf(body, delim, 0);
    if (at < 0) throw bad(`no boundary ${quoteInput(boundary)} in the body`);
    o = at + 2;
  }
  o += dash.length;
  for (let parts = 0;; parts++) {
    if (body[o] === 0x2d && body[o + 1] === 0x2d) return; // closing delimiter
    while (body[o] === 0x20 || body[o] === 0x09) o++;
    if (body[o] !== 0x0d || body[o + 1] !== 0x0a) throw bad("a boundary is not followed by CRLF");
    o += 2;
    if (parts >= maxParts) {
      throw new HttpError("badRequest", `multipart body has more than ${maxParts} parts`);
    }
    if (body[o] === 0x0d && body[o + 1] === 0x0a) throw bad("a part has no headers");
    const head = body.subarray(o, o + MAX_PART_HEADER_BYTES + 4);
    const headEnd = indexOf(head, CRLF2, 0);
    if (headEnd < 0) throw bad("part headers do not end within 8 KiB");
    const headers = parseHeaders(dec.decode(body.subarray(o, o + headEnd)));
    const start = o + headEnd + 4;
    const end = indexOf(body, delim, start);
    if (end < 0) throw bad("the body ends inside a part (no closing boundary)");
    if (visit({ ...headers, body: body.subarray(start, end) })) return;
    o = end + delim.length;
  }
}
