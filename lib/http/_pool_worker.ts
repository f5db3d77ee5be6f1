/**
 * One worker of `worker_pool.ts`: starts `_predict_worker.ts`, sends it the
 * init message and resolves `ready` with what it loaded (or rejects: its
 * load error, a start deadline, an early crash); routes its answers; stops
 * it gracefully (it frees its engines and their threads, then says
 * "closed") or at once.
 *
 * @module
 */
import { errorFromWire } from "./errors.ts";
import type { FromWorker, ToWorker, WorkerInfo, WorkerInit } from "./_predict_worker.ts";

/** The start of the message of errors that mean Web Workers cannot be used here. */
export const WORKER_UNAVAILABLE = "Cannot start prediction worker";

/** Time a worker gets to close itself before it is terminated. */
const CLOSE_GRACE_MS = 2000;

/** A started worker. */
export interface PoolWorker {
  /** Resolves when the weights are loaded (and the network warmed up). */
  ready: Promise<WorkerInfo>;
  /** Sends a message (with buffers to transfer). */
  post(msg: ToWorker, transfer?: Transferable[]): void;
  /** Ends it: `graceful` lets it free its engines first. Resolves when it is gone. */
  stop(graceful: boolean): Promise<void>;
}

/** What the pool hears from a worker after it is ready. */
export interface PoolWorkerEvents {
  /** A job's answer. */
  done(data: Extract<FromWorker, { type: "done" }>): void;
  /** It died (after `ready`). */
  crashed(message: string): void;
}

/**
 * Starts a prediction worker.
 *
 * @throws {TypeError} starting with {@linkcode WORKER_UNAVAILABLE} when the runtime cannot create one.
 */
export function startPoolWorker(
  init: WorkerInit,
  startMs: number,
  events: PoolWorkerEvents,
): PoolWorker {
  let worker: Worker;
  try {
    worker = new Worker(new URL("./_predict_worker.ts", import.meta.url).href, { type: "module" });
  } catch (e) {
    throw new TypeError(`${WORKER_UNAVAILABLE}: ${String(e).split("\n")[0]}`);
  }
  let started = false, stopped: Promise<void> | undefined;
  let abort = () => {};
  const ready = new Promise<WorkerInfo>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new TypeError(`${WORKER_UNAVAILABLE}: not ready within ${startMs} ms`));
    }, startMs);
    abort = () => {
      clearTimeout(timer);
      reject(new TypeError(`${WORKER_UNAVAILABLE}: stopped while starting`));
    };
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      if (data.type === "ready") {
        clearTimeout(timer);
        started = true;
        resolve(data.info);
      } else if (data.type === "failed") {
        clearTimeout(timer);
        reject(errorFromWire(data.error));
      } else if (data.type === "done") events.done(data);
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      clearTimeout(timer);
      if (!started) reject(new TypeError(`${WORKER_UNAVAILABLE}: ${ev.message}`));
      else if (!stopped) events.crashed(ev.message);
    };
  });
  const post = (msg: ToWorker, transfer: Transferable[] = []) => worker.postMessage(msg, transfer);
  post(init);
  return {
    ready,
    post,
    stop(graceful: boolean): Promise<void> {
      if (stopped) return stopped;
      abort();
      if (!graceful || !started) {
        worker.terminate();
        return stopped = Promise.resolve();
      }
      stopped = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_GRACE_MS);
        worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
          if (data.type !== "closed") return;
          clearTimeout(timer);
          resolve();
        };
      }).then(() => worker.terminate());
      post({ type: "close" });
      return stopped;
    },
  };
}
