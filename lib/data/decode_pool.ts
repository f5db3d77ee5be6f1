/**
 * A pool of Web Workers (`_decode_worker.ts`) that read, decode and squash
 * samples off the main thread (private to `loader.ts`).
 *
 * A job is one sample: its files, decoded exactly like `fileSource().load`,
 * then `squashSample` at the job's inputSize. Jobs wait in one FIFO queue and
 * go to whichever worker is idle; workers are started on demand, up to the
 * pool's size. The result is a pure function of the job, so it does not
 * depend on the worker that ran it.
 *
 * @module
 */
import type { SamplePaths } from "./dataset.ts";
import {
  type DecodeJob,
  type DecodeReply,
  errorFromData,
  type SquashResult,
} from "./_decode_protocol.ts";

export {
  type DecodeJob,
  type DecodeReply,
  type ErrorData,
  errorFromData,
  errorToData,
  type SquashResult,
} from "./_decode_protocol.ts";

interface Job {
  msg: DecodeJob;
  resolve(r: SquashResult): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/** Web Workers squashing samples; see the module documentation. */
export class DecodePool {
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 0;
  #failure: Error | null = null;

  /** A pool of at most `size` workers (none started yet). */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Cannot create decode pool: current size is ${size}`);
    }
    this.#size = size;
  }

  /**
   * Reads, decodes and squashes one sample in a worker. Resolves with the
   * sample or its error (the main-thread path's message); rejects only when
   * the pool is disposed or a worker died.
   */
  squash(paths: SamplePaths, inputSize: number): Promise<SquashResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<SquashResult>((resolve, reject) => {
      this.#queue.push({ msg: { id: this.#nextId++, paths, inputSize }, resolve, reject });
      this.#pump();
    });
  }

  /** Workers started so far (they start on demand, up to the pool's size). */
  get started(): number {
    return this.#slots.length;
  }

  /** Terminates the workers; pending jobs reject. Idempotent. */
  dispose(): void {
    this.#fail(new TypeError("Cannot load sample: current decode pool is disposed"));
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#failure) {
      let slot = this.#slots.find((s) => s.job === null);
      if (!slot && this.#slots.length < this.#size) slot = this.#spawn();
      if (!slot) return;
      const job = this.#queue.shift()!;
      slot.job = job;
      slot.worker.postMessage(job.msg);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./_decode_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const slot: Slot = { worker, job: null };
    worker.onmessage = (ev: MessageEvent<DecodeReply>) => {
      const job = slot.job;
      const reply = ev.data;
      if (!job || reply.id !== job.msg.id) return;
      slot.job = null;
      job.resolve(
        reply.ok
          ? { ok: true, sample: reply.sample }
          : { ok: false, error: errorFromData(reply.error) },
      );
      this.#pump();
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault(); // the pool reports it; the process must not crash
      this.#fail(new TypeError(`Cannot load sample: current decode worker failed (${ev.message})`));
    };
    worker.onmessageerror = () => {
      this.#fail(new TypeError("Cannot load sample: current decode worker reply does not clone"));
    };
    this.#slots.push(slot);
    return slot;
  }

  /** Stops everything: terminates the workers and rejects every pending job with `error`. */
  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    const jobs = [...this.#slots.flatMap((s) => (s.job ? [s.job] : [])), ...this.#queue];
    for (const s of this.#slots) s.worker.terminate();
    this.#slots.length = 0;
    this.#queue.length = 0;
    for (const j of jobs) j.reject(error);
  }
}
