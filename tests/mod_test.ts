import { assertEquals } from "./assert.ts";
import { runProcess } from "./process.ts";

const root = new URL("../", import.meta.url);

function serveRepo(): { port: number; server: Deno.HttpServer } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(new URL(`.${path}`, root));
      return new Response(body, { headers: { "content-type": "application/typescript" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return { port: (server.addr as Deno.NetAddr).port, server };
}

Deno.test({
  name: "mod.ts imports by URL and builds the lite model when there is no deno.json",
  async fn() {
    const { port, server } = serveRepo();
    try {
      const script = `
        import { selectBackend, tf, U2Net } from "http://127.0.0.1:${port}/mod.ts";
        await selectBackend("cpu");
        const m = U2Net.create("lite");
        const y = tf.tidy(() => m.predict(tf.zeros([1, 32, 32, 3])));
        console.log(JSON.stringify({ params: m.numParameters(), shape: y.shape }));
      `;
      const out = await runProcess("deno", {
        args: ["run", "--no-config", "--no-lock", `--allow-import=127.0.0.1:${port}`, "-"],
        stdin: script,
        cwd: new URL("./testdata/", import.meta.url).pathname,
        deadlineMs: 180_000,
      });
      const stdout = out.stdout.trim();
      assertEquals(out.code, 0, out.stderr);
      assertEquals(JSON.parse(stdout.split("\n").pop()!), {
        params: 1128333,
        shape: [1, 32, 32, 1],
      });
    } finally {
      await server.shutdown();
    }
  },
});
