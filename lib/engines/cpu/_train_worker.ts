/**
 * A thread of the wasm training kernels with `threads` > 1
 * (`_train_threads.ts`): instantiates the module on the kernels' shared
 * memory with its own stack, then, each time the caller bumps the control
 * word, runs its part of the kernel call published there and counts itself
 * done. Kernel -1 ends it.
 *
 * @module
 */
import { ARGS_AT, MAX_ARGS, TRAIN_KERNEL_NAMES, type TrainThreadInit } from "./_train_threads.ts";
import { spinWait } from "./_spin_wait.ts";

/** The worker global scope, as far as this module uses it (lib is deno.window). */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<TrainThreadInit>) => void) | null;
  postMessage(message: string): void;
  close(): void;
};

scope.onmessage = ({ data }) => {
  const { module, memory, part, parts } = data;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  (instance.exports.__stack_pointer as WebAssembly.Global).value = data.stackTop;
  const kernels = TRAIN_KERNEL_NAMES.map((name) =>
    instance.exports[name] as (...args: number[]) => void
  );
  const ctrl = new Int32Array(data.control, 0, 4);
  const args = new Float64Array(data.control, ARGS_AT, MAX_ARGS);
  const call: number[] = [];
  let gen = Atomics.load(ctrl, 0);
  scope.postMessage("ready");
  for (;;) {
    while (spinWait(ctrl, [0, gen], { timeoutMs: 1000, threads: parts }) === gen);
    gen = Atomics.load(ctrl, 0);
    const i = Atomics.load(ctrl, 1);
    if (i < 0) break;
    const kernel = kernels[i];
    call.length = 0;
    for (let a = 0; a < kernel.length - 2; a++) call.push(args[a]);
    kernel(...call, part, parts);
    Atomics.add(ctrl, 2, 1);
    Atomics.notify(ctrl, 2);
  }
  scope.close();
};
