/**
 * A request body as a pull-driven `ReadableStream` (backpressure: nothing
 * is read from the socket until the handler asks), framed by
 * `Content-Length` or strict chunked coding, for `lib/http/http_server.ts`.
 *
 * @module
 */
import type { ConnIo } from "./_conn_io.ts";
import { HttpParseError, parseChunkSize } from "./_http1_parse.ts";

const MAX_CHUNK_LINE = 4096;
const MAX_EXTENSION_BYTES = 16 * 1024;
const READ_SIZE = 64 * 1024;

/** What became of a body stream. */
export interface BodyState {
  /** Read to its end: the next request may follow on the connection. */
  done: boolean;
  /** A framing error (the connection must close after a 400). */
  error?: HttpParseError;
  /** Set on the first pull (to send `100 Continue` before it). */
  pulled: boolean;
}

/** Framing and hooks of {@linkcode requestBody}. */
export interface RequestBodyOptions {
  /** `Content-Length` (ignored when chunked). */
  length: number;
  /** Chunked coding. */
  chunked: boolean;
  /** Largest trailer section, in bytes. */
  maxTrailerBytes: number;
  /** Runs before the first socket read (e.g. writes `100 Continue`). */
  beforeFirstRead?: () => Promise<void>;
}

async function readLine(io: ConnIo, max: number): Promise<Uint8Array> {
  let scanned = 0;
  while (true) {
    const buf = io.peek();
    for (let i = scanned; i < buf.length; i++) {
      if (buf[i] !== 10) continue;
      if (i === 0 || buf[i - 1] !== 13) throw new HttpParseError(400, "bare LF in chunked body");
      const line = buf.slice(0, i - 1);
      io.consume(i + 1);
      return line;
    }
    scanned = buf.length;
    if (buf.length > max) throw new HttpParseError(400, "chunk line too long");
    const r = await io.fill(max + 2);
    if (r === "eof") throw new HttpParseError(400, "body ended early");
    if (r === "full") throw new HttpParseError(400, "chunk line too long");
  }
}

async function expectCrlf(io: ConnIo): Promise<void> {
  while (true) {
    const b = io.peek();
    if ((b.length >= 1 && b[0] !== 13) || (b.length >= 2 && b[1] !== 10)) {
      throw new HttpParseError(400, "missing CRLF after chunk data");
    }
    if (b.length >= 2) return io.consume(2);
    if ((await io.fill(4096)) === "eof") throw new HttpParseError(400, "body ended early");
  }
}

/**
 * The body of a request on `io` and its live state.
 */
export function requestBody(
  io: ConnIo,
  options: RequestBodyOptions,
): { stream: ReadableStream<Uint8Array>; state: BodyState } {
  const state: BodyState = { done: false, pulled: false };
  let remaining = options.chunked ? 0 : options.length;
  let extensionBytes = 0;
  let lastChunk = false;

  async function next(): Promise<Uint8Array | null> {
    if (!options.chunked) {
      if (remaining === 0) return null;
      const data = await io.take(Math.min(remaining, READ_SIZE));
      if (data === null) throw new HttpParseError(400, "body ended early");
      remaining -= data.length;
      return data;
    }
    while (remaining === 0) {
      if (lastChunk) return null;
      const line = await readLine(io, MAX_CHUNK_LINE);
      const size = parseChunkSize(line);
      const semi = line.indexOf(59);
      if (semi >= 0 && (extensionBytes += line.length - semi) > MAX_EXTENSION_BYTES) {
        throw new HttpParseError(400, "too many chunk extension bytes");
      }
      if (size === 0) {
        let trailer = 0;
        while (true) {
          const t = await readLine(io, options.maxTrailerBytes);
          if (!t.length) break;
          if ((trailer += t.length + 2) > options.maxTrailerBytes) {
            throw new HttpParseError(400, "trailer section too large");
          }
        }
        lastChunk = true;
        return null;
      }
      remaining = size;
    }
    const data = await io.take(Math.min(remaining, READ_SIZE));
    if (data === null) throw new HttpParseError(400, "body ended early");
    remaining -= data.length;
    if (remaining === 0) await expectCrlf(io);
    return data;
  }

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!state.pulled) {
        state.pulled = true;
        await options.beforeFirstRead?.();
      }
      try {
        const data = await next();
        if (data === null) {
          state.done = true;
          controller.close();
        } else controller.enqueue(data);
      } catch (e) {
        const err = e instanceof HttpParseError ? e : new HttpParseError(400, String(e));
        state.error = err;
        controller.error(err);
      }
    },
  }, { highWaterMark: 0 });
  if (!options.chunked && options.length === 0) state.done = true;
  return { stream, state };
}
