import { assert, assertEquals, assertMatch } from "../assert.ts";
import { closeAll, echoHandler, readReply, statuses, withHttpServer } from "./_raw_socket.ts";

const enc = new TextEncoder();

async function connectAll(port: number, n: number, send: string): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    conns.push(c);
    if (send) await c.write(enc.encode(send));
  }
  return conns;
}

Deno.test("serveHttp() closes a connection whose request head does not arrive within headerTimeoutMs", async () => {
  await withHttpServer(echoHandler, { headerTimeoutMs: 300 }, async (port, stats) => {
    const [half, silent] = await connectAll(port, 2, "");
    await half.write(enc.encode("GET /heal"));
    try {
      const [a, b] = await Promise.all([readReply(half, 3000), readReply(silent, 3000)]);
      assert(a.closed && b.closed, "a connection was not closed");
      assert(a.ms > 200 && a.ms < 2000, `closed after ${a.ms} ms`);
      assertEquals(stats.headerTimeouts, 2);
      assertEquals(stats.open, 0);
    } finally {
      closeAll([half, silent]);
    }
  });
});

Deno.test("serveHttp() closes a kept-alive connection idle for idleTimeoutMs", async () => {
  await withHttpServer(echoHandler, { idleTimeoutMs: 300 }, async (port, stats) => {
    const [conn] = await connectAll(port, 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    try {
      const r = await readReply(conn, 3000);
      assertEquals(statuses(r.text), [200]);
      assert(r.closed && r.ms > 200 && r.ms < 2000, `closed ${r.closed} after ${r.ms} ms`);
      assertEquals([stats.idleTimeouts, stats.headerTimeouts], [1, 0]);
    } finally {
      closeAll([conn]);
    }
  });
});

Deno.test("serveHttp() at maxConnections evicts slowloris connections so a real request gets 200", async () => {
  await withHttpServer(echoHandler, { maxConnections: 8 }, async (port, stats) => {
    const attackers = await connectAll(port, 20, "GET / HTTP/1.1\r\nHo");
    try {
      const res = await fetch(`http://127.0.0.1:${port}/real`);
      assertEquals(await res.text(), "GET /real -1");
      assert(stats.evicted >= 12, `evicted ${stats.evicted}`);
      assert(stats.open <= 8, `open ${stats.open}`);
      const firsts = await Promise.all(attackers.slice(0, 12).map((c) => readReply(c, 2000)));
      assert(firsts.every((r) => r.closed || r.reset), "the oldest attackers were not closed");
    } finally {
      closeAll(attackers);
    }
  });
});

Deno.test("serveHttp() at maxConnections with every connection busy answers 503 with Retry-After", async () => {
  let release = () => {};
  const gate = new Promise<void>((done) => release = done);
  await withHttpServer(
    async () => {
      await gate;
      return new Response("done");
    },
    { maxConnections: 2 },
    async (port, stats) => {
      const busy = await connectAll(port, 2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      try {
        while (stats.open < 2) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, 50));
        const res = await fetch(`http://127.0.0.1:${port}/`);
        assertEquals(res.status, 503);
        assertEquals(res.headers.get("retry-after"), "1");
        await res.body?.cancel();
        assertEquals(stats.rejected, 1);
        release();
        const r = await readReply(busy[0], 2000, (t) => t.endsWith("done"));
        assertEquals(statuses(r.text), [200]);
      } finally {
        release();
        closeAll(busy);
      }
    },
  );
});

Deno.test("serveHttp() closes a client that never reads after writeTimeoutMs", async () => {
  const chunk = new Uint8Array(1 << 20);
  await withHttpServer(
    () => new Response(new ReadableStream({ pull: (c) => c.enqueue(chunk) })),
    { writeTimeoutMs: 300 },
    async (port, stats) => {
      const [conn] = await connectAll(port, 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      try {
        const end = Date.now() + 10_000;
        while (stats.writeTimeouts === 0 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assertEquals(stats.writeTimeouts, 1);
        assertEquals(stats.open, 0);
      } finally {
        closeAll([conn]);
      }
    },
  );
});

Deno.test("serveHttp() shutdown() closes idle connections and finishes an answer in flight", async () => {
  let started = () => {};
  const inFlight = new Promise<void>((done) => started = done);
  const { serveHttp } = await import("../../lib/http/http_server.ts");
  const server = serveHttp(async () => {
    started();
    await new Promise((r) => setTimeout(r, 200));
    return new Response("late");
  }, { port: 0 });
  const [idle, active] = await connectAll(server.addr.port, 2, "");
  try {
    await active.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await inFlight;
    await server.shutdown();
    const [a, b] = await Promise.all([readReply(idle, 2000), readReply(active, 2000)]);
    assert(a.closed, "idle connection left open");
    assertEquals(statuses(b.text), [200]);
    assertMatch(b.text, /connection: close[\s\S]*late$/);
  } finally {
    closeAll([idle, active]);
  }
});
