import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { serveHttp } from "../../lib/http/http_server.ts";
import { echoHandler, rawRequest, readReply, statuses, withHttpServer } from "./_raw_socket.ts";

/** A fetch deadline: a stuck server fails the test instead of hanging the suite. */
const deadline = () => AbortSignal.timeout(30_000);

const H = "Host: x\r\n";

Deno.test("serveHttp() answers fetch with the handler's status, headers, Date and Content-Length", async () => {
  await withHttpServer(
    (req) =>
      new Response(`hello ${new URL(req.url).search}`, { status: 201, headers: { "x-a": "1" } }),
    {},
    async (port, stats) => {
      const res = await fetch(`http://127.0.0.1:${port}/p?q=2`, { signal: deadline() });
      assertEquals(res.status, 201);
      assertEquals(res.headers.get("x-a"), "1");
      assertEquals(res.headers.get("content-length"), "10");
      assert(res.headers.get("date"));
      assertEquals(await res.text(), "hello ?q=2");
      assertEquals(stats.accepted, 1);
    },
  );
});

Deno.test("serveHttp() answers pipelined requests in order on one connection", async () => {
  await withHttpServer(echoHandler, {}, async (port) => {
    const r = await rawRequest(
      port,
      `GET /a HTTP/1.1\r\n${H}\r\nPOST /b HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc` +
        `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2;x=y\r\nab\r\n1\r\nc\r\n0\r\nT: 1\r\n\r\n` +
        `GET /d HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    );
    assertEquals(statuses(r.text), [200, 200, 200, 200]);
    const bodies = [...r.text.matchAll(/(GET|POST) \/\w -?\d+/g)].map((m) => m[0]);
    assertEquals(bodies, ["GET /a -1", "POST /b 3", "POST /c 3", "GET /d -1"]);
    assert(r.closed, "Connection: close was not honoured");
  });
});

Deno.test("serveHttp() streams a large request body to the handler and a streamed answer back", async () => {
  const size = 8 * 1024 * 1024;
  await withHttpServer(
    async (req) => {
      let n = 0, sum = 0;
      for await (const chunk of req.body!) {
        n += chunk.length;
        for (let i = 0; i < chunk.length; i++) sum = (sum * 31 + chunk[i]) % 1_000_003;
      }
      const parts = [`${n}`, ` ${sum}`];
      return new Response(
        new ReadableStream({
          pull: (c) =>
            parts.length ? c.enqueue(new TextEncoder().encode(parts.shift()!)) : c.close(),
        }),
      );
    },
    {},
    async (port) => {
      const body = new Uint8Array(size).map((_, i) => i % 251);
      let expected = 0;
      for (let i = 0; i < size; i++) expected = (expected * 31 + body[i]) % 1_000_003;
      for (const stream of [false, true]) {
        const res = await fetch(`http://127.0.0.1:${port}/up`, {
          signal: deadline(),
          method: "POST",
          body: stream ? new Blob([body]).stream() : body,
        });
        assertEquals(res.headers.get("transfer-encoding"), "chunked");
        assertEquals(await res.text(), `${size} ${expected}`);
      }
    },
  );
});

Deno.test("serveHttp() refuses Transfer-Encoding other than chunked, and with Content-Length", async () => {
  await withHttpServer(echoHandler, {}, async (port, stats) => {
    const gzip = await rawRequest(
      port,
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    );
    assertEquals(statuses(gzip.text), [501]);
    assert(gzip.closed && !gzip.reset);
    const both = await rawRequest(
      port,
      `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    );
    assertEquals(statuses(both.text), [400]);
    assertMatch(both.text, /both Content-Length and Transfer-Encoding/);
    assert(both.closed && !both.reset);
    const twoTe = await rawRequest(
      port,
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    assertEquals(statuses(twoTe.text), [501]);
    assertEquals(stats.badRequests, 3);
  });
});

Deno.test("serveHttp() answers 400 and closes, not resets, on a malformed chunk", async () => {
  await withHttpServer(echoHandler, {}, async (port) => {
    for (
      const chunks of [
        "zz\r\nhello\r\n0\r\n\r\n", // not hex
        "5\r\nhelloXX0\r\n\r\n", // missing CRLF after data
        "5\r\nhelloX", // a wrong byte where CRLF belongs, then nothing
        "5 \r\nhello\r\n0\r\n\r\n", // space after the size
        "123456789\r\n", // more than 8 hex digits
        "5\nhello\r\n0\r\n\r\n", // bare LF
        `1;${"e".repeat(5000)}\r\na\r\n0\r\n\r\n`, // extension abuse
      ]
    ) {
      const r = await rawRequest(
        port,
        `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunks}` +
          (chunks.endsWith("X") ? "" : "y".repeat(100_000)), // unread bytes must not cause a reset
      );
      assertEquals(statuses(r.text), [400], `${JSON.stringify(chunks.slice(0, 20))}: ${r.text}`);
      assert(r.closed && !r.reset, `${JSON.stringify(chunks.slice(0, 20))} reset the connection`);
    }
  });
});

Deno.test("serveHttp() refuses malformed heads: folding, bare LF, bad method, target and version", async () => {
  await withHttpServer(echoHandler, {}, async (port) => {
    const cases: [string, number][] = [
      [`GET / HTTP/1.1\r\n${H}X-A: 1\r\n  continued\r\n\r\n`, 400],
      [`GET / HTTP/1.1\n${H}\r\n`, 400],
      [`G(T / HTTP/1.1\r\n${H}\r\n`, 400],
      [`GET  / HTTP/1.1\r\n${H}\r\n`, 400],
      [`GET nope HTTP/1.1\r\n${H}\r\n`, 400],
      [`GET / HTTP/2.0\r\n${H}\r\n`, 505],
      [`GET / HTTX/1.1\r\n${H}\r\n`, 400],
      [`GET / HTTP/1.1\r\n\r\n`, 400], // no Host
      [`GET / HTTP/1.1\r\n${H}${H}\r\n`, 400],
      [`GET / HTTP/1.1\r\n${H}X-A : 1\r\n\r\n`, 400],
      [`POST / HTTP/1.1\r\n${H}Content-Length: 1, 1\r\n\r\nab`, 400],
      [`POST / HTTP/1.1\r\n${H}Expect: 200-ok\r\n\r\n`, 417],
    ];
    for (const [req, status] of cases) {
      const r = await rawRequest(port, req);
      assertEquals(statuses(r.text), [status], JSON.stringify(req));
      assert(r.closed, `${JSON.stringify(req)} left the connection open`);
    }
    const abs = await rawRequest(
      port,
      `GET http://y/abs HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n`,
    );
    assertMatch(abs.text, /GET \/abs -1/);
  });
});

Deno.test("serveHttp() answers 431 to a head over maxHeaderBytes or maxHeaderCount", async () => {
  await withHttpServer(echoHandler, { maxHeaderBytes: 4096, maxHeaderCount: 10 }, async (port) => {
    const big = await rawRequest(port, `GET / HTTP/1.1\r\n${H}X-Big: ${"a".repeat(5000)}\r\n\r\n`);
    assertEquals(statuses(big.text), [431]);
    assert(big.closed && !big.reset);
    const many = Array.from({ length: 11 }, (_, i) => `X-${i}: 1\r\n`).join("");
    assertEquals(statuses((await rawRequest(port, `GET / HTTP/1.1\r\n${many}\r\n`)).text), [431]);
    const line = await rawRequest(port, `GET /${"a".repeat(5000)} HTTP/1.1\r\n\r\n`);
    assertEquals(statuses(line.text), [414]);
    const ok = await rawRequest(
      port,
      `GET / HTTP/1.1\r\n${H}X-Ok: ${"a".repeat(3000)}\r\nConnection: close\r\n\r\n`,
    );
    assertEquals(statuses(ok.text), [200]);
  });
});

Deno.test("serveHttp() sends 100 Continue before the body is read, and no body for HEAD", async () => {
  await withHttpServer(echoHandler, {}, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode(
        `POST /e HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`,
      ));
      const interim = await readReply(conn, 2000, (t) => t.includes("\r\n\r\n"));
      assertEquals(statuses(interim.text), [100]);
      await conn.write(
        new TextEncoder().encode(`abcdHEAD /h HTTP/1.1\r\n${H}Connection: close\r\n\r\n`),
      );
      const rest = await readReply(conn, 2000);
      assertEquals(statuses(rest.text), [200, 200]);
      assertMatch(rest.text, /POST \/e 4/);
      assert(!rest.text.includes("HEAD /h"), "HEAD got a body");
    } finally {
      conn.close();
    }
  });
});

Deno.test("serveHttp() answers 500 when the handler throws and keeps serving", async () => {
  const errors: unknown[] = [];
  await withHttpServer(
    (req) => {
      if (req.url.endsWith("/boom")) throw new Error("boom");
      return new Response("ok");
    },
    { onError: (e) => errors.push(e) },
    async (port) => {
      const bad = await fetch(`http://127.0.0.1:${port}/boom`, { signal: deadline() });
      assertEquals(bad.status, 500);
      await bad.body?.cancel();
      const fine = await fetch(`http://127.0.0.1:${port}/fine`, { signal: deadline() });
      assertEquals(await fine.text(), "ok");
      assertEquals(errors.length, 1);
    },
  );
});

Deno.test("serveHttp() keeps HTTP/1.0 connections open only with Connection: keep-alive", async () => {
  await withHttpServer(echoHandler, {}, async (port) => {
    const plain = await rawRequest(port, "GET /a HTTP/1.0\r\n\r\n");
    assert(plain.closed && /connection: close/i.test(plain.text));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(
        new TextEncoder().encode("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
      );
      const r = await readReply(conn, 500, (t) => /GET \/a -1$/.test(t));
      assert(!r.closed && /connection: keep-alive/i.test(r.text), r.text);
    } finally {
      conn.close();
    }
  });
});

Deno.test("serveHttp() refuses invalid limits and throws AddrInUse for a busy port", async () => {
  assertThrows(
    () => serveHttp(echoHandler, { port: 0, maxConnections: 0 }),
    RangeError,
    "maxConnections",
  );
  const server = serveHttp(echoHandler, { port: 0 });
  try {
    assertThrows(() => serveHttp(echoHandler, { port: server.addr.port }), Deno.errors.AddrInUse);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveHttp() answers 500 when the answer's body stream fails before its first bytes", async () => {
  const errors: unknown[] = [];
  await withHttpServer(
    () => new Response(new ReadableStream({ pull: (c) => c.error(new Error("stream broke")) })),
    { onError: (e) => errors.push(e) },
    async (port) => {
      const r = await rawRequest(port, `GET / HTTP/1.1\r\n${H}\r\n`);
      assertEquals(statuses(r.text), [500]);
      assert(r.closed);
      assertEquals(errors.length, 1);
    },
  );
});
