/**
 * Every CLI command, run with exactly the permissions its deno.json task
 * declares, cannot read or write outside them: it stops with one line that
 * names the flag, no stack trace, and leaves nothing behind.
 */
import { assert, assertEquals } from "../assert.ts";
import { runProcess } from "../process.ts";
import { taskWithFlag } from "../../cli/task_line.ts";

const root = new URL("../../", import.meta.url);
const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks as Record<
  string,
  string
>;
const canRun = (await Deno.permissions.query({ name: "run", command: "deno" })).state ===
  "granted";

/** The permission flags of a task, with $HOME expanded. */
function taskFlags(task: string): string[] {
  const home = Deno.env.get("HOME") ?? "";
  return tasks[task].split(/\s+/).filter((a) => a.startsWith("--allow-"))
    .map((a) => a.replaceAll("$HOME", home));
}

const outside = `/tmp/u2net-permission-test-${Deno.pid}`;
const cases: [task: string, args: string[]][] = [
  ["train", ["--output-dir", `${outside}/runs`, "--epochs", "1"]],
  ["eval", ["--weights", "/etc/hostname"]],
  ["predict", ["/etc/hostname", "-o", "tests/.tmp/perm-predict"]],
  ["convert", ["tests/testdata/lite_wz.safetensors", `${outside}/out.safetensors`]],
  ["info", ["--weights", "/etc/hostname"]],
  ["serve", ["--weights", "/etc/hostname", "--port", "0"]],
];

for (const [task, args] of cases) {
  Deno.test({
    name: `${task} refuses in one line to touch ${args.find((a) => a.startsWith("/"))}`,
    ignore: !canRun,
    async fn() {
      const out = await runProcess("deno", {
        args: ["run", ...taskFlags(task), "cli/main.ts", task, ...args],
        cwd: root.pathname,
      });
      const stderr = out.stderr.trim();
      assertEquals(out.code, 1, stderr);
      const lines = stderr.split("\n").filter((l) => l.trim());
      assert(!/\bat .+:\d+:\d+/.test(stderr), `stack trace printed:\n${stderr}`);
      assert(/--allow-(read|write)/.test(lines.at(-1)!), `no flag named:\n${stderr}`);
      const last = lines.at(-1)!;
      if (/outside the project folder/.test(last)) { // the task's line, the flag added
        const [, flag] = /needs (--allow-\w+=\S+):/.exec(last) ?? [];
        const [, suggested] = / run from [^:]+: (.*) … \(the same arguments/.exec(last) ?? [];
        assert(flag && suggested, `no command suggested:\n${last}`);
        assertEquals(suggested, taskWithFlag(task, flag), last);
      }
      const leaked = await Deno.stat(outside).then(() => true, () => false);
      assert(!leaked, `${outside} was created`);
    },
  });
}

Deno.test("taskWithFlag() extends the task's own --allow-x list, or adds the flag, when a path is outside", () => {
  const wasm = "$HOME/.cache/deno/npm/registry.npmjs.org/@tensorflow/tfjs-backend-wasm";
  assertEquals(
    taskWithFlag("train", "--allow-read=/data/DUTS"),
    tasks.train.replace(`--allow-read=.,${wasm}`, `--allow-read=.,${wasm},/data/DUTS`),
  );
  assertEquals(
    taskWithFlag("convert", "--allow-write=/out"),
    tasks.convert.replace("--allow-write=.", "--allow-write=.,/out"),
  );
  assertEquals(
    taskWithFlag("convert", "--allow-net=example.com"),
    tasks.convert.replace("deno run ", "deno run --allow-net=example.com "),
  );
  assertEquals(taskWithFlag("test", "--allow-read=/x"), undefined); // not a cli/main.ts task
  // a path with a space is quoted for the shell ($HOME left to it); a comma cannot be listed
  assertEquals(
    taskWithFlag("convert", "--allow-write=/my out/$x"),
    tasks.convert.replace("--allow-write=.", '"--allow-write=.,/my out/\\$x"'),
  );
  assertEquals(taskWithFlag("convert", "--allow-write=/a,b"), undefined);
});

Deno.test({
  name:
    "train refuses up front a --data-path inside the project that links outside it, naming the target",
  ignore: !canRun ||
    (await Deno.permissions.query({ name: "run", command: "ln" })).state !== "granted",
  async fn() {
    const link = `tests/.tmp/perm-linked-data-${Deno.pid}`, target = "/etc"; // exists, outside
    await Deno.remove(new URL(link, root)).catch(() => {});
    try {
      const ln = await runProcess("ln", { args: ["-s", target, link], cwd: root.pathname });
      assertEquals(ln.code, 0, ln.stderr);
      const out = await runProcess("deno", {
        args: ["run", ...taskFlags("train"), "cli/main.ts", "train", "--data-path", link],
        cwd: root.pathname,
      });
      assertEquals(out.code, 1, out.stderr);
      const last = out.stderr.trim().split("\n").at(-1)!;
      assert(last.includes(`needs --allow-read=${target}: "${target}" (where`), last);
      assert(last.includes(`--allow-read=.,`) && last.includes(`,${target} --allow-write`), last);
      // initial weights are read through the link itself: a link out of the project is no refusal
      const init = await runProcess("deno", {
        args: [
          "run",
          ...taskFlags("train"),
          "cli/main.ts",
          "train",
          "--init-weights",
          `${link}/hostname`,
        ],
        cwd: root.pathname,
      });
      assertEquals(init.code, 1, init.stderr);
      assert(!/needs --allow-read/.test(init.stderr), init.stderr);
    } finally {
      await Deno.remove(new URL(link, root)).catch(() => {});
    }
  },
});
