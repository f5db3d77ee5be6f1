/**
 * Starting the module workers of the CPU engine and the CPU trainer: both
 * post each worker its start message and wait for its first reply.
 *
 * @module
 */

/** How long the workers may take to start (ms). */
export const START_MS = 60_000;

/**
 * Starts one module worker of `url` per message of `inits` (worker `i` gets
 * `inits[i]`, as thread `i + 1`); resolves once every worker has answered.
 * If one fails to start, or all have not answered within {@linkcode START_MS}, all are
 * terminated and the error names `what`.
 */
export async function startWorkers(url: URL, inits: unknown[], what: string): Promise<Worker[]> {
  const workers: Worker[] = [], ready: Promise<void>[] = [];
  inits.forEach((init, i) => {
    const worker = new Worker(url.href, { type: "module" });
    workers.push(worker);
    ready.push(
      new Promise((resolve, reject) => {
        worker.onmessage = () => resolve();
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`Cannot start ${what} thread ${i + 1}: ${e.message}`));
        };
      }),
    );
    worker.postMessage(init);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot start ${what} threads: current wait is over ${START_MS} ms`)),
      START_MS,
    );
  });
  try {
    await Promise.race([Promise.all(ready), late]);
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return workers;
}
