/**
 * The CPU engine's threads: Web Workers (`_cpu_engine_worker.ts`) that run
 * their part of each step on the engine's shared memory, and the barrier
 * that the caller's thread keeps with them.
 *
 * Control words (Int32Array): [0] generation, [1] step (-1: stop), [2]
 * parts done.
 *
 * @module
 */
import type { StepCall } from "./_cpu_engine_steps.ts";
import type { CpuThreadInit } from "./_cpu_engine_worker.ts";

/** Bytes of stack per extra thread. */
export const STACK_BYTES = 1 << 16;

/** A step's threads: workers and the control words they wait on. */
export interface CpuThreads {
  workers: Worker[];
  ctrl: Int32Array;
}

/** Starts threads 1… (thread 0 is the caller) on the engine's memory; resolves when all are ready. */
export async function startThreads(
  loaded: { module: WebAssembly.Module; memory: WebAssembly.Memory },
  calls: StepCall[],
  [base, scratches, stacks]: [number, number[], number[]],
): Promise<CpuThreads> {
  const control = new SharedArrayBuffer(16);
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let part = 1; part < scratches.length; part++) {
    const worker = new Worker(new URL("./_cpu_engine_worker.ts", import.meta.url).href, {
      type: "module",
    });
    workers.push(worker);
    ready.push(
      new Promise((resolve, reject) => {
        worker.onmessage = () => resolve();
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`Cannot start CpuEngine thread ${part}: ${e.message}`));
        };
      }),
    );
    const init: CpuThreadInit = {
      module: loaded.module,
      memory: loaded.memory,
      stackTop: base + stacks[part - 1] + STACK_BYTES,
      calls,
      base,
      scratch: base + scratches[part],
      part,
      parts: scratches.length,
      control,
    };
    worker.postMessage(init);
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  return { workers, ctrl: new Int32Array(control) };
}

/**
 * Runs step `s` on every thread: wakes the workers, runs part 0 with
 * `runOwn(parts)`, then waits for the others (2 minutes at most).
 */
export function stepThreads(t: CpuThreads, s: number, runOwn: (parts: number) => void): void {
  const parts = t.workers.length + 1, ctrl = t.ctrl;
  Atomics.store(ctrl, 1, s);
  Atomics.store(ctrl, 2, 0);
  Atomics.add(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  runOwn(parts);
  const deadline = performance.now() + 120_000;
  for (let done; (done = Atomics.load(ctrl, 2)) < parts - 1;) {
    Atomics.wait(ctrl, 2, done, 1000);
    if (performance.now() > deadline) {
      throw new Error(`Cannot run CpuEngine: current threads did not finish step ${s}`);
    }
  }
}

/** Ends the workers' loops and terminates them. */
export function stopThreads(t: CpuThreads): void {
  Atomics.store(t.ctrl, 1, -1);
  Atomics.add(t.ctrl, 0, 1);
  Atomics.notify(t.ctrl, 0);
  for (const w of t.workers) w.terminate();
}
