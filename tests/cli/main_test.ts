import { assert, assertEquals, assertMatch } from "../assert.ts";
import { COMMANDS, main } from "../../cli/main.ts";
import { capture, deno, subprocessUnavailable } from "./capture.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`main_test: subprocess checks SKIPPED: ${noRun}`);

Deno.test("main() lists every command on --help", async () => {
  const r = await capture(() => main(["--help"]));
  assertEquals(r.code, 0);
  for (const c of ["train", "eval", "predict", "serve", "convert", "info"]) {
    assert(r.stdout.includes(c), c);
  }
});

for (const command of Object.keys(COMMANDS)) {
  Deno.test(`main() prints the help of ${command} and exits 0 on "${command} --help"`, async () => {
    const r = await capture(() => main([command, "--help"]));
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout + r.stderr, /usage:/);
  });
}

Deno.test("main() fails with one line and status 1 for an unknown command", async () => {
  const r = await capture(() => main(["frobnicate"]));
  assertEquals(r.code, 1);
  assertEquals(r.stderr.trim().split("\n").length, 1);
  assertMatch(r.stderr, /unknown command "frobnicate"/);
});

Deno.test("main() shows the defaults from the code's constants in predict --help", async () => {
  const { DEFAULT_THRESHOLD, DEFAULT_FORMAT } = await import("../../lib/predict/render.ts");
  const r = await capture(() => main(["predict", "--help"]));
  assert(r.stdout.includes(`(default: ${DEFAULT_THRESHOLD})`));
  assert(r.stdout.includes(`(default: ${DEFAULT_FORMAT})`));
});

Deno.test({
  name: "deno task <command> --help works for every command with the task's own permissions",
  ignore: noRun !== undefined,
  async fn() {
    for (const command of Object.keys(COMMANDS)) {
      const r = await deno(["task", "-q", command, "--help"]);
      assertEquals(r.code, 0, `${command}: ${r.stderr}`);
      assertMatch(r.stdout, /usage:/, command);
    }
  },
});

Deno.test("deno.json tasks never grant -A or unscoped read/write", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  for (const [name, task] of Object.entries(config.tasks as Record<string, string>)) {
    assert(!/(\s-A\b|--allow-all)/.test(task), `${name} uses -A`);
    assert(!/--allow-(read|write|ffi|run)(\s|$)/.test(task), `${name} reads or writes anywhere`);
  }
  for (const name of ["predict", "serve", "info", "convert", "eval", "train", "pull"]) {
    const task: string = config.tasks[name];
    assert(task, `task ${name} missing`);
    assert(!/(\s-A\b|--allow-all)/.test(task), `${name} uses -A`);
    assert(
      !/--allow-(read|write|net|env|run)(\s|$)/.test(task),
      `${name} has an unscoped permission: ${task}`,
    );
  }
});
