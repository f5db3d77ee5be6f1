import { assert, assertEquals } from "../assert.ts";
import { subprocessUnavailable } from "../cli/capture.ts";
import { testPng } from "./fixtures.ts";
import { describeLoad, quantile, runLoad } from "./_load.ts";
import { startServe } from "./_serve_process.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`load_serve_test: SKIPPED: ${noRun}`);
const HEALTH_P99_MS = 250;

const png = testPng(32, 24) as Uint8Array<ArrayBuffer>;
const pngBody = () => ({ body: png, headers: { "content-type": "image/png" } });

Deno.test({
  name:
    "serve answers 8 clients x 100 and 32 x 20 with no 5xx but 503 + Retry-After, /healthz p99 under 250 ms",
  ignore: noRun !== undefined,
  async fn() {
    // The shipped command (its transport and worker pool), loaded from this process.
    const server = await startServe(["--input-size", "32", "--queue", "8"]);
    const lines: string[] = [];
    try {
      const steady = await runLoad(server.base, 8, 100, pngBody);
      lines.push(describeLoad("8 x 100", steady));
      assertEquals(steady.statuses[200], 800, lines.join("\n"));
      assert(
        steady.peakAdmitted >= 4,
        `peak admitted ${steady.peakAdmitted}: the queue never filled`,
      );
      assert(quantile(steady.health, 0.99) < HEALTH_P99_MS, lines.join("\n"));
      const burst = await runLoad(server.base, 32, 20, pngBody);
      lines.push(describeLoad("32 x 20", burst));
      const ok = burst.statuses[200] ?? 0, busy = burst.statuses[503] ?? 0;
      assertEquals(ok + busy, 640, lines.join("\n"));
      assert(busy > 0 && ok > 0, lines.join("\n"));
      assertEquals(burst.missingRetryAfter, 0);
      assert(burst.peakAdmitted <= 9, lines.join("\n"));
      assert(quantile(burst.health, 0.99) < HEALTH_P99_MS, lines.join("\n"));
      console.log(lines.join("\n"));
    } finally {
      await server.stop();
    }
  },
});
