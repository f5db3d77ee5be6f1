/**
 * The files `predict` works on: inputs (files, folders searched recursively,
 * or `-` for stdin) mapped to output paths (under an output folder, one named
 * file, or `-` for stdout). Inputs are resolved through symlinks and must lie
 * inside the allowed folders (`_safe_files.ts`); folder scans do not follow
 * links and list them, and anything else that is not a regular file, with
 * the reason.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { requirePermission, UserError } from "./_common.ts";
import { escapeControls, printable } from "./_progress.ts";
import { FileRefused, mayRead, resolveInside } from "./_safe_files.ts";

/** File extensions `predict` picks up in folders (`decodeImage` sniffs the format from the bytes). */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg", ".webp"];

/** One input and the output it gets. */
export interface Job {
  /** The input as shown to the user (typed path, or typed folder + file). */
  input: string;
  /** What to read: the real path, or `-` for stdin. */
  path: string;
  /** Output PNG path, or `-` for stdout. */
  output: string;
}

/** Where outputs go: a folder (structure kept), one file, or stdout (`-`). */
export type OutputTarget = { dir: string } | { file: string };

/** What {@linkcode collectJobs} found. */
export interface Collected {
  /** The work. */
  jobs: Job[];
  /** Folder entries passed over, with the reason (links, FIFOs, devices). */
  refused: { input: string; reason: string }[];
  /** Files in folders without an image extension. */
  ignored: number;
}

/** Extensions that make `-o` look like an image file rather than a folder. */
const IMAGE_WORDS = ["jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff", "avif", "heic"];

const stem = (name: string) => name.replace(/\.[^./]*$/, "");
const isImage = (name: string) => IMAGE_EXTENSIONS.some((x) => name.toLowerCase().endsWith(x));

function entryKind(e: Deno.DirEntry): string {
  return e.isSymlink
    ? "a symbolic link (not followed; name its target instead)"
    : "not a regular file";
}

/** A folder scan: image files (relative paths) into `files`; links and the like into `found`. */
async function walk(
  dir: { real: string; shown: string; skip?: string },
  rel: string,
  files: string[],
  found: Collected,
): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(rel ? join(dir.real, rel) : dir.real)) entries.push(e);
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory && join(dir.real, r) === dir.skip) {
      found.refused.push({ input: join(dir.shown, r), reason: "the output folder" });
    } else if (e.isDirectory) await walk(dir, r, files, found);
    else if (e.isFile && isImage(e.name)) files.push(r);
    else if (!e.isFile && (isImage(e.name) || e.isSymlink)) {
      found.refused.push({ input: join(dir.shown, r), reason: entryKind(e) });
    } else found.ignored++;
  }
}

/**
 * Lists the jobs for `inputs` (files, folders searched recursively for
 * {@linkcode IMAGE_EXTENSIONS}, or `-`); each input's real path must lie in
 * `roots`. With an output folder, outputs keep the folder structure under it,
 * a scan passes over the output folder itself (a rerun would read its own
 * cut-outs), and inputs whose names differ only in the extension (`a.png`,
 * `a.jpg`) keep it in their output name (`a.png.png`, `a.jpg.png`).
 *
 * @throws {UserError} (one line) for a missing input, one that resolves
 * outside `roots`, one that is not a file or folder, or no images at all.
 */
export async function collectJobs(
  inputs: string[],
  target: OutputTarget,
  roots: string[],
): Promise<Collected> {
  const found: Collected = { jobs: [], refused: [], ignored: 0 };
  const outFor = (rel: string) =>
    "file" in target ? target.file : join(target.dir, `${stem(rel)}.png`);
  const skip = "dir" in target ? await realPathOf(target.dir) : undefined;
  for (const input of inputs) {
    if (input === "-") {
      found.jobs.push({ input: "stdin", path: "-", output: outFor("stdin") });
      continue;
    }
    const flag = `--allow-read=${escapeControls(input)}`;
    requirePermission("predict", { name: "read", path: input }, flag);
    let real: string, info: Deno.FileInfo;
    try {
      real = await resolveInside(input, roots);
      info = await Deno.stat(real);
    } catch (e) {
      if (e instanceof FileRefused) throw new UserError(`input ${printable(input)} ${e.message}`);
      if (e instanceof Deno.errors.NotFound) {
        throw new UserError(`input ${printable(input)} does not exist`);
      }
      throw e;
    }
    if (info.isDirectory) {
      const files: string[] = [];
      await walk({ real, shown: input, skip }, "", files, found);
      for (const f of files) {
        found.jobs.push({ input: join(input, f), path: join(real, f), output: outFor(f) });
      }
    } else if (info.isFile) {
      const base = input.split(/[\\/]/).pop()!;
      found.jobs.push({ input, path: real, output: outFor(base) });
    } else {
      throw new UserError(`input ${printable(input)} is not a regular file or folder`);
    }
  }
  if ("dir" in target) keepExtensions(found.jobs);
  if (!found.jobs.length && !found.refused.length) {
    throw new UserError(
      `no ${IMAGE_EXTENSIONS.join("/")} files in ${inputs.map(printable).join(", ")}`,
    );
  }
  return found;
}

/** `path` resolved through links (as far as it exists), absolute. */
async function realPathOf(path: string): Promise<string> {
  if (!mayRead(path)) return resolve(path);
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path); // not there yet: nothing of it can be scanned
  }
}

/**
 * Inputs whose outputs would share a name only because their extensions
 * differ (`a.png`, `a.jpg` → `a.png`) keep the extension (`a.png.png`,
 * `a.jpg.png`): every output is named before any decode, so which input
 * wins never depends on the order or on which file reads.
 */
function keepExtensions(jobs: Job[]): void {
  const claims = new Map<string, Job[]>();
  for (const j of jobs) claims.set(j.output, [...claims.get(j.output) ?? [], j]);
  for (const [, same] of claims) {
    const names = new Set(same.map((j) => j.input.split(/[\\/]/).pop()));
    if (same.length < 2 || names.size < same.length) continue; // the same file name twice: no fix
    for (const j of same) {
      const ext = /\.[^./\\]*$/.exec(j.input)?.[0] ?? "";
      j.output = j.output.replace(/\.png$/, `${ext}.png`);
    }
  }
}

/** Whether `path` exists, links included (false when it cannot be checked). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false; // absent, or not readable: the write (createNew) decides
  }
}

/**
 * Where `-o` sends the outputs: `-` → stdout (also when the only input is
 * `-` and no `-o` is given); a name ending in `.png` that is not an existing
 * folder → that one file; anything else → a folder (`fallback` without `-o`).
 *
 * @throws {UserError} for an `-o` that is an existing file not named `.png`,
 * or a new name with another image extension (`cut.jpg`): outputs are PNG.
 */
export async function outputTarget(
  inputs: string[],
  out: string | undefined,
  fallback: string,
): Promise<OutputTarget> {
  if (out === "-" || (out === undefined && inputs.length === 1 && inputs[0] === "-")) {
    return { file: "-" };
  }
  if (out === undefined) return { dir: fallback };
  const kind = mayRead(out)
    ? await Deno.stat(out).then((i) => i.isDirectory ? "dir" : "other", () => "none")
    : "none";
  if (/\.png$/i.test(out) && kind !== "dir") return { file: out };
  if (kind === "other") {
    throw new UserError(
      `-o ${printable(out)} is an existing file, not a folder (a single output is named .png)`,
    );
  }
  const ext = /\.([^./\\]+)$/.exec(out)?.[1];
  if (kind === "none" && ext && IMAGE_WORDS.includes(ext.toLowerCase())) {
    throw new UserError(
      `-o ${
        printable(out)
      } names a .${ext} file, but outputs are PNG: name it .png, or give a folder`,
    );
  }
  return { dir: out };
}
