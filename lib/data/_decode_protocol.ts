/**
 * The messages between `decode_pool.ts` and its worker `_decode_worker.ts`,
 * in their own file so that the worker loads them without the pool.
 *
 * @module
 */
import type { SamplePaths } from "./dataset.ts";
import type { SquashedSample } from "./transforms.ts";

/** What the main thread posts to a worker. */
export interface DecodeJob {
  /** Job number, echoed in the reply. */
  id: number;
  /** Files of the sample. */
  paths: SamplePaths;
  /** Side the sample is squashed to. */
  inputSize: number;
}

/** An error as plain data (it crosses the worker boundary). */
export interface ErrorData {
  /** `TypeError`, `RangeError`, … */
  name: string;
  /** The message, unchanged. */
  message: string;
  /** Message of the error's cause, if any. */
  cause?: string;
}

/** What a worker posts back: the squashed sample (buffers transferred) or the sample's error. */
export type DecodeReply =
  | { id: number; ok: true; sample: SquashedSample }
  | { id: number; ok: false; error: ErrorData };

/** The outcome of one sample: a sample error is a value; pool failures reject instead. */
export type SquashResult = { ok: true; sample: SquashedSample } | { ok: false; error: Error };

/** `e` as {@linkcode ErrorData}. */
export function errorToData(e: unknown): ErrorData {
  if (!(e instanceof Error)) return { name: "Error", message: String(e) };
  const cause = e.cause instanceof Error ? e.cause.message : undefined;
  return cause === undefined
    ? { name: e.name, message: e.message }
    : { name: e.name, message: e.message, cause };
}

const ERRORS: Record<string, ErrorConstructor> = { TypeError, RangeError };

/** An error of the same class (TypeError, RangeError, else Error) and message as `d`. */
export function errorFromData(d: ErrorData): Error {
  const Ctor = ERRORS[d.name] ?? Error;
  return d.cause === undefined
    ? new Ctor(d.message)
    : new Ctor(d.message, { cause: new Error(d.cause) });
}
