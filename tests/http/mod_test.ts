import { assert, assertEquals } from "../assert.ts";
import * as http from "../../lib/http/mod.ts";

/** Local modules reachable from `entry` through static and dynamic imports. */
async function localGraph(entry: URL): Promise<Set<string>> {
  const seen = new Set<string>();
  const todo = [entry.href];
  while (todo.length) {
    const href = todo.pop()!;
    if (seen.has(href)) continue;
    seen.add(href);
    const text = await Deno.readTextFile(new URL(href));
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      todo.push(new URL(m[1], href).href);
    }
  }
  return seen;
}

for (const entry of ["mod.ts", "_predict_worker.ts"]) {
  Deno.test(`lib/http/${entry} loads without the training code`, async () => {
    const graph = await localGraph(new URL(`../../lib/http/${entry}`, import.meta.url));
    assert(graph.size > 10, `${graph.size} modules`);
    const training = [...graph].filter((h) => h.includes("/lib/train/") || h.includes("/cli/"));
    assertEquals(training, []);
  });
}

Deno.test("lib/http/mod.ts exports the handler, the app and the server pieces", () => {
  for (
    const name of [
      "createPredictHandler",
      "createApp",
      "createQueue",
      "errorResponse",
      "createWorkerPool",
      "createInThreadService",
      "parsePredictQuery",
      "createCors",
      "ByteBudget",
      "serveHttp",
      "createHttpServerStats",
    ]
  ) {
    assertEquals(typeof (http as Record<string, unknown>)[name], "function", name);
  }
});

Deno.test("lib/http/mod.ts exports no engine, predictor or tf (those are ./engines, ./predict, ./model)", () => {
  const names = [
    "tf",
    "createEngine",
    "GpuEngine",
    "CpuEngine",
    "CpuWeightCache",
    "GpuTrainer",
    "createPredictor",
    "renderPng",
    "U2Net",
  ];
  assertEquals(names.filter((name) => name in http), []);
});
