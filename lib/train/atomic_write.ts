/**
 * Crash-safe file writes: write a temporary file next to the target, flush
 * it to disk, then rename it over the target (atomic on POSIX file systems).
 *
 * @module
 */

let counter = 0;

/**
 * Writes `data` to `path` atomically: a reader (or a process restarted after
 * a crash or a kill) sees either the old file or the complete new one, never
 * a partial file. A leftover `*.tmp-*` file may remain after a crash; it is
 * harmless.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_write.ts";
 * await writeFileAtomic("./runs/x.json", new TextEncoder().encode("{}"));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = `${path}.tmp-${Deno.pid}-${counter++}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Removes a file when it exists (no error when it does not).
 *
 * @example
 * ```ts
 * import { removeIfExists } from "./atomic_write.ts";
 * await removeIfExists("./runs/old.json");
 * ```
 */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
