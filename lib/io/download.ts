/**
 * Verified downloads: stream a URL into `<dest>.part-<random>` while
 * counting bytes and hashing them (md5), then rename it to `dest` only when
 * the status, the size and the md5 all match. A refused request, a cut
 * transfer, an oversized body or a wrong checksum leaves nothing under
 * `dest` and removes the partial file.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Default for {@linkcode DownloadOptions.idleTimeoutMs}: a transfer silent this long is cut. */
export const DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS = 60_000;

/** What went wrong in a download, for callers that react differently. */
export type DownloadErrorKind = "network" | "status" | "size" | "cut" | "md5";

/**
 * A failed download: a TypeError whose message reads "Cannot download NAME:
 * current … from URL", with the URL and the kind of failure as fields.
 *
 * @example
 * ```ts
 * import { DownloadError } from "./download.ts";
 * const e = new DownloadError("Cannot download x: current status is 404 from u", "u", "status");
 * e instanceof TypeError; // true
 * ```
 */
export class DownloadError extends TypeError {
  /** The error's name. */
  override name = "DownloadError";
  /**
   * A download failure.
   *
   * @param message The one-line message.
   * @param url The URL requested.
   * @param kind What failed.
   * @param options The underlying error, if any.
   */
  constructor(
    message: string,
    readonly url: string,
    readonly kind: DownloadErrorKind,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Options of {@linkcode downloadVerified}. */
export interface DownloadOptions {
  /** Expected size in bytes; more or fewer bytes fail the download. */
  bytes: number;
  /** Expected md5 digest, hex. */
  md5: string;
  /** Name used in error messages. @default {the file name of dest} */
  label?: string;
  /** The fetch function (tests, proxies). @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Called after each received chunk with the bytes so far and the expected total. @default {undefined} */
  onProgress?: (received: number, total: number) => void;
  /** Cancels the download (the partial file is removed). @default {undefined} */
  signal?: AbortSignal;
  /** A transfer that receives nothing for this long is cut. @default DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS */
  idleTimeoutMs?: number;
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** Streams `res`'s body into `file`, hashing; returns the byte count and md5. */
async function drain(
  res: Response,
  file: Deno.FsFile,
  fail: (msg: string, kind: DownloadErrorKind, cause?: unknown) => DownloadError,
  options: DownloadOptions,
  idle: { touch(): void; signal: AbortSignal },
): Promise<{ received: number; md5: string }> {
  const hash = createHash("md5");
  let received = 0;
  const reader = res.body!.getReader();
  // A body that ignores the abort signal still ends the wait.
  const aborted = new Promise<never>((_, reject) => {
    const stop = () => reject(idle.signal.reason);
    if (idle.signal.aborted) stop();
    else idle.signal.addEventListener("abort", stop, { once: true });
  });
  aborted.catch(() => {});
  try {
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), aborted]);
      } catch (e) {
        throw fail(
          `current transfer stopped after ${received} of ${options.bytes} bytes (${firstLine(e)})`,
          "cut",
          e,
        );
      }
      if (chunk.done) break;
      idle.touch();
      const data = chunk.value;
      if (received + data.length > options.bytes) {
        throw fail(`current size exceeds the expected ${options.bytes} bytes`, "size");
      }
      for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
      hash.update(data);
      received += data.length;
      options.onProgress?.(received, options.bytes);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { received, md5: hash.digest("hex") };
}

/**
 * Downloads `url` to `dest` (whose folder must exist), checking the HTTP
 * status, the Content-Length, the byte count and the md5. Needs net
 * permission for the URL's host (and any host it redirects to; redirects
 * are followed) and write permission for `dest`'s folder.
 *
 * @throws {DownloadError} "Cannot download NAME: current status is 404 from URL" and the like.
 * @throws {Deno.errors.NotCapable} When net or write permission is missing.
 * @example
 * ```ts ignore
 * import { downloadVerified } from "./download.ts";
 * await downloadVerified("https://example.com/u2netp.onnx", "/tmp/u2netp.onnx", {
 *   bytes: 4574861,
 *   md5: "8e83ca70e441ab06c318d82300c84806",
 * });
 * ```
 */
export async function downloadVerified(
  url: string,
  dest: string,
  options: DownloadOptions,
): Promise<void> {
  const label = options.label ?? dest.split(/[\\/]/).pop();
  const fail = (msg: string, kind: DownloadErrorKind, cause?: unknown) =>
    new DownloadError(`Cannot download ${label}: ${msg} from ${url}`, url, kind, { cause });
  const ac = new AbortController();
  const onAbort = () => ac.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort);
  const idleMs = options.idleTimeoutMs ?? DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = {
    signal: ac.signal,
    touch() {
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(new Error(`nothing received for ${idleMs} ms`)), idleMs);
    },
  };
  const tmp = `${dest}.part-${crypto.randomUUID().slice(0, 8)}`;
  let file: Deno.FsFile | undefined;
  try {
    idle.touch();
    let res: Response;
    try {
      res = await (options.fetch ?? fetch)(url, { signal: ac.signal, redirect: "follow" });
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) throw e;
      const cause = (e as Error)?.cause;
      const why = ac.signal.aborted
        ? firstLine(ac.signal.reason)
        : firstLine(e) + (cause ? `: ${firstLine(cause).replace(/^.*\): /, "")}` : "");
      throw fail(`current URL is unreachable (${why})`, "network", e);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw fail(`current status is ${res.status}`, "status");
    }
    const length = res.headers.get("content-length");
    if (length !== null && !res.headers.get("content-encoding") && +length !== options.bytes) {
      await res.body.cancel().catch(() => {});
      throw fail(`current size is ${length} bytes, expected ${options.bytes}`, "size");
    }
    file = await Deno.open(tmp, { write: true, createNew: true });
    const got = await drain(res, file, fail, options, idle);
    if (got.received < options.bytes) {
      throw fail(
        `current transfer stopped after ${got.received} of ${options.bytes} bytes`,
        "cut",
      );
    }
    if (got.md5 !== options.md5.toLowerCase()) {
      throw fail(`current md5 is ${got.md5}, expected ${options.md5}`, "md5");
    }
    await file.syncData();
    file.close();
    file = undefined;
    await Deno.rename(tmp, dest);
  } catch (e) {
    try {
      file?.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}
