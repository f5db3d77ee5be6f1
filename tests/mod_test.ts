import { assert, assertEquals } from "./assert.ts";
import { runProcess } from "./process.ts";

const root = new URL("../", import.meta.url);
const canRun = Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted";

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
  name: "mod.ts and ./model import by URL and build the lite model when there is no deno.json",
  async fn() {
    const { port, server } = serveRepo();
    try {
      const script = `
        import { selectBackend, U2Net } from "http://127.0.0.1:${port}/mod.ts";
        import { tf } from "http://127.0.0.1:${port}/lib/model/mod.ts";
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

/** The top-level symbols of each entry point of deno.json's `exports`, by `deno doc --json`. */
async function entrySymbols(): Promise<Map<string, Set<string>>> {
  const exports: Record<string, string> =
    JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).exports;
  const r = await runProcess("deno", {
    args: ["doc", "--json", ...Object.values(exports)],
    cwd: root.pathname,
    deadlineMs: 120_000,
  });
  assertEquals(r.code, 0, r.stderr);
  const nodes: Record<string, { symbols: { name: string }[] }> = JSON.parse(r.stdout).nodes;
  const out = new Map<string, Set<string>>();
  for (const [key, path] of Object.entries(exports)) {
    const node = nodes[new URL(path, root).href];
    assert(node, `deno doc has no ${path}`);
    out.set(key, new Set(node.symbols.map((s) => s.name)));
  }
  return out;
}

Deno.test({
  name: "the root exports under 40 symbols, tf comes from ./model only, ./http has no engines",
  ignore: !canRun,
  async fn() {
    const entries = await entrySymbols();
    const rootSymbols = entries.get(".")!;
    assert(rootSymbols.size < 40, `${rootSymbols.size} root symbols: ${[...rootSymbols]}`);
    for (
      const name of [
        "U2Net",
        "U2NET_FULL",
        "U2NET_LITE",
        "loadWeights",
        "readWeights",
        "saveSafetensors",
        "createPredictor",
        "createBackgroundRemover",
        "createEngine",
        "train",
        "evaluate",
        "criterion",
        "createLrScheduler",
        "getParamsGroups",
        "AdamW",
        "selectBackend",
        "exportOnnx",
      ]
    ) assert(rootSymbols.has(name), `the root lacks ${name}`);
    const withTf = [...entries].filter(([, names]) => names.has("tf")).map(([key]) => key);
    assertEquals(withTf, ["./model"]);
    const http = entries.get("./http")!;
    const engines = ["createEngine", "GpuEngine", "CpuEngine", "GpuTrainer", "createPredictor"];
    assertEquals(engines.filter((name) => http.has(name)), []);
  },
});

Deno.test("deno.json exports the root and every lib/*/mod.ts", async () => {
  const exports: Record<string, string> =
    JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).exports;
  const mods: string[] = [];
  for await (const e of Deno.readDir(new URL("lib/", root))) {
    if (!e.isDirectory) continue;
    try {
      await Deno.stat(new URL(`lib/${e.name}/mod.ts`, root));
      mods.push(`./lib/${e.name}/mod.ts`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  assertEquals(exports["."], "./mod.ts");
  assertEquals(Object.values(exports).filter((p) => p !== "./mod.ts").sort(), mods.sort());
  for (const [key, path] of Object.entries(exports)) {
    if (key !== ".") assertEquals(path, `./lib/${key.slice(2)}/mod.ts`);
  }
});
