/**
 * The package as a newcomer meets it: the README's first commands, the CI
 * script that runs them, and what `deno publish` would ship.
 */
import { assert, assertEquals } from "./assert.ts";
import { runProcess } from "./process.ts";

const root = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));
const ci = await Deno.readTextFile(new URL(".ci/run", root));
const canRun = Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted";

/** The `npx …` lines of the README's first sh block, comments stripped (as .ci/run reads them). */
function readmeCommands(text: string): string[] {
  const block = /^```sh\n([\s\S]*?)^```/m.exec(text)?.[1] ?? "";
  return block.split("\n").filter((l) => l.startsWith("npx ")).map((l) => l.replace(/\s*#.*$/, ""));
}

Deno.test("README's first two commands train the demo, then run the test suite", () => {
  const commands = readmeCommands(readme);
  assertEquals(commands.slice(0, 2), [
    "npx -y deno@2.9.6 task train",
    "npx -y deno@2.9.6 task test",
  ]);
});

Deno.test(".ci/run runs the README's commands from the README, the first before the second", () => {
  assert(ci.includes("README.md"), ".ci/run does not read the README");
  const first = ci.indexOf('"${first[@]}"'), second = ci.indexOf('"${second[@]}"');
  assert(first > 0 && second > first, "the first README command must run before the second");
  assert(ci.includes("commands[0]") && ci.includes("commands[1]"));
  assert(/tests: \$\{passed\} passed, \$\{failed\} failed/.test(ci), "no closing summary line");
});

Deno.test("deno task test:fast runs the test task, ignoring only test files that exist", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  assert(/ tests\/"?$/.test(tasks.test), "the test task runs tests/");
  assert(tasks.ok.endsWith("deno task test"), "deno task ok runs the full suite");
  const m = /^U2NET_TEST_BACKENDS=cpu deno task test '--ignore=([^']+)'$/.exec(tasks["test:fast"]);
  assert(m, tasks["test:fast"]);
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, root))) {
      if (e.isDirectory && e.name !== ".tmp" && e.name !== "testdata") {
        await walk(`${dir}${e.name}/`);
      } else if (e.name.endsWith("_test.ts")) files.push(`${dir}${e.name}`);
    }
  };
  await walk("tests/");
  const ignored = new Set<string>();
  for (const pattern of m[1].split(",")) {
    const re = new RegExp(
      `^${
        pattern.split("**/").map((part) => part.replace(/\./g, "\\.").replace(/\*/g, "[^/]*"))
          .join("(?:.*/)?")
      }$`,
    );
    const hits = files.filter((f) => re.test(f));
    assert(hits.length > 0, `test:fast ignores ${pattern}, which matches no test file`);
    hits.forEach((f) => ignored.add(f));
  }
  assert(files.length - ignored.size >= ignored.size, "the fast tier runs most test files");
});

Deno.test("deno.lock pins no test-only package: onnxruntime-node lives in deno.dev.lock, which only the test, ok and bench:ort tasks read", async () => {
  const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", root)));
  const dev = JSON.parse(await Deno.readTextFile(new URL("deno.dev.lock", root)));
  const names = (l: { npm?: Record<string, unknown> }) => Object.keys(l.npm ?? {}).join(" ");
  assert(
    !/onnxruntime/.test(names(lock)),
    "deno.lock pins onnxruntime: rerun with --lock=deno.dev.lock",
  );
  assert(/onnxruntime-node@/.test(names(dev)), "deno.dev.lock lacks onnxruntime-node");
  const tasks: Record<string, string> =
    JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  for (const [name, task] of Object.entries(tasks)) {
    const dev = /--lock=deno\.dev\.lock/.test(task);
    assertEquals(dev, ["test", "ok", "bench:ort"].includes(name), `task ${name}: ${task}`);
  }
});

Deno.test({
  name: "deno publish --dry-run accepts the package, ships every entry point and no tests or runs",
  ignore: !canRun,
  async fn() {
    const r = await runProcess("deno", {
      args: ["publish", "--dry-run", "--allow-dirty"],
      cwd: root.pathname,
      deadlineMs: 180_000,
    });
    const text = r.stdout + r.stderr;
    assertEquals(r.code, 0, text);
    const shipped = [...text.matchAll(/^\s+file:\/\/(\S+) \(/gm)].map((m) =>
      m[1].slice(root.pathname.length)
    );
    assert(shipped.length > 0, text);
    const exports: Record<string, string> =
      JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).exports;
    const entries = Object.values(exports).map((p) => p.replace(/^\.\//, ""));
    for (const f of ["LICENSE", "README.md", ...entries]) {
      assert(shipped.includes(f), `${f} not shipped`);
    }
    const unwanted = shipped.filter((f) => /^(tests|bench|runs|\.ci)\//.test(f));
    assertEquals(unwanted, []);
  },
});
