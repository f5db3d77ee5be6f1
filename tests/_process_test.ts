import { assert, assertEquals, assertMatch } from "./assert.ts";
import { runProcess, startProcess } from "./process.ts";

const canRun = Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted";

/** `deno eval` of `code` (eval runs with every permission: it needs none from the test). */
const evalArgs = (code: string) => ["eval", "--no-config", code];

Deno.test({
  name: "runProcess() returns the exit code and both streams when the process exits in time",
  ignore: !canRun,
  async fn() {
    const r = await runProcess("deno", {
      args: evalArgs(`console.log("out"); console.error("err"); Deno.exit(3);`),
      deadlineMs: 30_000,
    });
    assertEquals([r.code, r.stdout, r.stderr], [3, "out\n", "err\n"]);
  },
});

Deno.test({
  name: "runProcess() kills a process that passes its deadline and fails with its output",
  ignore: !canRun,
  async fn() {
    const t0 = Date.now();
    let msg = "";
    try {
      await runProcess("deno", {
        args: evalArgs(`console.log("started"); setInterval(() => {}, 1000);`),
        deadlineMs: 1_500,
      });
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, /1500 ms deadline; killed it/);
    assertMatch(msg, /--- stdout ---\nstarted/);
    assert(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  },
});

Deno.test({
  name: "startProcess() waitFor() rejects with the output when the process exits without the line",
  ignore: !canRun,
  async fn() {
    const p = startProcess("deno", { args: evalArgs(`console.error("boom")`), deadlineMs: 30_000 });
    let msg = "";
    try {
      await p.waitFor(/Listening on/);
    } catch (e) {
      msg = (e as Error).message;
    } finally {
      await p.stop();
    }
    assertMatch(msg, /exited with 0 before printing \/Listening on\/[\s\S]*boom/);
  },
});

Deno.test({
  name: "startProcess() stop() ends a running process whose stdin got the given text",
  ignore: !canRun,
  async fn() {
    const p = startProcess("deno", {
      args: evalArgs(
        `const t = await new Response(Deno.stdin.readable).text(); console.log("got " + t); setInterval(() => {}, 1000);`,
      ),
      stdin: "hello",
      deadlineMs: 30_000,
    });
    const [line] = await p.waitFor(/got hello/);
    assertEquals(line, "got hello");
    const status = await p.stop();
    assertEquals(status.success, false);
  },
});
