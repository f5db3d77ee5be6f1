/**
 * How the CPU engine's and the CPU trainer's threads wait on a control word
 * of their shared memory: spin briefly, then sleep.
 *
 * @module
 */

/**
 * Checks of a control word (each a few ns: tens of µs in all) before a
 * thread sleeps on it: the next call usually comes within microseconds,
 * and waking a sleeping thread costs 10-100 µs (more on a VM's idle vCPU).
 */
export const SPIN_CHECKS = 20_000;

/**
 * Waits until `ctrl[i]` is no longer `value`: spins {@linkcode SPIN_CHECKS}
 * checks, then sleeps (`timeoutMs` at most). Returns the new value.
 */
export function spinWait(ctrl: Int32Array, i: number, value: number, timeoutMs: number): number {
  for (let n = 0; n < SPIN_CHECKS; n++) {
    const v = Atomics.load(ctrl, i);
    if (v !== value) return v;
  }
  Atomics.wait(ctrl, i, value, timeoutMs);
  return Atomics.load(ctrl, i);
}
