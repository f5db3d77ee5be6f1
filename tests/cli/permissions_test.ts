/**
 * Every CLI command, run with exactly the permissions its deno.json task
 * declares, cannot read or write outside them: it stops with one line that
 * names the flag, no stack trace, and leaves nothing behind.
 */
import { assert, assertEquals } from "../assert.ts";
import { runProcess } from "../process.ts";

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
      const leaked = await Deno.stat(outside).then(() => true, () => false);
      assert(!leaked, `${outside} was created`);
    },
  });
}
