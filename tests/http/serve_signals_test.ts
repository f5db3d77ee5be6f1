import { assertEquals } from "../assert.ts";
import { subprocessUnavailable } from "../cli/capture.ts";
import { startServe } from "./_serve_process.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`serve_signals_test: SKIPPED: ${noRun}`);

Deno.test({
  name: "serve stops on SIGTERM as on Ctrl-C: its workers closed, exit status 0",
  ignore: noRun !== undefined,
  async fn() {
    const s = await startServe([]);
    const res = await fetch(`${s.base}/healthz`);
    assertEquals([res.status, (await res.json()).mode], [200, "workers"]);
    const status = await s.stop("SIGTERM");
    assertEquals([status.code, status.signal], [0, null], s.output());
  },
});
