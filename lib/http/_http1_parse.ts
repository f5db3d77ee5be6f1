/**
 * Strict HTTP/1.1 request-head and chunk-line parsing for
 * `lib/http/http_server.ts`: anything ambiguous (both `Content-Length` and
 * `Transfer-Encoding`, a coding other than exactly `chunked`, obsolete line
 * folding, bare LF, bad sizes) is refused, so no proxy in front can disagree
 * with us about where a request ends.
 *
 * @module
 */

/** A request the transport refuses: its status and one-line reason. */
export class HttpParseError extends Error {
  /** The status to answer with (400, 408, 414, 417, 431, 501, 505). */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param status The response status.
   * @param message The one-line reason sent to the client.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpParseError";
    this.status = status;
  }
}

/** A parsed request head. */
export interface RequestHead {
  /** Method, as sent. */
  method: string;
  /** Request target (origin-form or absolute-form). */
  target: string;
  /** Minor version: 0 (HTTP/1.0) or 1 (HTTP/1.1). */
  minor: 0 | 1;
  /** Header fields in arrival order (names lower-cased). */
  headers: [string, string][];
  /** Declared body length; 0 when there is no body framing. */
  contentLength: number;
  /** Body is chunked. */
  chunked: boolean;
  /** The client allows the connection to stay open. */
  keepAlive: boolean;
  /** `Expect: 100-continue` was sent. */
  expectContinue: boolean;
  /** The `Host` value ("" when absent). */
  host: string;
}

const CR = 13;
const LF = 10;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HOST = /^[A-Za-z0-9.\-_~%!$&'()*+,;=:[\]]*$/;

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return s;
}

/**
 * Where the head in `buf` ends (the index after its blank line), -1 when it
 * has not ended yet; throws on a bare LF. `from` skips bytes already scanned.
 */
export function findHeadEnd(buf: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i < buf.length; i++) {
    if (buf[i] !== LF) continue;
    if (i === 0 || buf[i - 1] !== CR) throw new HttpParseError(400, "bare LF in the request head");
    if (i >= 3 && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
  }
  return -1;
}

function oneValue(name: string, values: string[]): string | undefined {
  if (values.length > 1) throw new HttpParseError(400, `more than one ${name} header`);
  return values[0];
}

/**
 * Parses a complete request head (request line, fields, blank line).
 *
 * @throws {HttpParseError} 400 malformed or ambiguous, 431 too many fields,
 * 501 unknown transfer coding, 505 HTTP version other than 1.0/1.1, 417
 * unknown expectation.
 */
export function parseRequestHead(bytes: Uint8Array, maxHeaderCount: number): RequestHead {
  const lines = latin1(bytes).split("\r\n");
  lines.length -= 2; // the blank line and what follows it
  const parts = lines[0].split(" ");
  if (parts.length !== 3) throw new HttpParseError(400, "malformed request line");
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) throw new HttpParseError(400, "invalid method");
  if (!TARGET.test(target)) throw new HttpParseError(400, "invalid request target");
  const v = /^HTTP\/(\d)\.(\d)$/.exec(version);
  if (!v) throw new HttpParseError(400, "invalid HTTP version");
  if (v[1] !== "1" || (v[2] !== "0" && v[2] !== "1")) {
    throw new HttpParseError(505, `HTTP version ${version.slice(5)} is not supported; use 1.1`);
  }
  if (!target.startsWith("/") && !/^https?:\/\//i.test(target)) {
    throw new HttpParseError(400, "request target must be a path or an absolute http URL");
  }
  if (lines.length - 1 > maxHeaderCount) {
    throw new HttpParseError(431, `more than ${maxHeaderCount} header fields`);
  }
  const headers: [string, string][] = [];
  const byName = new Map<string, string[]>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line[0] === " " || line[0] === "\t") {
      throw new HttpParseError(400, "obsolete line folding is not accepted");
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new HttpParseError(400, "malformed header field");
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HttpParseError(400, "invalid header value");
    const lower = name.toLowerCase();
    headers.push([lower, value]);
    const list = byName.get(lower);
    if (list) list.push(value);
    else byName.set(lower, [value]);
  }
  const minor = v[2] === "1" ? 1 : 0;
  const te = byName.get("transfer-encoding");
  const cl = byName.get("content-length");
  let chunked = false;
  let contentLength = 0;
  if (te) {
    if (cl) throw new HttpParseError(400, "both Content-Length and Transfer-Encoding");
    if (minor === 0) throw new HttpParseError(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (te.length !== 1 || te[0].toLowerCase() !== "chunked") {
      throw new HttpParseError(501, "only Transfer-Encoding: chunked is supported");
    }
    chunked = true;
  } else if (cl) {
    const s = oneValue("Content-Length", cl)!;
    if (!/^\d{1,15}$/.test(s)) throw new HttpParseError(400, "invalid Content-Length");
    contentLength = Number(s);
  }
  const host = oneValue("Host", byName.get("host") ?? []);
  if (host === undefined && minor === 1) throw new HttpParseError(400, "missing Host header");
  if (host !== undefined && !HOST.test(host)) throw new HttpParseError(400, "invalid Host header");
  const expect = byName.get("expect");
  let expectContinue = false;
  if (expect) {
    if (expect.length !== 1 || expect[0].toLowerCase() !== "100-continue") {
      throw new HttpParseError(417, "only Expect: 100-continue is supported");
    }
    expectContinue = minor === 1;
  }
  const tokens = (byName.get("connection") ?? []).join(",").toLowerCase().split(",")
    .map((t) => t.trim());
  const keepAlive = tokens.includes("close") ? false : minor === 1 || tokens.includes("keep-alive");
  return {
    method,
    target,
    minor,
    headers,
    contentLength,
    chunked,
    keepAlive,
    expectContinue,
    host: host ?? "",
  };
}

/**
 * The size of a chunk from its line (without CRLF): 1-8 hex digits, then
 * optional `;ext` parameters of visible characters.
 *
 * @throws {HttpParseError} 400 for anything else.
 */
export function parseChunkSize(line: Uint8Array): number {
  const s = latin1(line);
  const semi = s.indexOf(";");
  const size = semi < 0 ? s : s.slice(0, semi);
  if (!/^[0-9A-Fa-f]{1,8}$/.test(size)) throw new HttpParseError(400, "malformed chunk size");
  if (semi >= 0 && !/^[\t\x20-\x7e]*$/.test(s.slice(semi))) {
    throw new HttpParseError(400, "malformed chunk extension");
  }
  return parseInt(size, 16);
}
