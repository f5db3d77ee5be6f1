/**
 * The tfjs backend a resumable checkpoint trained on, so that a resumed run
 * can go on where it was (a resume is bit-exact only on the same backend).
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../backend.ts";
import { checkpointJsonPath, type CheckpointMeta } from "./checkpoint.ts";
import { type LoopState, resolveResumePath } from "./_resume.ts";

/**
 * The backend recorded in the checkpoint that `resume` names (a checkpoint's
 * JSON or safetensors, or an output folder: its newest complete one), or
 * undefined where the checkpoint predates the record. Reads the JSON only.
 *
 * @throws {TypeError} When `resume` does not exist, or a folder has no complete checkpoint.
 * @example
 * ```ts
 * import { resumeBackend } from "./resume_backend.ts";
 * const backend = await resumeBackend("./runs/demo"); // "wasm", say
 * ```
 */
export async function resumeBackend(resume: string): Promise<BackendName | undefined> {
  const path = checkpointJsonPath(await resolveResumePath(resume));
  let meta: CheckpointMeta<LoopState>;
  try {
    meta = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined; // the run's own load says what is wrong with it
  }
  const name = meta?.extra?.backend as BackendName | undefined;
  return name && name !== "auto" && BACKEND_NAMES.includes(name) ? name : undefined;
}
