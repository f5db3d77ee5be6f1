/**
 * The Web Worker of `decode_pool.ts`: for each {@linkcode DecodeJob}, reads
 * and decodes the sample's files with `fileSource().load` (the main-thread
 * code, so results and error messages are the same), squashes it with
 * `squashSample`, and posts the sample back with its buffers transferred, or
 * its error as data.
 *
 * @module
 */
import { fileSource } from "./dataset.ts";
import { type SquashedSample, squashSample } from "./transforms.ts";
import { type DecodeJob, type DecodeReply, errorToData } from "./_decode_protocol.ts";

/** The worker global scope, as far as this module uses it (lib is deno.window). */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<DecodeJob>) => void) | null;
  postMessage(message: DecodeReply, transfer?: Transferable[]): void;
};

async function run(job: DecodeJob): Promise<void> {
  let sample: SquashedSample;
  try {
    const raw = await fileSource([job.paths]).load(0);
    sample = squashSample(raw.image, raw.mask, { inputSize: job.inputSize });
  } catch (e) {
    scope.postMessage({ id: job.id, ok: false, error: errorToData(e) });
    return;
  }
  const buffers = new Set([sample.image.data.buffer, sample.mask.data.buffer]);
  scope.postMessage({ id: job.id, ok: true, sample }, [...buffers] as ArrayBuffer[]);
}

scope.onmessage = (ev) => void run(ev.data);
