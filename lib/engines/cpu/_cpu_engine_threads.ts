/**
 * The CPU engine's threads: Web Workers (`_cpu_engine_worker.ts`) that help
 * the caller's thread with each step on the engine's shared memory.
 *
 * A step is cut into chunks (`parts` of the kernel call: rows, or runs of
 * Winograd blocks), more than there are threads, and every thread takes
 * the next chunk from a shared counter until none is left: a thread that
 * the OS preempts, or that wakes late, holds up at most the chunk it has,
 * not half the step (as a fixed share per thread did, which made the
 * engine's time on a busy machine swing by tens of percent). Every output
 * is computed alike in any chunk, so results are the same bits on any
 * thread count and any claiming order.
 *
 * Shared words (Int32Array `ctrl`): [0] generation, [1] step (-1: stop),
 * [2] the caller's heartbeat; `claims[s]`: chunks of step s handed out;
 * `done[s]`: chunks finished.
 *
 * A thread whose caller stops beating for {@linkcode ORPHAN_MS} ends itself:
 * a caller terminated without `stopThreads` (a stuck prediction worker that
 * its pool killed) would otherwise leave its threads and their memory
 * behind for good, since terminating a worker does not end the workers it
 * started while they sleep in `Atomics.wait`. Should the caller still be
 * there, it simply runs every chunk itself (the same bits).
 *
 * @module
 */
import { claimChunks, SERIAL_BELOW_US, type StepCall } from "./_cpu_engine_steps.ts";
import { startWorkers } from "./_start_workers.ts";
import { spinWait } from "./_spin_wait.ts";
import type { CpuThreadInit } from "./_cpu_engine_worker.ts";

/** Bytes of stack per extra thread. */
export const STACK_BYTES = 1 << 16;

/** Chunks per thread of a split step. */
export const CHUNKS_PER_THREAD = 4;

/** Interval of the caller's heartbeat (also beaten at every step). */
export const HEARTBEAT_MS = 5_000;

/** Time without a heartbeat after which a thread ends itself. */
export const ORPHAN_MS = 60_000;

/** Bytes of the control words before `claims`. */
const CTRL_BYTES = 16;

/** A step's threads: workers and the words they share. */
export interface CpuThreads {
  workers: Worker[];
  /** The heartbeat's interval. */
  beat: ReturnType<typeof setInterval>;
  ctrl: Int32Array;
  claims: Int32Array;
  done: Int32Array;
  /** Chunks of each step (1: the caller's thread runs it whole). */
  chunks: number[];
}

/** Chunks of each call on `threads` threads: 1 for a small step, else CHUNKS_PER_THREAD each. */
export function chunksOf(calls: StepCall[], threads: number): number[] {
  return calls.map((c) => (c.cost < SERIAL_BELOW_US ? 1 : threads * CHUNKS_PER_THREAD));
}

/** Starts threads 1… (thread 0 is the caller) on the engine's memory; resolves when all are ready. */
export async function startThreads(
  loaded: { module: WebAssembly.Module; memory: WebAssembly.Memory },
  calls: StepCall[],
  [base, scratches, stacks]: [number, number[], number[]],
): Promise<CpuThreads> {
  const control = new SharedArrayBuffer(CTRL_BYTES + 8 * calls.length);
  const ctrl = new Int32Array(control, 0, CTRL_BYTES / 4);
  const claims = new Int32Array(control, CTRL_BYTES, calls.length);
  const done = new Int32Array(control, CTRL_BYTES + 4 * calls.length, calls.length);
  claims.fill(2 ** 30); // nothing to claim before a step is published
  const chunks = chunksOf(calls, scratches.length);
  const inits = stacks.map((stack, i): CpuThreadInit => ({
    module: loaded.module,
    memory: loaded.memory,
    stackTop: base + stack + STACK_BYTES,
    calls,
    base,
    scratch: base + scratches[i + 1],
    chunks,
    control,
    orphanMs: ORPHAN_MS,
    threads: stacks.length + 1,
  }));
  const url = new URL("./_cpu_engine_worker.ts", import.meta.url);
  const workers = await startWorkers(url, inits, "CpuEngine");
  const beat = setInterval(() => Atomics.add(ctrl, 2, 1), HEARTBEAT_MS);
  globalThis.Deno?.unrefTimer?.(beat as unknown as number);
  return { workers, beat, ctrl, claims, done, chunks };
}

/**
 * Runs step `s` on every thread: publishes it, wakes the workers, takes
 * chunks with `runChunk(chunk, chunks)` like them, then waits until every
 * chunk is done (2 minutes at most).
 */
export function stepThreads(
  t: CpuThreads,
  s: number,
  runChunk: (chunk: number, chunks: number) => void,
): void {
  const { ctrl, claims, done } = t, n = t.chunks[s];
  Atomics.add(ctrl, 2, 1);
  // done first: a chunk claimed as soon as claims opens must count.
  Atomics.store(done, s, 0);
  Atomics.store(claims, s, 0);
  Atomics.store(ctrl, 1, s);
  Atomics.add(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  claimChunks(claims, done, [s, n], runChunk);
  const deadline = performance.now() + 120_000;
  for (let d; (d = Atomics.load(done, s)) < n;) {
    spinWait(done, [s, d], { timeoutMs: 1000, threads: t.workers.length + 1 });
    if (performance.now() > deadline) {
      throw new Error(`Cannot run CpuEngine: current threads did not finish step ${s}`);
    }
  }
}

/** Ends the workers' loops and terminates them. */
export function stopThreads(t: CpuThreads): void {
  clearInterval(t.beat);
  Atomics.store(t.ctrl, 1, -1);
  Atomics.add(t.ctrl, 0, 1);
  Atomics.notify(t.ctrl, 0);
  for (const w of t.workers) w.terminate();
}
