/**
 * A prediction worker of `worker_pool.ts`: loads the weights itself (a path
 * or the bytes of a weight file), selects its backend, builds a predictor
 * (and warms it up at the network size), then answers one job at a time:
 * multipart extraction, checks, decode, predict, render; the response bytes
 * are transferred back. `close` frees the engines (their threads) and ends it.
 *
 * @module
 */
import type { BackendName } from "../backend.ts";
import { loadInferenceModel } from "../model/load_weights.ts";
import { selectInferenceBackend } from "../predict/inference_backend.ts";
import { createPredictor, type Predictor, type PredictorOptions } from "../predict/predictor.ts";
import { errorToWire, type ErrorWire } from "./errors.ts";
import { type PredictJob, runPrediction } from "./_pipeline.ts";
import { loadedInfo, type WorkerInfo } from "./_loaded_info.ts";

/** The pool's first message. */
export interface WorkerInit {
  type: "init";
  /** A weight file's path, or its bytes. */
  weights: string | Uint8Array;
  backend: BackendName;
  predictor: PredictorOptions;
  maxPixels: number;
  maxParts: number;
  /** Run one blank image through the network before answering ready. */
  warmup: boolean;
}

export type { WorkerInfo } from "./_loaded_info.ts";

/** Messages to a worker. */
export type ToWorker = WorkerInit | ({ type: "job"; id: number } & PredictJob) | { type: "close" };

/** Messages from a worker. */
export type FromWorker =
  | { type: "ready"; info: WorkerInfo }
  | { type: "failed"; error: ErrorWire }
  | {
    type: "done";
    id: number;
    ok: true;
    body: Uint8Array;
    contentType: string;
    pixels: number;
  }
  | { type: "done"; id: number; ok: false; error: ErrorWire }
  | { type: "closed" };

const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  close(): void;
};

let predictor: Predictor | undefined;
let dispose: (() => void) | undefined;
let limits = { maxPixels: 0, maxParts: 0 };

/** `gc()` where the runtime exposes it (`--v8-flags=--expose-gc`): frees load and large-image garbage at once. */
const collect = () => (globalThis as { gc?: () => void }).gc?.();

/** Decoded pixels after which a job is followed by a collection. */
const COLLECT_AFTER_PIXELS = 1 << 20;

async function init(msg: WorkerInit): Promise<WorkerInfo> {
  const backend = await selectInferenceBackend(msg.backend);
  const model = await loadInferenceModel(msg.weights);
  const p = createPredictor(model, { ...msg.predictor, maxBatch: 1 });
  predictor = p;
  dispose = () => {
    p.dispose?.();
    model.dispose();
  };
  limits = { maxPixels: msg.maxPixels, maxParts: msg.maxParts };
  if (msg.warmup) {
    const s = p.options.inputSize;
    await p.predict([{ width: s, height: s, channels: 3, data: new Uint8Array(s * s * 3) }]);
  }
  return loadedInfo(backend, p, model);
}

/** A buffer holding exactly `b`, transferable. */
function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength &&
      b.buffer instanceof ArrayBuffer
    ? b
    : b.slice()) as Uint8Array<ArrayBuffer>;
}

scope.onmessage = async ({ data: msg }) => {
  if (msg.type === "init") {
    try {
      const info = await init(msg);
      collect();
      scope.postMessage({ type: "ready", info });
    } catch (e) {
      scope.postMessage({ type: "failed", error: errorToWire(e) });
    }
  } else if (msg.type === "job") {
    try {
      const out = await runPrediction(predictor!, msg, limits);
      const body = own(out.body);
      scope.postMessage(
        {
          type: "done",
          id: msg.id,
          ok: true,
          body,
          contentType: out.contentType,
          pixels: out.pixels,
        },
        [body.buffer],
      );
      if (out.pixels > COLLECT_AFTER_PIXELS) collect();
    } catch (e) {
      scope.postMessage({ type: "done", id: msg.id, ok: false, error: errorToWire(e) });
    }
  } else {
    dispose?.();
    scope.postMessage({ type: "closed" });
    scope.close();
  }
};
