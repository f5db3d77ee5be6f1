/**
 * Raw-socket helpers of the transport tests: send exact bytes to a local
 * server and read what comes back until it closes or a deadline passes.
 *
 * @module
 */
import { type HttpHandler, type HttpServerOptions, serveHttp } from "../../lib/http/http_server.ts";
import type { HttpServerStats } from "../../lib/http/http_server_stats.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What came back on a raw socket. */
export interface RawReply {
  /** Everything read, as latin-1-ish text. */
  text: string;
  /** The server closed (EOF) before the deadline. */
  closed: boolean;
  /** The server reset the connection. */
  reset: boolean;
  /** Milliseconds until the close (or the deadline). */
  ms: number;
}

/** Reads from `conn` until EOF, a reset, `until` matching, or `timeoutMs`. */
export async function readReply(
  conn: Deno.Conn,
  timeoutMs: number,
  until?: (text: string) => boolean,
): Promise<RawReply> {
  const t0 = performance.now();
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  let closed = false;
  let reset = false;
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) {
        closed = true;
        break;
      }
      text += dec.decode(buf.subarray(0, n), { stream: true });
      if (until?.(text)) break;
    }
  } catch (e) {
    reset = e instanceof Deno.errors.ConnectionReset;
  } finally {
    clearTimeout(timer);
  }
  return { text, closed, reset, ms: performance.now() - t0 };
}

/** Sends `request` on a new connection and reads the reply (closes the socket). */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 3000,
): Promise<RawReply> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(typeof request === "string" ? enc.encode(request) : request);
    return await readReply(conn, timeoutMs);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the deadline
    }
  }
}

/** The status codes of every response in `text`, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** Runs `fn` against a server on a free loopback port, then stops it. */
export async function withHttpServer(
  handler: HttpHandler,
  options: HttpServerOptions,
  fn: (port: number, stats: HttpServerStats) => Promise<void>,
): Promise<void> {
  const server = serveHttp(handler, { hostname: "127.0.0.1", ...options, port: 0 });
  try {
    await fn(server.addr.port, server.stats);
  } finally {
    await server.shutdown();
  }
}

/** A handler that reads the whole body and answers `METHOD path bytes`. */
export const echoHandler: HttpHandler = async (req) => {
  const n = req.body ? (await req.arrayBuffer()).byteLength : -1;
  return new Response(`${req.method} ${new URL(req.url).pathname} ${n}`);
};

/** Closes every connection, ignoring those already closed. */
export function closeAll(conns: Deno.Conn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // closed already
    }
  }
}
