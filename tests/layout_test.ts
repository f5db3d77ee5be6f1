/**
 * The folder rules (CONVENTIONS.md, issue 17 "Folders that show it") as a
 * test: a `_x.ts` file is private to its folder, an import in `lib/` only
 * goes down the layer order, and `lib/` has no import cycles, between files
 * or between folders.
 *
 * Imports are read from the source text: relative specifiers in
 * `from "…"`, `import "…"`, `import("…")` and `new URL("…", import.meta.url)`,
 * on lines that are not comments (JSDoc examples are skipped). Type-only
 * imports count: they tie the files together just the same. A `new URL` edge
 * (a worker or a data file loaded at run time) counts for the privacy and
 * layer rules but not for cycles: the worker runs in its own module graph.
 */
import { assert, assertEquals } from "./assert.ts";

const root = new URL("../", import.meta.url);

/**
 * The layer of every `lib/` folder: an import may go to a lower or equal
 * layer, never to a higher one. `lib/*.ts` (deps, backend) sits under all.
 * Sub-folders of `lib/kernels/` belong to `lib/kernels`.
 */
const LAYERS: Readonly<Record<string, number>> = {
  "lib": 0,
  "lib/net": 1,
  "lib/io": 2,
  "lib/data": 2,
  "lib/kernels": 3,
  "lib/engines/tfjs": 4,
  "lib/model": 5,
  "lib/optim": 6,
  "lib/engines/memory": 6.5,
  "lib/engines": 7,
  "lib/engines/gpu": 7,
  "lib/engines/cpu": 7,
  "lib/engines/onnx": 7,
  "lib/predict": 8,
  "lib/eval": 9,
  "lib/train": 10,
  "lib/http": 11,
};

/** One relative import: `from` and `to` are repository paths. */
interface Edge {
  from: string;
  to: string;
  /** `url`: a `new URL("…", import.meta.url)` reference, loaded at run time. */
  kind: "import" | "url";
}

const SPEC =
  /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\bnew\s+URL\(\s*)(["'])(\.{1,2}\/[^"'\n]+)\2/g;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `a/b/../c/./d.ts` -> `a/c/d.ts`. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") out.pop();
    else if (part !== "." && part !== "") out.push(part);
  }
  return out.join("/");
}

/** The layer unit of a `lib/` file: its folder, `lib/kernels/<op>` counted as `lib/kernels`. */
function unitOf(path: string): string {
  const dir = dirOf(path);
  return dir.startsWith("lib/kernels/") ? "lib/kernels" : dir;
}

async function listTs(dir: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(new URL(dir, root))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (e.name !== "testdata" && e.name !== ".tmp" && !e.name.startsWith(".")) {
        await listTs(path, out);
      }
    } else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
}

/** Relative imports of one file, comment lines skipped. */
function importsOf(path: string, text: string): Edge[] {
  const edges: Edge[] = [];
  for (const line of text.split("\n")) {
    const t = line.trimStart();
    if (t.startsWith("*") || t.startsWith("//") || t.startsWith("/*")) continue;
    for (const m of line.matchAll(SPEC)) {
      const kind = m[1].startsWith("new") ? "url" : "import";
      edges.push({ from: path, to: normalize(`${dirOf(path)}/${m[3]}`), kind });
    }
  }
  return edges;
}

const files: string[] = [];
for (const dir of ["lib", "cli", "bench", "tests"]) await listTs(dir, files);
files.sort();
const edges: Edge[] = [];
for (const f of files) edges.push(...importsOf(f, await Deno.readTextFile(new URL(f, root))));
const libEdges = edges.filter((e) =>
  e.from.startsWith("lib/") && e.to.startsWith("lib/") && e.to.endsWith(".ts")
);

/** Strongly connected components with more than one node (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

function addEdge(graph: Map<string, Set<string>>, from: string, to: string): void {
  if (!graph.has(from)) graph.set(from, new Set());
  graph.get(from)!.add(to);
}

Deno.test("the folder rules read every .ts file of lib/, cli/, bench/ and tests/", () => {
  for (const dir of ["lib/", "cli/", "bench/", "tests/"]) {
    assert(files.some((f) => f.startsWith(dir)), `no .ts file under ${dir}`);
  }
  assert(libEdges.length > 100, `${libEdges.length} imports inside lib/`);
  const exists = (path: string) => {
    try {
      return Deno.statSync(new URL(path, root)).isFile;
    } catch {
      return false;
    }
  };
  const missing = edges.filter((e) => e.kind === "import" && !exists(e.to));
  assertEquals(
    missing.map((e) => `${e.from} -> ${e.to}`),
    [],
    "imports of files that do not exist",
  );
});

Deno.test("every lib/ folder has a place in the layer order", () => {
  const units = [...new Set(files.filter((f) => f.startsWith("lib/")).map(unitOf))].sort();
  assertEquals(units.filter((u) => !(u in LAYERS)), []);
});

Deno.test("no file in lib/, cli/, bench/ or tests/ imports another folder's _ files", () => {
  const bad = edges.filter((e) => baseOf(e.to).startsWith("_") && dirOf(e.to) !== dirOf(e.from))
    .map((e) => `${e.from} -> ${e.to}`);
  assertEquals(bad, []);
});

Deno.test("no import in lib/ climbs the layer order", () => {
  const bad = libEdges.filter((e) => {
    const from = unitOf(e.from), to = unitOf(e.to);
    return from !== to && from !== "lib" && (LAYERS[to] ?? Infinity) > (LAYERS[from] ?? -Infinity);
  }).map((e) => `${e.from} (${unitOf(e.from)}) -> ${e.to} (${unitOf(e.to)})`);
  assertEquals(bad, []);
});

Deno.test("lib/ files import each other without cycles", () => {
  const graph = new Map<string, Set<string>>();
  for (const e of libEdges) if (e.kind === "import") addEdge(graph, e.from, e.to);
  assertEquals(cycles(graph), []);
});

Deno.test("lib/ folders import each other without cycles", () => {
  const graph = new Map<string, Set<string>>();
  for (const e of libEdges) {
    const from = unitOf(e.from), to = unitOf(e.to);
    if (e.kind === "import" && from !== to) addEdge(graph, from, to);
  }
  assertEquals(cycles(graph), []);
});
