/**
 * Long computations as generators that yield at checkpoints, so one body of
 * code runs to the end at once ({@linkcode runSteps}) or in slices between
 * which other work gets the thread ({@linkcode runStepsAsync}: the in-thread
 * HTTP service keeps answering `/healthz` while it mattes).
 *
 * @module
 */

/** A computation that yields (nothing) at checkpoints and returns a `T`. */
export type Steps<T> = Generator<void, T, void>;

/** Runs `steps` to the end. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Runs `steps`, awaiting `pause` whenever `sliceMs` passed since the last one. */
export async function runStepsAsync<T>(
  steps: Steps<T>,
  pause: () => Promise<void>,
  sliceMs = 20,
): Promise<T> {
  let t = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - t >= sliceMs) {
      await pause();
      t = performance.now();
    }
  }
}
