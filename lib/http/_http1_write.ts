/**
 * HTTP/1.1 response writing for `lib/http/http_server.ts`: status line,
 * `Date`, `Content-Length` when the body is one chunk (bytes, string),
 * else chunked (HTTP/1.1) or close-delimited (HTTP/1.0); no body for HEAD,
 * 204 and 304; transport errors as small JSON answers.
 *
 * @module
 */
import type { ConnIo } from "./_conn_io.ts";

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);
const encoder = new TextEncoder();

let dateSecond = 0;
let dateText = "";

/** The `Date` header value, recomputed at most once a second. */
export function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** The interim `100 Continue` line. */
export const CONTINUE_BYTES: Uint8Array = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * A complete transport answer (JSON `{error, status}`, `Connection: close`).
 */
export function errorBytes(status: number, message: string, extra = ""): Uint8Array {
  const body = JSON.stringify({ error: message, status });
  return encoder.encode(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\ndate: ${httpDate()}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n${extra}` +
      `content-length: ${encoder.encode(body).length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** How {@linkcode writeResponse} frames the answer. */
export interface WriteResponseOptions {
  /** The request was HEAD: send the head only. */
  head: boolean;
  /** Keep the connection open after this answer (if the framing allows). */
  keepAlive: boolean;
  /** The client speaks HTTP/1.1 (else 1.0: no chunked). */
  http11: boolean;
  /** No-progress deadline of each write, in milliseconds. */
  writeTimeoutMs: number;
}

/**
 * Writes `res` to `io`; returns whether the connection may stay open.
 * Throws when the socket fails or the body stream errors (the caller closes).
 */
export async function writeResponse(
  io: ConnIo,
  res: Response,
  options: WriteResponseOptions,
): Promise<boolean> {
  const status = res.status;
  let keepAlive = options.keepAlive;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? (res.statusText || "Unknown")}\r\n`;
  let hasDate = false;
  for (const [name, value] of res.headers) {
    if (HOP_BY_HOP.has(name)) continue;
    if (name === "date") hasDate = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasDate) head += `date: ${httpDate()}\r\n`;
  const noBody = options.head || status === 204 || status === 304;
  let first: Uint8Array = new Uint8Array(0);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let ended = true;
  if (noBody) {
    await res.body?.cancel().catch(() => {});
    const declared = options.head ? res.headers.get("content-length") : null;
    if (declared !== null && /^\d+$/.test(declared)) head += `content-length: ${declared}\r\n`;
  } else {
    if (res.body) {
      reader = res.body.getReader();
      // Bytes and string bodies arrive as one chunk then the end: a length.
      let a: ReadableStreamReadResult<Uint8Array>, b: ReadableStreamReadResult<Uint8Array>;
      try {
        a = await reader.read();
        b = a.done ? a : await reader.read();
      } catch (e) {
        await io.write(errorBytes(500, "internal error"), options.writeTimeoutMs);
        throw e; // the caller reports it and closes
      }
      ended = b.done === true;
      if (!a.done) first = a.value;
      if (!b.done) first = concat(first, b.value);
    }
    if (ended) head += `content-length: ${first.length}\r\n`;
    else if (options.http11) head += "transfer-encoding: chunked\r\n";
    else keepAlive = false;
  }
  if (!keepAlive) head += "connection: close\r\n";
  else if (!options.http11) head += "connection: keep-alive\r\n";
  const chunked = !ended && options.http11;
  const firstFramed = chunked && first.length
    ? concat(encoder.encode(`${first.length.toString(16)}\r\n`), concat(first, CRLF))
    : first;
  await io.write(concat(encoder.encode(head + "\r\n"), firstFramed), options.writeTimeoutMs);
  if (ended || !reader) return keepAlive;
  try {
    while (true) {
      const r = await reader.read();
      if (r.done) break;
      if (!r.value.length) continue;
      const bytes = chunked
        ? concat(encoder.encode(`${r.value.length.toString(16)}\r\n`), concat(r.value, CRLF))
        : r.value;
      await io.write(bytes, options.writeTimeoutMs);
    }
  } catch (e) {
    reader.cancel(e).catch(() => {});
    throw e;
  }
  if (chunked) await io.write(LAST_CHUNK, options.writeTimeoutMs);
  return keepAlive;
}

const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
