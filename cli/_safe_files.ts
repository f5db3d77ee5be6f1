/**
 * File access for the CLI commands that take user paths (predict, convert):
 * paths relative to the folder the user ran `deno task` from (`INIT_CWD`),
 * inputs resolved through symlinks (`Deno.realPath`) and required to lie in
 * the allowed folders, only regular files read and never more than a bound,
 * output folders checked the same way and no write through a symlink.
 *
 * Deno checks permissions on the path as typed; a link inside the project
 * could otherwise read or write outside it, and a link to `/dev/zero` or a
 * FIFO would read forever.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { printable } from "./_progress.ts";

/** Largest image file (or stdin) `predict` reads. */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/** Largest weights file `convert` reads (u2net full `.pth` is 176 MB). */
export const MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024;

/** A file that cannot be used, with the reason (one line, name escaped). */
export class FileRefused extends Error {
  override name = "FileRefused";
}

/** The folder `deno task` was started from (`$INIT_CWD`), when set and readable. */
export function initCwd(): string | undefined {
  try {
    const q = Deno.permissions.querySync({ name: "env", variable: "INIT_CWD" });
    return q.state === "granted" ? Deno.env.get("INIT_CWD") || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** The current folder, or undefined when this process may not read it. */
function currentDir(): string | undefined {
  try {
    return Deno.cwd();
  } catch {
    return undefined;
  }
}

/**
 * `path` as the user meant it: relative paths are taken from `$INIT_CWD`
 * (where the user ran `deno task`) and given back relative to the current
 * folder when inside it, absolute otherwise. `-` (stdin/stdout) is kept.
 */
export function userPath(path: string, base: string | undefined = initCwd()): string {
  if (!base || path === "-" || isAbsolute(path)) return path;
  const cwd = currentDir();
  if (!cwd) return isAbsolute(base) ? resolve(base, path) : join(base, path);
  const abs = resolve(cwd, base, path);
  const rel = relative(cwd, abs);
  if (rel === "") return ".";
  return rel.startsWith("..") || isAbsolute(rel) ? abs : rel;
}

/** Whether this process may read `path` (queried, never prompted). */
export function mayRead(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

/** Whether `path` (absolute) is `root` or below it. */
export function isInside(path: string, root: string): boolean {
  const r = root.endsWith("/") ? root : `${root}/`;
  return path === root || path.startsWith(r);
}

/** The real path of `path`, or of its nearest existing ancestor plus the rest. */
export async function realPathLenient(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch (e) {
    const parent = dirname(path);
    if (!(e instanceof Deno.errors.NotFound) || parent === path) throw e;
    return join(await realPathLenient(parent), basename(path));
  }
}

/**
 * The folders a command may read or write through links: the current folder
 * and `$INIT_CWD` (real paths), plus, for each path the user named outside
 * them, that path's own place (its parent's real path joined with its name),
 * so that naming `/photos/a.jpg` works where the permissions allow it, but a
 * link inside the project leading out of it does not.
 */
export async function allowedRoots(named: string[]): Promise<string[]> {
  const cwd = currentDir();
  const absolute = (p: string) => cwd ? resolve(cwd, p) : isAbsolute(p) ? p : undefined;
  const lexical: string[] = [], roots: string[] = [];
  const init = initCwd();
  for (const dir of [cwd, init && absolute(init)]) {
    if (!dir) continue;
    lexical.push(dir);
    roots.push(mayRead(dir) ? await realPathLenient(dir).catch(() => dir) : dir);
  }
  for (const p of named) {
    const abs = absolute(p);
    if (p === "-" || (abs && [...lexical, ...roots].some((r) => isInside(abs, r)))) continue;
    const parent = dirname(abs ?? p);
    if (!mayRead(parent)) continue; // refused later, with the flag to add
    roots.push(join(await realPathLenient(parent).catch(() => parent), basename(p)));
  }
  return roots;
}

function kind(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a folder";
  if (info.isSymlink) return "a symbolic link";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * The real path of an input, checked to lie inside `roots`.
 *
 * @throws {Deno.errors.NotFound} when `path` does not exist.
 * @throws {FileRefused} for a broken link or one that leads outside the roots
 * (the message reads after the path: "resolves to …").
 */
export async function resolveInside(path: string, roots: string[]): Promise<string> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    const link = await Deno.lstat(path).then((i) => i.isSymlink, () => false);
    if (link && e instanceof Deno.errors.NotFound) {
      throw new FileRefused("is a link to a missing file");
    }
    throw e;
  }
  if (!roots.some((r) => isInside(real, r))) {
    throw new FileRefused(
      `resolves to ${printable(real)}, outside the folders this command may use ` +
        `(${roots.map(printable).join(", ")}); name the file itself`,
    );
  }
  return real;
}

/**
 * Reads a regular file, at most `maxBytes` (stat before opening, so a FIFO
 * never blocks; the open file is checked again).
 *
 * @throws {FileRefused} for anything but a regular file, or a larger one
 * (the message reads after the file's name: "it is a FIFO, …").
 */
export async function readBounded(path: string, maxBytes: number): Promise<Uint8Array> {
  const pre = await Deno.stat(path);
  if (!pre.isFile) throw new FileRefused(`it is ${kind(pre)}, not a regular file`);
  using file = await Deno.open(path, { read: true });
  const info = await file.stat();
  if (!info.isFile) throw new FileRefused(`it is ${kind(info)}, not a regular file`);
  if (info.size > maxBytes) {
    throw new FileRefused(`it is ${info.size} bytes, over the ${maxBytes}-byte limit`);
  }
  const buf = new Uint8Array(info.size + 1);
  let n = 0;
  while (n < buf.length) {
    const got = await file.read(buf.subarray(n));
    if (got === null) break;
    n += got;
  }
  if (n > info.size) throw new FileRefused("it grew while it was read");
  return buf.subarray(0, n);
}

/** Reads stdin to its end, at most `maxBytes`. */
export async function readStdin(maxBytes: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of Deno.stdin.readable) {
    n += chunk.length;
    if (n > maxBytes) throw new FileRefused(`stdin holds over ${maxBytes} bytes, the limit`);
    parts.push(chunk);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Checks that the output folder `dir` (or, when it does not exist yet, its
 * nearest existing ancestor) resolves inside `roots`. Where the folder may
 * be written but not read, only Deno's own check applies.
 *
 * @throws {FileRefused} when it resolves outside.
 */
export async function checkOutputDir(dir: string, roots: string[]): Promise<void> {
  if (!mayRead(dir)) return;
  const real = await realPathLenient(dir);
  if (!roots.some((r) => isInside(real, r))) {
    throw new FileRefused(
      `output folder ${printable(dir)} resolves to ${printable(real)}, outside the folders ` +
        `this command may write (${roots.map(printable).join(", ")})`,
    );
  }
}

/**
 * Creates `dir` (recursively) and checks where it resolves
 * ({@linkcode checkOutputDir}): a symlinked output folder could lead out of
 * the project.
 *
 * @throws {FileRefused} when it resolves outside.
 */
export async function makeOutputDir(dir: string, roots: string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await checkOutputDir(dir, roots);
}

/**
 * Throws when `path` exists as a symbolic link (a write would follow it) or as
 * something other than a regular file.
 */
export async function refuseLinkedOutput(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isFile) {
    throw new FileRefused(`output ${printable(path)} is ${kind(info)}; not writing through it`);
  }
}
