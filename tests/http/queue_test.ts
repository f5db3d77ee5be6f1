import { assert, assertEquals } from "../assert.ts";
import { createQueue } from "../../lib/http/queue.ts";
import { HttpError } from "../../lib/http/errors.ts";

Deno.test("createQueue() runs one job at a time in arrival order and refuses when full", async () => {
  const q = createQueue({ concurrency: 1, maxWaiting: 2, retryAfterSeconds: 3 });
  const order: number[] = [];
  let running = 0, peak = 0;
  const job = (i: number) => async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 10));
    order.push(i);
    running--;
    return i;
  };
  const a = q.run(job(1)), b = q.run(job(2)), c = q.run(job(3));
  assertEquals(q.stats().waiting, 2);
  assert(q.full());
  let refused: unknown;
  try {
    await q.run(job(4));
  } catch (e) {
    refused = e;
  }
  assert(refused instanceof HttpError && refused.status === 503);
  assertEquals((refused as HttpError).headers["retry-after"], "3");
  assertEquals(await Promise.all([a, b, c]), [1, 2, 3]);
  assertEquals([order, peak, q.stats().active], [[1, 2, 3], 1, 0]);
});

Deno.test("createQueue() frees the slot when a job throws", async () => {
  const q = createQueue({ concurrency: 1, maxWaiting: 0 });
  try {
    await q.run(() => Promise.reject(new Error("x")));
  } catch { /* expected */ }
  assertEquals(await q.run(() => Promise.resolve(5)), 5);
  assertEquals(q.stats().active, 0);
});
