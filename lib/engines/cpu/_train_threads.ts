/**
 * The wasm training kernels' threads (`train_kernels_wasm.ts`): Web Workers
 * (`_train_worker.ts`) that instantiate the same module on the kernels'
 * shared memory, each with its own stack, and run parts 1… of every call the
 * caller's thread splits; the caller runs part 0 and then waits for them.
 *
 * Control block (a SharedArrayBuffer): Int32 words [0] generation, [1]
 * kernel (an index into {@linkcode TRAIN_KERNEL_NAMES}; -1: stop), [2] parts
 * done; then the call's arguments as float64s from byte {@linkcode ARGS_AT}.
 *
 * @module
 */
import { startWorkers } from "./_start_workers.ts";
import { spinWait } from "./_spin_wait.ts";

/** The module's kernels a call can name, by index (each takes trailing `part, parts`). */
export const TRAIN_KERNEL_NAMES = [
  "conv",
  "conv_input_grad",
  "conv_filter_grad",
  "bn_sum",
  "bn_sqdev",
  "bn_apply",
  "bn_grad_sums",
  "bn_grad_apply",
  "pool",
  "pool_grad",
  "resize",
  "resize_grad",
  "accumulate",
  "adamw",
] as const;

/** A kernel of {@linkcode TRAIN_KERNEL_NAMES}. */
export type TrainKernelName = typeof TRAIN_KERNEL_NAMES[number];

/** Byte offset of the arguments in the control block. */
export const ARGS_AT = 16;
/** The most arguments a call passes (before part, parts). */
export const MAX_ARGS = 16;
/** Bytes of stack per worker. */
export const STACK_BYTES = 1 << 16;

/** The message that starts a worker. */
export interface TrainThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** This worker's stack top (bytes). */
  stackTop: number;
  part: number;
  parts: number;
  control: SharedArrayBuffer;
}

/** A kernel set's workers and the control block they wait on. */
export interface TrainThreads {
  workers: Worker[];
  ctrl: Int32Array;
  args: Float64Array;
}

/**
 * Starts workers 1… of `parts` on `memory`, worker `i` with its stack
 * ending at `stackTops[i - 1]`; resolves when all have instantiated the module.
 */
export async function startTrainThreads(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  stackTops: number[],
): Promise<TrainThreads> {
  const control = new SharedArrayBuffer(ARGS_AT + 8 * MAX_ARGS);
  const parts = stackTops.length + 1;
  const inits = stackTops.map((stackTop, i): TrainThreadInit => ({
    module,
    memory,
    stackTop,
    part: i + 1,
    parts,
    control,
  }));
  const url = new URL("./_train_worker.ts", import.meta.url);
  const workers = await startWorkers(url, inits, "wasm train kernels");
  return {
    workers,
    ctrl: new Int32Array(control, 0, 4),
    args: new Float64Array(control, ARGS_AT, MAX_ARGS),
  };
}

/**
 * Runs kernel `kernel` with `args` on every thread: publishes the call, wakes
 * the workers, runs part 0 with `runOwn(parts)`, then waits for the others
 * (2 minutes at most), also when part 0 threw.
 */
export function runTrainThreads(
  t: TrainThreads,
  kernel: number,
  args: readonly number[],
  runOwn: (parts: number) => void,
): void {
  const parts = t.workers.length + 1, ctrl = t.ctrl;
  t.args.set(args);
  Atomics.store(ctrl, 1, kernel);
  Atomics.store(ctrl, 2, 0);
  Atomics.add(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  try {
    runOwn(parts);
  } finally {
    // Even when part 0 threw: the next call must not start while the workers run this one.
    const deadline = performance.now() + 120_000;
    for (let done; (done = Atomics.load(ctrl, 2)) < parts - 1;) {
      spinWait(ctrl, [2, done], { timeoutMs: 1000, threads: parts });
      if (performance.now() > deadline) {
        const name = TRAIN_KERNEL_NAMES[kernel];
        // deno-lint-ignore no-unsafe-finally
        throw new Error(`Cannot run wasm train kernel ${name}: current threads did not finish`);
      }
    }
  }
}

/** Ends the workers' loops and terminates them. */
export function stopTrainThreads(t: TrainThreads): void {
  Atomics.store(t.ctrl, 1, -1);
  Atomics.add(t.ctrl, 0, 1);
  Atomics.notify(t.ctrl, 0);
  for (const w of t.workers) w.terminate();
}
