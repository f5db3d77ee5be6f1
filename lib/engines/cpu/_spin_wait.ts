/**
 * How the CPU engine's and the CPU trainer's threads wait on a control word
 * of their shared memory: spin for a while, then sleep.
 *
 * @module
 */

/**
 * Microseconds a thread checks a control word before it sleeps on it. The
 * next call (or the other threads' end of this one) usually comes within
 * that, and waking a sleeping thread costs 10-100 µs on an idle machine but
 * up to milliseconds on a busy VM's vCPU (30-60% steal time): there, with a
 * 20k-check spin (~0.1-0.5 ms), a two-thread lite b8@48 training step took
 * 1.4-1.6 s, more than one thread's 0.9 s, and 0.8-1.0 s with ten times the
 * spin; 2 ms against 0.3 ms won 4 of 5 alternated pairs, medians 0.97 vs
 * 1.36 s (bench/cpu/train_profile.ts, 2026-12-03). A thread that finds
 * nothing to do for this long sleeps, so an idle engine or trainer costs no
 * CPU.
 */
export const SPIN_US = 2000;

/**
 * The spin with more threads than cores: a spinning waiter would then hold a
 * core that the thread it waits for needs, so it sleeps almost at once.
 */
export const OVERSUBSCRIBED_SPIN_US = 50;

/** Logical cores (1 where the runtime does not say). */
const CORES = globalThis.navigator?.hardwareConcurrency ?? 1;

/** Checks between two looks at the clock while spinning. */
const CHECKS_PER_CLOCK = 256;

/**
 * Waits until `ctrl[i]` is no longer `value`: spins {@linkcode SPIN_US}
 * microseconds ({@linkcode OVERSUBSCRIBED_SPIN_US} when `threads` exceed the
 * cores), then sleeps (`timeoutMs` at most). Returns the new value.
 */
export function spinWait(
  ctrl: Int32Array,
  [i, value]: [number, number],
  { timeoutMs, threads }: { timeoutMs: number; threads: number },
): number {
  const us = threads <= CORES ? SPIN_US : OVERSUBSCRIBED_SPIN_US;
  const end = performance.now() + us / 1000;
  do {
    for (let n = 0; n < CHECKS_PER_CLOCK; n++) {
      const v = Atomics.load(ctrl, i);
      if (v !== value) return v;
    }
  } while (performance.now() < end);
  Atomics.wait(ctrl, i, value, timeoutMs);
  return Atomics.load(ctrl, i);
}
