/**
 * A buffered TCP connection for `lib/http/http_server.ts`: reads into a
 * growable buffer, writes with a no-progress deadline, read deadlines that
 * close the connection, a lingering close (so unread request bytes do not
 * turn the answer into a TCP reset), and a close that never throws.
 *
 * @module
 */

/** Why a connection's timer closed it. */
export type TimeoutKind = "header" | "idle" | "write" | "linger";

/** What {@linkcode ConnIo.fill} found. */
export type FillResult = "data" | "eof" | "full";

const INITIAL_BUFFER = 4096;
const DIRECT_READ = 64 * 1024;

/** A buffered connection. */
export class ConnIo {
  /** The socket. */
  readonly conn: Deno.Conn;
  /** Closed (by us, a timer or an eviction). */
  closed = false;
  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  #readTimer: ReturnType<typeof setTimeout> | undefined;
  #writeTimer: ReturnType<typeof setTimeout> | undefined;
  #onTimeout: (kind: TimeoutKind) => void;

  /**
   * Wraps `conn`.
   *
   * @param conn The accepted socket.
   * @param onTimeout Called before a timer closes the connection.
   */
  constructor(conn: Deno.Conn, onTimeout: (kind: TimeoutKind) => void) {
    this.conn = conn;
    this.#onTimeout = onTimeout;
  }

  /** Bytes buffered and not consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The buffered bytes (a view, valid until the next fill). */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Drops `n` buffered bytes. */
  consume(n: number): void {
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Reads more bytes into the buffer, growing it up to `cap` bytes. */
  async fill(cap: number): Promise<FillResult> {
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else if (this.#buf.length >= cap) {
        return "full";
      } else {
        const grown = new Uint8Array(Math.min(cap, this.#buf.length * 2));
        grown.set(this.#buf.subarray(0, this.#end));
        this.#buf = grown;
      }
    }
    const n = await this.#read(this.#buf.subarray(this.#end));
    if (n === null) return "eof";
    this.#end += n;
    return "data";
  }

  /** Up to `max` body bytes (a fresh array), or null at end of stream. */
  async take(max: number): Promise<Uint8Array | null> {
    if (this.buffered > 0) {
      const n = Math.min(max, this.buffered);
      const out = this.#buf.slice(this.#start, this.#start + n);
      this.consume(n);
      return out;
    }
    const out = new Uint8Array(Math.min(max, DIRECT_READ));
    const n = await this.#read(out);
    return n === null ? null : out.subarray(0, n);
  }

  async #read(into: Uint8Array): Promise<number | null> {
    if (this.closed) return null;
    try {
      return await this.conn.read(into);
    } catch {
      return null; // reset by the peer, or closed under us: the end either way
    }
  }

  /** Writes all of `bytes`; a write that makes no progress for `timeoutMs` closes. */
  async write(bytes: Uint8Array, timeoutMs: number): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      if (this.closed) throw new Deno.errors.BrokenPipe("connection closed");
      this.#writeTimer = setTimeout(() => this.#expire("write"), timeoutMs);
      try {
        off += await this.conn.write(bytes.subarray(off));
      } finally {
        clearTimeout(this.#writeTimer);
      }
    }
  }

  /** Closes the connection (calling `onTimeout` first) unless disarmed within `ms`. */
  armRead(ms: number, kind: TimeoutKind): void {
    clearTimeout(this.#readTimer);
    this.#readTimer = setTimeout(() => this.#expire(kind), ms);
  }

  /** Cancels {@linkcode armRead}. */
  disarmRead(): void {
    clearTimeout(this.#readTimer);
    this.#readTimer = undefined;
  }

  #expire(kind: TimeoutKind): void {
    if (this.closed) return;
    this.#onTimeout(kind);
    this.close();
  }

  /**
   * Ends our side, then reads and drops what the client still sends (at
   * most `maxBytes`, for at most `ms`) before closing, so the answer
   * already written is not destroyed by a reset.
   */
  async lingerClose(ms: number, maxBytes = 1 << 20): Promise<void> {
    if (this.closed) return;
    try {
      await this.conn.closeWrite();
    } catch {
      this.close();
      return;
    }
    this.armRead(ms, "linger");
    let dropped = this.buffered;
    this.consume(this.buffered);
    while (dropped < maxBytes && !this.closed) {
      const chunk = await this.take(DIRECT_READ);
      if (chunk === null) break;
      dropped += chunk.length;
    }
    this.close();
  }

  /** Closes now (idempotent, never throws). */
  close(): void {
    this.disarmRead();
    clearTimeout(this.#writeTimer);
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // already gone
    }
  }
}
