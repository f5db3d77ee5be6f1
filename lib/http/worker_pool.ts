/**
 * A {@linkcode PredictionService} on a pool of Web Workers
 * (`_predict_worker.ts`): each worker loads the weights itself and runs whole
 * requests (multipart extraction, checks, decode, predict, render), so the
 * event loop only reads bodies and writes answers. The body is transferred to
 * the worker and the response bytes back (no copies).
 *
 * Memory returns to its idle level after a burst: imagescript's wasm
 * decoders never shrink, so a worker that decoded an image over
 * `recyclePixels` pixels is closed after its answer and a fresh one started
 * (the pool then runs one short until it is ready). A worker that dies is
 * replaced the same way; its job answers 500.
 *
 * @module
 */
import type { BackendName } from "../backend.ts";
import type { PredictorOptions } from "../predict/predictor.ts";
import { errorFromWire, HttpError } from "./errors.ts";
import { type PoolWorker, startPoolWorker, WORKER_UNAVAILABLE } from "./_pool_worker.ts";
import type { PredictJob, PredictOutput } from "./_pipeline.ts";
import type { FromWorker, ToWorker, WorkerInfo, WorkerInit } from "./_predict_worker.ts";
import { DEFAULT_MAX_PIXELS, type PredictionService } from "./prediction_service.ts";
import { DEFAULT_MAX_PARTS } from "./upload.ts";

export type { WorkerInfo } from "./_predict_worker.ts";

/** Default number of prediction workers. */
export const DEFAULT_WORKERS = 1;

/** Default image size (pixels) after which a worker is replaced: 2048 x 2048. */
export const DEFAULT_RECYCLE_PIXELS = 2048 * 2048;

/** Default idle time after which a worker that decoded {@linkcode DEFAULT_IDLE_RECYCLE_PIXELS} is replaced. */
export const DEFAULT_IDLE_RECYCLE_MS = 2000;

/** Default decoded pixels (since a worker started) that make it due for replacement when idle. */
export const DEFAULT_IDLE_RECYCLE_PIXELS = 1024 * 1024;

/** Default deadline for a worker to load the weights and warm up. */
export const DEFAULT_WORKER_START_MS = 120_000;

/** Default deadline of one job in a worker; past it the worker is replaced and the job fails. */
export const DEFAULT_JOB_TIMEOUT_MS = 120_000;

export { WORKER_UNAVAILABLE } from "./_pool_worker.ts";

/** Options of {@linkcode createWorkerPool}. */
export interface WorkerPoolOptions {
  /** Workers. @default DEFAULT_WORKERS */
  workers?: number;
  /** Backend each worker selects. @default {"auto"} */
  backend?: BackendName;
  /** Predictor options of each worker (`maxBatch` is 1). @default {{}} */
  predictor?: Omit<PredictorOptions, "maxBatch">;
  /** Largest image, in pixels, from its header. @default DEFAULT_MAX_PIXELS */
  maxPixels?: number;
  /** Largest number of multipart parts. @default DEFAULT_MAX_PARTS */
  maxParts?: number;
  /** A worker that decoded more pixels than this is replaced. @default DEFAULT_RECYCLE_PIXELS */
  recyclePixels?: number;
  /**
   * Once the pool has been idle this long, workers that decoded more than
   * `idleRecyclePixels` pixels since they started are replaced (their heaps
   * and wasm memories go back to the system). @default DEFAULT_IDLE_RECYCLE_MS
   */
  idleRecycleMs?: number;
  /** See `idleRecycleMs`; `Infinity` turns idle replacement off. @default DEFAULT_IDLE_RECYCLE_PIXELS */
  idleRecyclePixels?: number;
  /** Run a blank image through each new worker before it takes jobs. @default {true} */
  warmup?: boolean;
  /** Deadline for a worker to get ready. @default DEFAULT_WORKER_START_MS */
  startTimeoutMs?: number;
  /** Deadline of one job; past it the worker is terminated and replaced (the job answers 500). @default DEFAULT_JOB_TIMEOUT_MS */
  jobTimeoutMs?: number;
}

/** Counters of a {@linkcode WorkerPool} (a type alias, so it is a plain record). */
export type WorkerPoolStats = {
  /** Workers wanted. */
  workers: number;
  /** Workers taking jobs (idle or busy). */
  ready: number;
  /** Workers running a job. */
  busy: number;
  /** Workers loading the weights (first start or replacement). */
  starting: number;
  /** Jobs waiting for a worker. */
  queued: number;
  /** Jobs answered. */
  jobs: number;
  /** Workers replaced to give memory back. */
  recycled: number;
  /** Workers that died. */
  crashed: number;
};

/** What {@linkcode createWorkerPool} returns. */
export interface WorkerPool extends PredictionService {
  /** The backend and model the first worker loaded. */
  readonly info: WorkerInfo;
  /** Counters for `/healthz`. */
  stats(): WorkerPoolStats;
}

interface Slot {
  worker: PoolWorker;
  state: "starting" | "idle" | "busy" | "gone";
  job?: Pending;
  /** Pixels decoded since it started. */
  pixels: number;
  /** A replacement is starting; retire this one when it is ready and this one idle. */
  replacing: boolean;
  retireWhenIdle: boolean;
}

interface Pending {
  id: number;
  job: PredictJob;
  resolve(o: PredictOutput): void;
  reject(e: unknown): void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Starts `workers` prediction workers on `weights` (a path or a weight file's
 * bytes) and resolves when all are ready.
 *
 * @throws The weights' or backend's error (`Cannot read weights file …`), or a
 * TypeError starting with {@linkcode WORKER_UNAVAILABLE} when workers cannot
 * run here (the app then falls back to in-thread predictions).
 * @example
 * ```ts
 * import { createWorkerPool } from "./worker_pool.ts";
 * const pool = await createWorkerPool("tests/testdata/lite_wz.safetensors", {
 *   backend: "cpu",
 *   predictor: { inputSize: 32 },
 * });
 * pool.info.arch; // "lite"
 * await pool.close();
 * ```
 */
export async function createWorkerPool(
  weights: string | Uint8Array,
  options: WorkerPoolOptions = {},
): Promise<WorkerPool> {
  const size = options.workers ?? DEFAULT_WORKERS;
  if (!Number.isInteger(size) || size < 1 || size > 64) {
    throw new RangeError(`Cannot create worker pool: current workers is ${size}`);
  }
  if (typeof Worker !== "function") {
    throw new TypeError(`${WORKER_UNAVAILABLE}: current runtime has no Web Workers`);
  }
  const init: WorkerInit = {
    type: "init",
    weights,
    backend: options.backend ?? "auto",
    predictor: options.predictor ?? {},
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxParts: options.maxParts ?? DEFAULT_MAX_PARTS,
    warmup: options.warmup ?? true,
  };
  const recyclePixels = options.recyclePixels ?? DEFAULT_RECYCLE_PIXELS;
  const startMs = options.startTimeoutMs ?? DEFAULT_WORKER_START_MS;
  const idleMs = options.idleRecycleMs ?? DEFAULT_IDLE_RECYCLE_MS;
  const jobMs = options.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
  const idlePixels = options.idleRecyclePixels ?? DEFAULT_IDLE_RECYCLE_PIXELS;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const slots: Slot[] = [];
  const queue: Pending[] = [];
  const retiring = new Set<Promise<void>>();
  let nextId = 0, jobs = 0, recycled = 0, crashed = 0, closed = false;

  function spawn(): Slot {
    const slot: Slot = {
      worker: undefined!,
      state: "starting",
      pixels: 0,
      replacing: false,
      retireWhenIdle: false,
    };
    slot.worker = startPoolWorker(init, startMs, {
      done: (data) => finish(slot, data),
      crashed(message) {
        crashed++;
        const p = slot.job;
        slot.job = undefined;
        clearTimeout(p?.timer);
        p?.reject(new Error(`prediction worker died: ${message}`));
        retire(slot, false);
        pump();
      },
    });
    slot.worker.ready.then(() => {
      if (slot.state !== "starting") return;
      slot.state = "idle";
      pump();
    }, () => retire(slot, false));
    slots.push(slot);
    return slot;
  }

  function retire(slot: Slot, graceful: boolean): void {
    if (slot.state === "gone") return;
    slot.state = "gone";
    slots.splice(slots.indexOf(slot), 1);
    const gone = slot.worker.stop(graceful).then(() => void retiring.delete(gone));
    retiring.add(gone);
    if (closed || slots.length >= size) return;
    const noWorker = () => {
      // A replacement that cannot start: fail the waiting jobs rather than hang.
      if (slots.length > 0) return;
      for (const p of queue.splice(0)) p.reject(new Error("no prediction worker could start"));
    };
    try {
      spawn().worker.ready.catch(noWorker);
    } catch {
      noWorker();
    }
  }

  function finish(slot: Slot, data: Extract<FromWorker, { type: "done" }>): void {
    const p = slot.job;
    slot.job = undefined;
    clearTimeout(p?.timer);
    if (slot.state === "busy") slot.state = "idle";
    jobs++;
    if (p && p.id === data.id) {
      if (data.ok) {
        p.resolve({ body: data.body, contentType: data.contentType, pixels: data.pixels });
      } else p.reject(errorFromWire(data.error));
    }
    if (data.ok) slot.pixels += data.pixels;
    if (slot.retireWhenIdle) retire(slot, true);
    else if (data.ok && data.pixels > recyclePixels) replace(slot);
    pump();
    armIdle();
  }

  /** Starts a fresh worker; `old` keeps serving until it is ready, then retires. */
  function replace(old: Slot): void {
    if (old.replacing || closed || old.state === "gone") return;
    old.replacing = true;
    recycled++;
    let fresh: Slot;
    try {
      fresh = spawn();
    } catch {
      old.replacing = false;
      return;
    }
    fresh.worker.ready.then(() => {
      if (old.state === "idle") retire(old, true);
      else old.retireWhenIdle = true;
    }, () => {
      old.replacing = false;
    });
  }

  /** After `idleMs` without jobs, replaces the workers that decoded much. */
  function armIdle(): void {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    if (closed || !Number.isFinite(idlePixels) || queue.length) return;
    if (slots.some((s) => s.state === "busy")) return;
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      if (queue.length || slots.some((s) => s.state === "busy")) return;
      for (const s of [...slots]) if (s.state === "idle" && s.pixels > idlePixels) replace(s);
    }, idleMs);
  }

  function pump(): void {
    while (queue.length) {
      const slot = slots.find((s) => s.state === "idle");
      if (!slot) return;
      const p = queue.shift()!;
      slot.state = "busy";
      slot.job = p;
      p.timer = setTimeout(() => {
        if (slot.job !== p) return;
        crashed++;
        slot.job = undefined;
        p.reject(new Error(`prediction worker did not answer within ${jobMs} ms`));
        retire(slot, false);
        pump();
      }, jobMs);
      const msg: ToWorker = { type: "job", id: p.id, ...p.job };
      const body = p.job.body;
      const transfer = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength
        ? [body.buffer as ArrayBuffer]
        : [];
      slot.worker.post(msg, transfer);
    }
  }

  let info: WorkerInfo;
  try {
    const first = Array.from({ length: size }, () => spawn());
    [info] = await Promise.all(first.map((s) => s.worker.ready));
  } catch (e) {
    closed = true;
    for (const s of [...slots]) retire(s, false);
    throw e;
  }

  return {
    mode: "workers",
    capacity: size,
    info,
    run(job: PredictJob): Promise<PredictOutput> {
      if (closed) return Promise.reject(new HttpError("busy", "server is shutting down"));
      clearTimeout(idleTimer);
      return new Promise((resolve, reject) => {
        queue.push({ id: nextId++, job, resolve, reject });
        pump();
      });
    },
    stats: () => ({
      workers: size,
      ready: slots.filter((s) => s.state === "idle" || s.state === "busy").length,
      busy: slots.filter((s) => s.state === "busy").length,
      starting: slots.filter((s) => s.state === "starting").length,
      queued: queue.length,
      jobs,
      recycled,
      crashed,
    }),
    async close(): Promise<void> {
      closed = true;
      clearTimeout(idleTimer);
      for (const p of queue.splice(0)) p.reject(new HttpError("busy", "server is shutting down"));
      for (const s of [...slots]) {
        clearTimeout(s.job?.timer);
        s.job?.reject(new HttpError("busy", "server is shutting down"));
        retire(s, true);
      }
      await Promise.all(retiring);
    },
  };
}
