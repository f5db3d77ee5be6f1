import { assert, assertEquals, assertMatch } from "../assert.ts";
import { createByteProgress, formatBytes } from "../../cli/download_progress.ts";

function sink(tty: boolean) {
  const chunks: string[] = [];
  const out = {
    isTerminal: () => tty,
    writeSync(p: Uint8Array) {
      chunks.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
  return { out, chunks };
}

Deno.test("formatBytes() writes decimal units", () => {
  assertEquals(
    [formatBytes(512), formatBytes(4_574_861), formatBytes(175_997_641)],
    ["512 B", "4.6 MB", "176.0 MB"],
  );
});

Deno.test("createByteProgress() redraws one line with bytes, rate and ETA on a terminal, throttled", () => {
  const { out, chunks } = sink(true);
  let t = 0;
  const bar = createByteProgress(10_000_000, { label: "u2netp", out, now: () => t });
  t = 1000;
  bar.update(2_000_000);
  t = 1050;
  bar.update(2_500_000); // within 100 ms: not drawn
  t = 2000;
  bar.update(4_000_000);
  bar.done();
  assertEquals(chunks.length, 3);
  assertEquals(
    chunks[0],
    "\r\x1b[2Ku2netp [#####-------------------] 2.0 MB / 10.0 MB 20% 2.0 MB/s ETA 0:04",
  );
  assertMatch(chunks[1], /4\.0 MB \/ 10\.0 MB 40% 2\.0 MB\/s ETA 0:03$/);
  assertEquals(chunks[2], "\n");
});

Deno.test("createByteProgress() prints a plain line per quarter when piped", () => {
  const { out, chunks } = sink(false);
  let t = 0;
  const bar = createByteProgress(100, { out, now: () => t });
  for (let r = 10; r <= 100; r += 10) {
    t += 100;
    bar.update(r);
  }
  bar.done();
  assertEquals(chunks.length, 4);
  assert(chunks.every((c) => c.endsWith("\n") && !c.includes("\r")));
  assertMatch(chunks[3], /^100 B \/ 100 B 100% 100 B\/s ETA 0:00\n$/);
});
