/**
 * Starting the module workers of the CPU engine and the CPU trainer: both
 * post each worker its start message and wait for its first reply.
 *
 * @module
 */

/**
 * Starts one module worker of `url` per message of `inits` (worker `i` gets
 * `inits[i]`, as thread `i + 1`); resolves once every worker has answered.
 * If one fails to start, all are terminated and the error names `what`.
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
  try {
    await Promise.all(ready);
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  return workers;
}
