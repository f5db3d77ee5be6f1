/**
 * One HTTP/1.1 connection of `lib/http/http_server.ts`: reads request heads
 * under the header/idle deadlines, builds `Request`s with streamed bodies,
 * calls the handler and writes the answers in order (sequential
 * pipelining), until the client or a limit ends it.
 *
 * @module
 */
import type { ConnIo } from "./_conn_io.ts";
import { requestBody } from "./_http1_body.ts";
import { findHeadEnd, HttpParseError, parseRequestHead, type RequestHead } from "./_http1_parse.ts";
import { CONTINUE_BYTES, errorBytes, writeResponse } from "./_http1_write.ts";

/** Where a connection is: only `idle`, `head` and `closing` may be evicted. */
export type ConnPhase = "head" | "idle" | "active" | "closing";

/** One live connection. */
export interface ConnEntry {
  /** The buffered socket. */
  io: ConnIo;
  /** Phase. */
  phase: ConnPhase;
  /** When the phase began (performance.now()). */
  since: number;
  /** Finish the current answer, then close (server stopping). */
  draining: boolean;
  /** Answers written on it. */
  served: number;
}

/** What the connection loop needs from its server. */
export interface ConnContext {
  /** The fetch-style handler. */
  handler: (req: Request, info: { remoteAddr: Deno.NetAddr }) => Response | Promise<Response>;
  /** Head deadline (ms). */
  headerTimeoutMs: number;
  /** Keep-alive idle deadline (ms). */
  idleTimeoutMs: number;
  /** Write no-progress deadline (ms). */
  writeTimeoutMs: number;
  /** Head size cap (bytes). */
  maxHeaderBytes: number;
  /** Field count cap. */
  maxHeaderCount: number;
  /** `host:port` used when a request has no Host. */
  authority: string;
  /** Counts a refused request. */
  onBadRequest: () => void;
  /** Receives handler and transport errors. */
  onError: (e: unknown) => void;
}

/** How long a closing connection drains what the client still sends. */
export const LINGER_MS = 2000;

function setPhase(entry: ConnEntry, phase: ConnPhase): void {
  entry.phase = phase;
  entry.since = performance.now();
}

/** The next request head (without its blank line), or null at a clean end. */
async function readHead(entry: ConnEntry, ctx: ConnContext): Promise<Uint8Array | null> {
  const io = entry.io;
  let scanned = 0;
  while (true) {
    while (io.buffered >= 2 && io.peek()[0] === 13 && io.peek()[1] === 10) io.consume(2);
    const buf = io.peek();
    const end = findHeadEnd(buf, scanned);
    if (end > ctx.maxHeaderBytes || (end < 0 && buf.length >= ctx.maxHeaderBytes)) {
      const lineEnds = buf.subarray(0, ctx.maxHeaderBytes).indexOf(10) >= 0;
      throw new HttpParseError(
        lineEnds ? 431 : 414,
        lineEnds ? `request head over ${ctx.maxHeaderBytes} bytes` : "request line too long",
      );
    }
    if (end > 0) {
      const head = buf.slice(0, end);
      io.consume(end);
      return head;
    }
    scanned = Math.max(0, buf.length - 3);
    const r = await io.fill(ctx.maxHeaderBytes + 4);
    if (r === "eof") return null;
    if (entry.phase === "idle") {
      setPhase(entry, "head");
      io.armRead(ctx.headerTimeoutMs, "header");
    }
  }
}

function buildRequest(
  head: RequestHead,
  ctx: ConnContext,
  body: ReadableStream<Uint8Array> | null,
): Request {
  const url = head.target.startsWith("/")
    ? `http://${head.host || ctx.authority}${head.target}`
    : head.target;
  const headers = new Headers();
  for (const [name, value] of head.headers) headers.append(name, value);
  try {
    return new Request(url, {
      method: head.method,
      headers,
      body,
      // @ts-ignore: `duplex` is required for stream bodies, missing from lib types
      duplex: "half",
    });
  } catch (e) {
    throw new HttpParseError(400, `invalid request (${String(e).split("\n")[0].slice(0, 80)})`);
  }
}

async function refuse(entry: ConnEntry, ctx: ConnContext, err: HttpParseError): Promise<void> {
  ctx.onBadRequest();
  setPhase(entry, "closing");
  try {
    await entry.io.write(errorBytes(err.status, err.message), ctx.writeTimeoutMs);
  } catch {
    entry.io.close();
    return;
  }
  await entry.io.lingerClose(LINGER_MS);
}

function isSocketError(e: unknown): boolean {
  const E = Deno.errors;
  return e instanceof E.BrokenPipe || e instanceof E.ConnectionReset ||
    e instanceof E.ConnectionAborted || e instanceof E.BadResource || e instanceof E.Interrupted ||
    e instanceof E.NotConnected;
}

/**
 * Serves requests on `entry` until it closes; never throws.
 */
export async function serveConnection(entry: ConnEntry, ctx: ConnContext): Promise<void> {
  const io = entry.io;
  const remoteAddr = io.conn.remoteAddr as Deno.NetAddr;
  try {
    io.armRead(ctx.headerTimeoutMs, "header");
    while (!io.closed) {
      let head: RequestHead;
      try {
        const bytes = await readHead(entry, ctx);
        if (bytes === null) break;
        io.disarmRead();
        setPhase(entry, "active");
        head = parseRequestHead(bytes, ctx.maxHeaderCount);
      } catch (e) {
        if (e instanceof HttpParseError) return await refuse(entry, ctx, e);
        throw e;
      }
      const hasBody = head.chunked || head.contentLength > 0;
      const passBody = hasBody && head.method !== "GET" && head.method !== "HEAD";
      const { stream, state } = requestBody(io, {
        length: head.contentLength,
        chunked: head.chunked,
        maxTrailerBytes: ctx.maxHeaderBytes,
        beforeFirstRead: head.expectContinue
          ? () => io.write(CONTINUE_BYTES, ctx.writeTimeoutMs)
          : undefined,
      });
      let res: Response;
      try {
        const req = buildRequest(head, ctx, passBody ? stream : null);
        res = await ctx.handler(req, { remoteAddr });
        if (!(res instanceof Response)) throw new TypeError("handler did not return a Response");
      } catch (e) {
        if (e instanceof HttpParseError) return await refuse(entry, ctx, e);
        if (state.error) return await refuse(entry, ctx, state.error);
        ctx.onError(e);
        res = new Response(JSON.stringify({ error: "internal error", status: 500 }), {
          status: 500,
          headers: { "content-type": "application/json; charset=utf-8" },
        });
      }
      if (state.error) ctx.onBadRequest();
      const keepAlive = await writeResponse(io, res, {
        head: head.method === "HEAD",
        keepAlive: head.keepAlive && state.done && !state.error && !entry.draining,
        http11: head.minor === 1,
        writeTimeoutMs: ctx.writeTimeoutMs,
      });
      entry.served++;
      if (!keepAlive) {
        setPhase(entry, "closing");
        await io.lingerClose(entry.draining ? 100 : LINGER_MS);
        break;
      }
      if (io.buffered > 0) {
        setPhase(entry, "head");
        io.armRead(ctx.headerTimeoutMs, "header");
      } else {
        setPhase(entry, "idle");
        io.armRead(ctx.idleTimeoutMs, "idle");
      }
    }
  } catch (e) {
    if (!io.closed && !isSocketError(e)) ctx.onError(e);
  } finally {
    io.close();
  }
}
