/**
 * A thread of a {@linkcode CpuEngine} with `threads` > 1: instantiates the
 * kernels (the caller's module: plain or FMA alike) on the engine's shared
 * memory with its own stack; then, each time the engine bumps the
 * generation, takes chunks of the step it names until none is left (see
 * `_cpu_engine_threads.ts`). Step -1 ends it.
 *
 * @module
 */
import { callArgs, claimChunks, runCall, type StepCall } from "./_cpu_engine_steps.ts";
import type { CpuKernels } from "./cpu_kernels.ts";
import { spinWait } from "./_spin_wait.ts";

/** The engine's message to a new thread. */
export interface CpuThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** This thread's stack top (bytes). */
  stackTop: number;
  calls: StepCall[];
  base: number;
  /** This thread's scratch (bytes). */
  scratch: number;
  /** Chunks of each step. */
  chunks: number[];
  /** [generation, step, heartbeat, unused], then claims and done per step (Int32). */
  control: SharedArrayBuffer;
  /** Time without a heartbeat after which the thread ends. */
  orphanMs: number;
  /** Threads of the engine (the caller's included). */
  threads: number;
}

/** The worker global scope, as far as this module uses it (lib is deno.window). */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<CpuThreadInit>) => void) | null;
  postMessage(message: string): void;
  close(): void;
};

/** Control words before the per-step claims. */
const CTRL_WORDS = 4;

scope.onmessage = ({ data }) => {
  const { module, memory, calls, chunks, control } = data;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  (instance.exports.__stack_pointer as WebAssembly.Global).value = data.stackTop;
  const kernels = instance.exports as unknown as CpuKernels;
  const args = calls.map((c) => callArgs(c, data.base, data.scratch));
  const ctrl = new Int32Array(control, 0, CTRL_WORDS);
  const claims = new Int32Array(control, 4 * CTRL_WORDS, calls.length);
  const done = new Int32Array(control, 4 * CTRL_WORDS + 4 * calls.length, calls.length);
  let gen = Atomics.load(ctrl, 0);
  scope.postMessage("ready");
  let beat = Atomics.load(ctrl, 2), beatAt = performance.now();
  for (;;) {
    while (spinWait(ctrl, [0, gen], { timeoutMs: 1000, threads: data.threads }) === gen) {
      const now = performance.now();
      if (Atomics.load(ctrl, 2) !== beat) [beat, beatAt] = [Atomics.load(ctrl, 2), now];
      else if (now - beatAt > data.orphanMs) break; // the caller is gone (see _cpu_engine_threads.ts)
    }
    if (Atomics.load(ctrl, 0) === gen) break;
    gen = Atomics.load(ctrl, 0);
    const s = Atomics.load(ctrl, 1);
    if (s < 0) break;
    claimChunks(claims, done, [s, chunks[s]], (k, n) => {
      runCall(kernels, memory, calls[s], args[s], [k, n]);
    });
  }
  scope.close();
};
