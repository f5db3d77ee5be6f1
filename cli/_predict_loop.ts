/**
 * The body of `predict` once its jobs are known: existing outputs skipped
 * (said so, naming `--overwrite`), inputs read (bounded, regular files only;
 * stdin for `-`), decoded in their displayed orientation, predicted in
 * batches, rendered and written (through checked output folders, never
 * through a symlink; stdout for `-`). Every file that fails is reported as
 * it happens and again in the summary, names escaped.
 *
 * @module
 */
import { dirname } from "node:path";
import { decodeImage } from "../lib/data/image_io.ts";
import type { Predictor, RenderOptions } from "../lib/predict/mod.ts";
import { renderPng } from "../lib/predict/render.ts";
import { type Collected, exists, IMAGE_EXTENSIONS, type Job } from "./_predict_files.ts";
import { count, createProgress, printable } from "./_progress.ts";
import {
  makeOutputDir,
  MAX_IMAGE_BYTES,
  readBounded,
  readStdin,
  refuseLinkedOutput,
} from "./_safe_files.ts";

/** How {@linkcode runJobs} works. */
export interface JobRunOptions {
  /** The network. */
  predictor: Predictor;
  /** Output format, threshold, alpha, post-processing, background. */
  render: RenderOptions;
  /** Images per network call. */
  batch: number;
  /** Replace existing outputs. */
  overwrite: boolean;
  /** Folders the outputs may resolve into. */
  outRoots: string[];
  /** Where the summary goes (stdout, or stderr when stdout carries the PNG). */
  say: (line: string) => void;
  /** The output folder or file, for the summary. */
  outLabel: string;
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

async function writeAll(data: Uint8Array): Promise<void> {
  for (let n = 0; n < data.length;) n += await Deno.stdout.write(data.subarray(n));
}

async function readInput(job: Job): Promise<Uint8Array> {
  return job.path === "-"
    ? await readStdin(MAX_IMAGE_BYTES)
    : await readBounded(job.path, MAX_IMAGE_BYTES);
}

/** Runs the jobs; returns the exit status (1 when any failed). */
export async function runJobs(found: Collected, o: JobRunOptions): Promise<number> {
  const { jobs } = found;
  let written = 0, skipped = 0;
  const failures: string[] = [];
  const progress = createProgress(jobs.length, { label: "predict" });
  for (const r of found.refused) progress.log(`not read: ${printable(r.input)}: ${r.reason}`);
  const fail = (job: Job, e: unknown) => {
    const line = `${printable(job.input)}: ${firstLine(e)}`;
    failures.push(line);
    progress.log(`error: ${line}`);
    progress.tick(`${printable(job.input)} failed`);
  };
  const skip = (job: Job) => {
    skipped++;
    progress.tick(`${printable(job.input)} skipped (${printable(job.output)} exists)`);
  };
  const seen = new Set<string>();
  const todo: Job[] = [];
  for (const job of jobs) {
    if (seen.has(job.output)) {
      fail(job, new Error(`output ${printable(job.output)} already produced by another input`));
    } else if (!o.overwrite && job.output !== "-" && await exists(job.output)) skip(job);
    else todo.push(job);
    seen.add(job.output);
  }
  const checkedDirs = new Set<string>();
  for (let k = 0; k < todo.length; k += o.batch) {
    const ready = [];
    for (const job of todo.slice(k, k + o.batch)) {
      try {
        const image = await decodeImage(await readInput(job), { orientation: true });
        ready.push({ job, image });
      } catch (e) {
        fail(job, e);
      }
    }
    let probs;
    try {
      probs = await o.predictor.predict(ready.map((r) => r.image));
    } catch (e) {
      ready.forEach((r) => fail(r.job, e));
      continue;
    }
    for (const [i, { job, image }] of ready.entries()) {
      try {
        const png = renderPng(image, probs[i], {
          ...o.render,
          onMattingFallback: (why) =>
            console.error(
              `note: ${printable(job.input)}: soft cut-out, alpha matting fell back (${why})`,
            ),
        });
        if (job.output === "-") await writeAll(png);
        else {
          const dir = dirname(job.output);
          if (!checkedDirs.has(dir)) {
            await makeOutputDir(dir, o.outRoots).catch((e) => {
              // mkdir over a file: a failure, not an existing output to keep
              throw e instanceof Deno.errors.AlreadyExists
                ? new Error(`cannot make folder ${printable(dir)}: a file is in the way`)
                : e;
            });
            checkedDirs.add(dir);
          }
          await refuseLinkedOutput(job.output);
          await Deno.writeFile(job.output, png, { createNew: !o.overwrite });
        }
        written++;
        progress.tick(
          `${printable(job.input)} -> ${job.output === "-" ? "stdout" : printable(job.output)}`,
        );
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) skip(job);
        else if (e instanceof Deno.errors.NotCapable) throw e;
        else fail(job, e);
      }
    }
  }
  progress.done();
  o.say(
    `predict: ${written} written, ${skipped} skipped, ${failures.length} failed -> ${
      printable(o.outLabel)
    }`,
  );
  if (skipped) {
    o.say(
      `${count(skipped, "existing output")} kept: rerun with --overwrite to replace ${
        skipped === 1 ? "it" : "them"
      }`,
    );
  }
  if (found.refused.length) {
    o.say(`not read (${count(found.refused.length, "entry", "entries")} in the folders):`);
    for (const r of found.refused) o.say(`  ${printable(r.input)}: ${r.reason}`);
  }
  if (failures.length) {
    o.say(`failed (${count(failures.length, "file")}):`);
    for (const f of failures) o.say(`  ${f}`);
  }
  if (found.ignored) {
    o.say(
      `${count(found.ignored, "other file")} in the folders ignored (not ${
        IMAGE_EXTENSIONS.join("/")
      })`,
    );
  }
  return failures.length ? 1 : 0;
}
