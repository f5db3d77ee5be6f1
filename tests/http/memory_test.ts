import { assert } from "../assert.ts";
import { encodePng } from "../../lib/data/image_io.ts";
import { subprocessUnavailable } from "../cli/capture.ts";
import { testPixels } from "./fixtures.ts";
import { startServe } from "./_serve_process.ts";

const noRun = subprocessUnavailable();
if (noRun) console.warn(`memory_test: SKIPPED: ${noRun}`);
const MiB = 2 ** 20;

/** A PNG of noise (compresses badly, so the upload is about 3 bytes per pixel). */
function noisePng(width: number, height: number, seed = 1): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return encodePng(width, height, data, 3);
}

const rss = async (base: string) => (await (await fetch(`${base}/healthz`)).json()).memory.rss;

/** Polls the server's RSS until it is within `factor` of `idle` (or `ms` passed); returns the last. */
async function settle(base: string, idle: number, factor: number, ms = 8000): Promise<number> {
  const end = Date.now() + ms;
  let now = await rss(base);
  while (now > idle * factor && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    now = await rss(base);
  }
  return now;
}

async function burst(base: string, n: number, make: () => RequestInit, query: string) {
  const statuses: Record<number, number> = {};
  await Promise.all(Array.from({ length: n }, async () => {
    const res = await fetch(`${base}/predict${query}`, { method: "POST", ...make() });
    await res.arrayBuffer();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  }));
  return statuses;
}

Deno.test({
  name: "serve returns to within 20% of its idle RSS after bursts of small, large and huge uploads",
  ignore: noRun !== undefined,
  async fn() {
    const { base, stop } = await startServe(["--input-size", "64"]);
    try {
      const small = encodePng(320, 240, testPixels(320, 240), 3) as Uint8Array<ArrayBuffer>;
      const large = noisePng(1100, 1000) as Uint8Array<ArrayBuffer>; // ~3.2 MiB
      const huge = encodePng(2600, 2000, testPixels(2600, 2000), 3) as Uint8Array<ArrayBuffer>;
      const png = (b: Uint8Array<ArrayBuffer>) => () => ({
        body: b,
        headers: { "content-type": "image/png" },
      });
      const form = (b: Uint8Array<ArrayBuffer>) => () => {
        const f = new FormData();
        f.set("file", new Blob([b], { type: "image/png" }), "x.png");
        return { body: f };
      };
      // Warm up every path once, then take the idle level.
      await burst(base, 2, png(small), "?format=cutout");
      await burst(base, 1, form(large), "?format=cutout");
      const idle = await settle(base, 0, 1, 1500);
      const lines = [`idle ${(idle / MiB).toFixed(0)} MiB`];
      const bursts: [string, number, () => RequestInit, string][] = [
        ["32 x 320x240 cutout", 32, png(small), "?format=cutout"],
        ["48 x 3 MiB multipart", 48, form(large), "?format=mask"],
        // Over the recycle size: the worker is replaced (the new one's start garbage
        // goes when V8's memory reducer runs, about 10 s later).
        ["3 x 2600x2000 cutout", 3, png(huge), "?format=cutout"],
      ];
      for (const [name, n, make, query] of bursts) {
        const statuses = await burst(base, n, make, query);
        const peak = await rss(base);
        const after = await settle(base, idle, 1.2, 15_000);
        lines.push(
          `${name}: ${JSON.stringify(statuses)}, right after ${(peak / MiB).toFixed(0)} MiB, ` +
            `settled ${(after / MiB).toFixed(0)} MiB`,
        );
        assert(Object.keys(statuses).every((s) => s === "200" || s === "503"), lines.join("; "));
        assert(after <= idle * 1.2, lines.join("; "));
      }
      console.log(lines.join("\n"));
    } finally {
      await stop();
    }
  },
});
