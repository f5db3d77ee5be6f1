/**
 * Reading one dataset file safely: the path is resolved (`Deno.realPath`)
 * and must lie inside one of the dataset's folders, it must be a regular
 * file (a FIFO would block forever, `/dev/zero` never ends), and it is
 * read with a bound.
 *
 * @module
 */

/** Largest image or mask file a dataset may hold (DUTS files are under 1 MiB). */
export const MAX_SAMPLE_FILE_BYTES = 256 * 2 ** 20;

/** Why a file is not a regular file, from its stat. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

const inside = (path: string, root: string) =>
  path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`);

/**
 * Reads `path` when it resolves inside one of `roots` (real paths; none:
 * anywhere) to a regular file of at most `MAX_SAMPLE_FILE_BYTES`. Throws a
 * one-line `TypeError` ending "… is missing", "… resolves to X, outside …",
 * "… is a FIFO", "… has N bytes, over …" (the caller prefixes the sample).
 */
export async function readSampleFile(
  path: string,
  roots: readonly string[] = [],
): Promise<Uint8Array> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    throw new TypeError(e instanceof Deno.errors.NotFound ? "is missing" : "is unreadable", {
      cause: e,
    });
  }
  if (roots.length && !roots.some((r) => inside(real, r))) {
    throw new TypeError(`resolves to ${real}, outside the dataset folders (${roots.join(", ")})`);
  }
  // stat before open: opening a FIFO for reading would wait for a writer.
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(real);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new TypeError(`is unreadable (${why})`, { cause: e });
  }
  if (!info.isFile) throw new TypeError(`is ${kindOf(info)}`);
  if (info.size > MAX_SAMPLE_FILE_BYTES) {
    throw new TypeError(`has ${info.size} bytes, over the ${MAX_SAMPLE_FILE_BYTES} bytes limit`);
  }
  using file = await Deno.open(real, { read: true });
  const opened = await file.stat();
  if (!opened.isFile) throw new TypeError(`is ${kindOf(opened)}`);
  // Read what the stat announced, plus one byte to notice a file that grew.
  const out = new Uint8Array(Math.min(opened.size, MAX_SAMPLE_FILE_BYTES) + 1);
  let n = 0;
  while (n < out.length) {
    const got = await file.read(out.subarray(n));
    if (got === null) break;
    n += got;
  }
  if (n === out.length) throw new TypeError("grew while being read");
  return out.subarray(0, n);
}

/** Real paths of the folders that exist among `dirs` (for {@linkcode readSampleFile}'s roots). */
export async function realRoots(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    try {
      const r = await Deno.realPath(d);
      if (!out.includes(r)) out.push(r);
    } catch {
      // a folder that does not exist bounds nothing
    }
  }
  return out;
}
