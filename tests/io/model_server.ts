/**
 * A stand-in for the model release host on 127.0.0.1: serves the u2netp-form
 * fixture (tests/testdata/lite_orig.onnx) under `/u2netp.onnx`, plus broken
 * variants (a 404, a transfer cut after half the bytes, a body without
 * Content-Length that is too short), and writes a manifest with the
 * fixture's real size and md5.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The fixture, its size and md5. */
export const FIXTURE_PATH = "tests/testdata/lite_orig.onnx";
export const FIXTURE = await Deno.readFile(FIXTURE_PATH);
export const FIXTURE_MD5 = createHash("md5").update(FIXTURE).digest("hex");

/** A running stand-in. */
export interface ModelServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  baseUrl: string;
  /** Requests served, by path. */
  hits: string[];
  /** Stops it (waits until closed). */
  close(): Promise<void>;
}

/**
 * Starts the stand-in. Paths: `/u2netp.onnx` (the fixture), `/cut/u2netp.onnx`
 * (declares the full length, sends half, closes), `/short/u2netp.onnx` (no
 * Content-Length, half the bytes), anything else 404.
 */
export function startModelServer(): ModelServer {
  const hits: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const handlers: Promise<void>[] = [];
  const enc = new TextEncoder();
  async function write(conn: Deno.Conn, data: Uint8Array) {
    for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
  }
  async function handle(conn: Deno.Conn) {
    conns.add(conn);
    try {
      const buf = new Uint8Array(8192);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      const path = head.split(" ")[1] ?? "/";
      hits.push(path);
      const half = FIXTURE.subarray(0, FIXTURE.length >> 1);
      const ok =
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n";
      if (path === "/u2netp.onnx") {
        await write(conn, enc.encode(`${ok}content-length: ${FIXTURE.length}\r\n\r\n`));
        await write(conn, FIXTURE);
      } else if (path === "/cut/u2netp.onnx") {
        await write(conn, enc.encode(`${ok}content-length: ${FIXTURE.length}\r\n\r\n`));
        await write(conn, half);
      } else if (path === "/short/u2netp.onnx") {
        await write(conn, enc.encode(`${ok}\r\n`));
        await write(conn, half);
      } else {
        await write(
          conn,
          enc.encode(
            "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
          ),
        );
      }
    } catch {
      // the client went away
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  }
  const loop = (async () => {
    try {
      for await (const conn of listener) handlers.push(handle(conn));
    } catch {
      // listener closed
    }
  })();
  const { port } = listener.addr as Deno.NetAddr;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    hits,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
      await loop;
      await Promise.all(handlers);
    },
  };
}

/** Writes a manifest giving `u2netp` the fixture's size and md5 (or `md5`); returns its path. */
export async function writeFixtureManifest(dir: string, md5 = FIXTURE_MD5): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/manifest.json`;
  await Deno.writeTextFile(path, JSON.stringify({ u2netp: { bytes: FIXTURE.length, md5 } }));
  return path;
}

/** A fresh empty folder under tests/.tmp. */
export async function freshDir(name: string): Promise<string> {
  const dir = `tests/.tmp/model_zoo/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** A 127.0.0.1 URL nothing listens on (a port just released). */
export function refusedBaseUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return `http://127.0.0.1:${port}`;
}
