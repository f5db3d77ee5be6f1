/**
 * A thread of a {@linkcode CpuEngine} with `threads` > 1: instantiates the
 * kernels on the engine's shared memory with its own stack, then, each time
 * the engine bumps the control word, runs its part of the step it names and
 * counts itself done. Step -1 ends it.
 *
 * Control (Int32Array): [0] generation, [1] step index, [2] parts done.
 *
 * @module
 */
import { callArgs, runCall, type StepCall } from "./_cpu_engine_steps.ts";
import type { CpuKernels } from "./cpu_kernels.ts";

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
  part: number;
  parts: number;
  control: SharedArrayBuffer;
}

/** The worker global scope, as far as this module uses it (lib is deno.window). */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<CpuThreadInit>) => void) | null;
  postMessage(message: string): void;
  close(): void;
};

scope.onmessage = ({ data }) => {
  const { module, memory, calls, part, parts } = data;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  (instance.exports.__stack_pointer as WebAssembly.Global).value = data.stackTop;
  const kernels = instance.exports as unknown as CpuKernels;
  const args = calls.map((c) => callArgs(c, data.base, data.scratch));
  const ctrl = new Int32Array(data.control);
  let gen = Atomics.load(ctrl, 0);
  scope.postMessage("ready");
  for (;;) {
    Atomics.wait(ctrl, 0, gen);
    gen = Atomics.load(ctrl, 0);
    const i = Atomics.load(ctrl, 1);
    if (i < 0) break;
    runCall(kernels, memory, calls[i], args[i], [part, parts]);
    Atomics.add(ctrl, 2, 1);
    Atomics.notify(ctrl, 2);
  }
  scope.close();
};
