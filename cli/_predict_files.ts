/**
 * The files `predict` works on: inputs (files and folders, recursive) mapped
 * to output paths under the output folder.
 *
 * @module
 */
import { requirePermission, UserError } from "./_common.ts";

/** File extensions `predict` picks up in folders. */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg"];

/** One input file and the output it gets. */
export interface Job {
  /** Input image path. */
  input: string;
  /** Output PNG path. */
  output: string;
}

const join = (a: string, b: string) => `${a.replace(/\/+$/, "")}/${b.replace(/^\/+/, "")}`;
const stem = (name: string) => name.replace(/\.[^./]*$/, "");

async function walk(dir: string, rel: string, out: string[]): Promise<void> {
  const entries = [];
  for await (const e of Deno.readDir(join(dir, rel) || ".")) entries.push(e);
  entries.sort((a, b) => a.name < b.name ? -1 : 1);
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) await walk(dir, r, out);
    else if (e.isFile && IMAGE_EXTENSIONS.some((x) => e.name.toLowerCase().endsWith(x))) {
      out.push(r);
    }
  }
}

/**
 * Lists the jobs for `inputs` (files, or folders searched recursively for
 * {@linkcode IMAGE_EXTENSIONS}); outputs keep the folder structure under `outDir`.
 */
export async function collectJobs(inputs: string[], outDir: string): Promise<Job[]> {
  const jobs: Job[] = [];
  for (const input of inputs) {
    requirePermission("predict", { name: "read", path: input }, `--allow-read=${input}`);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(input);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new UserError(`input "${input}" does not exist`);
      throw e;
    }
    if (info.isDirectory) {
      const files: string[] = [];
      await walk(input, "", files);
      for (const f of files) {
        jobs.push({ input: join(input, f), output: join(outDir, `${stem(f)}.png`) });
      }
    } else {
      const base = input.split(/[\\/]/).pop()!;
      jobs.push({ input, output: join(outDir, `${stem(base)}.png`) });
    }
  }
  if (!jobs.length) {
    throw new UserError(`no ${IMAGE_EXTENSIONS.join("/")} files in ${inputs.join(", ")}`);
  }
  return jobs;
}

/** Whether `path` exists (false when it cannot be checked). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false; // absent, or not readable: the write (createNew) decides
  }
}
