/**
 * Training checkpoints: `model_{epoch}.safetensors` (the model's state dict,
 * seed key names, PyTorch layout: loadable by `readWeights`, `eval` and
 * PyTorch's `safetensors.torch.load_file`), `model_{epoch}.optim.safetensors`
 * (AdamW moments) and `model_{epoch}.json` (everything else). Each file is
 * written atomically and the JSON last, carrying an id that the two tensor
 * files repeat, so a crash at any moment leaves every checkpoint with a JSON
 * either complete or detectably mismatched.
 *
 * @module
 */
import type { StateDict } from "../io/raw_tensor.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { checkWeights } from "../io/check_weights.ts";
import type { AdamWState } from "../optim/adamw.ts";
import { writeFileAtomic } from "./atomic_write.ts";

/** Checkpoint format tag, in the JSON and the safetensors metadata. */
export const CHECKPOINT_FORMAT = "u2net-webgpu-train-checkpoint/1";

/** The JSON part of a checkpoint (caller-defined fields go in `extra`). */
export interface CheckpointMeta<Extra = Record<string, unknown>> {
  /** {@linkcode CHECKPOINT_FORMAT}. */
  format: string;
  /** Random id shared with the two tensor files of the same save. */
  id: string;
  /** Epoch just finished. */
  epoch: number;
  /** Weights file name (same folder). */
  weightsFile: string;
  /** Optimizer-moments file name (same folder). */
  optimizerFile: string;
  /** AdamW group hyper-parameters. */
  optimizerGroups: AdamWState["groups"];
  /** AdamW step count of every parameter with moments. */
  optimizerSteps: Record<string, number>;
  /** ISO time of the save. */
  savedAt: string;
  /** Loop state: options, scheduler, loader, history… */
  extra: Extra;
}

/** A checkpoint read back by {@linkcode loadCheckpoint}. */
export interface LoadedCheckpoint<Extra = Record<string, unknown>> {
  /** The JSON part. */
  meta: CheckpointMeta<Extra>;
  /** Model state dict (seed keys, PyTorch layout). */
  stateDict: StateDict;
  /** Optimizer state for `AdamW.loadState`. */
  optimizer: AdamWState;
}

/** What {@linkcode saveCheckpoint} writes. */
export interface CheckpointData<Extra = Record<string, unknown>> {
  /** Epoch just finished. */
  epoch: number;
  /** `await model.stateDict()`. */
  stateDict: StateDict;
  /** `await optimizer.state()`. */
  optimizer: AdamWState;
  /** Loop state, stored in the JSON. */
  extra: Extra;
}

/**
 * Writes `{base}.safetensors`, `{base}.optim.safetensors`, then `{base}.json`,
 * each atomically. Returns the JSON path.
 *
 * @example
 * ```ts
 * import { saveCheckpoint } from "./checkpoint.ts";
 * import { U2Net } from "../model/u2net.ts";
 * import { AdamW } from "../optim/adamw.ts";
 * const model = U2Net.create("lite");
 * const opt = new AdamW([{ params: model.namedParameters().map(([, v]) => v) }]);
 * await saveCheckpoint("./runs/x/model_0", {
 *   epoch: 0, stateDict: await model.stateDict(), optimizer: await opt.state(), extra: {},
 * });
 * ```
 */
export async function saveCheckpoint<Extra>(
  base: string,
  data: CheckpointData<Extra>,
): Promise<string> {
  const id = crypto.randomUUID();
  const name = base.replace(/^.*[\\/]/, "");
  const tag = { format: "pt", checkpoint: CHECKPOINT_FORMAT, checkpoint_id: id };
  const weights = writeSafetensors(data.stateDict, { ...tag, epoch: String(data.epoch) });
  await writeFileAtomic(`${base}.safetensors`, weights);
  const moments: StateDict = new Map();
  const optimizerSteps: Record<string, number> = {};
  for (const [key, s] of Object.entries(data.optimizer.params)) {
    optimizerSteps[key] = s.step;
    moments.set(`exp_avg.${key}`, { dtype: "F32", shape: [s.expAvg.length], data: s.expAvg });
    moments.set(`exp_avg_sq.${key}`, {
      dtype: "F32",
      shape: [s.expAvgSq.length],
      data: s.expAvgSq,
    });
  }
  await writeFileAtomic(`${base}.optim.safetensors`, writeSafetensors(moments, tag));
  const meta: CheckpointMeta<Extra> = {
    format: CHECKPOINT_FORMAT,
    id,
    epoch: data.epoch,
    weightsFile: `${name}.safetensors`,
    optimizerFile: `${name}.optim.safetensors`,
    optimizerGroups: data.optimizer.groups,
    optimizerSteps,
    savedAt: new Date().toISOString(),
    extra: data.extra,
  };
  await writeFileAtomic(`${base}.json`, JSON.stringify(meta, null, 1) + "\n");
  return `${base}.json`;
}

function fail(path: string, why: string): never {
  throw new TypeError(`Cannot load checkpoint ${path}: current file ${why}`);
}

async function readTensors(path: string, id: string, jsonPath: string): Promise<StateDict> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail(jsonPath, `refers to missing ${path}`);
    throw e;
  }
  let f: ReturnType<typeof readSafetensors>;
  try {
    f = readSafetensors(bytes);
  } catch (e) {
    // A truncated or corrupt tensor file: name it (the reader's message does not).
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new RangeError(
      `Cannot load checkpoint ${jsonPath}: current file ${path} is unreadable (${why})`,
    );
  }
  if (f.metadata.checkpoint_id !== id) {
    fail(jsonPath, `does not match ${path} (an interrupted save); use an earlier checkpoint`);
  }
  return checkWeights(f.tensors, path);
}

/**
 * Reads a checkpoint from its JSON path (a `.safetensors` path of the same
 * checkpoint is accepted too), checking that all three files belong to the
 * same save.
 *
 * @throws {TypeError} On a missing, foreign or mismatched file.
 * @example
 * ```ts
 * import { loadCheckpoint } from "./checkpoint.ts";
 * const ckpt = await loadCheckpoint("./runs/x/model_0.json");
 * console.log(ckpt.meta.epoch);
 * ```
 */
export async function loadCheckpoint<Extra = Record<string, unknown>>(
  path: string,
): Promise<LoadedCheckpoint<Extra>> {
  const jsonPath = checkpointJsonPath(path);
  let meta: CheckpointMeta<Extra>;
  try {
    meta = JSON.parse(await Deno.readTextFile(jsonPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail(jsonPath, "does not exist");
    if (e instanceof SyntaxError) fail(jsonPath, "is not valid JSON");
    throw e;
  }
  if (meta?.format !== CHECKPOINT_FORMAT) fail(jsonPath, "is not a training checkpoint");
  const dir = jsonPath.includes("/") ? jsonPath.replace(/\/[^/]*$/, "") : ".";
  const stateDict = await readTensors(`${dir}/${meta.weightsFile}`, meta.id, jsonPath);
  const moments = await readTensors(`${dir}/${meta.optimizerFile}`, meta.id, jsonPath);
  const params: AdamWState["params"] = {};
  for (const [key, step] of Object.entries(meta.optimizerSteps)) {
    const m = moments.get(`exp_avg.${key}`)?.data;
    const v = moments.get(`exp_avg_sq.${key}`)?.data;
    if (!(m instanceof Float32Array) || !(v instanceof Float32Array)) {
      fail(jsonPath, `lacks the optimizer moments of "${key}"`);
    }
    params[key] = { step, expAvg: m, expAvgSq: v };
  }
  return { meta, stateDict, optimizer: { groups: meta.optimizerGroups, params } };
}

/**
 * The JSON of the checkpoint that `path` names: itself, or the JSON beside
 * its `.safetensors` or `.optim.safetensors`.
 *
 * @example
 * ```ts
 * import { checkpointJsonPath } from "./checkpoint.ts";
 * checkpointJsonPath("runs/x/model_3.optim.safetensors"); // "runs/x/model_3.json"
 * ```
 */
export function checkpointJsonPath(path: string): string {
  return path.replace(/(\.optim)?\.safetensors$/, ".json");
}

/**
 * The newest complete checkpoint JSON (`model_{epoch}.json`, highest epoch
 * whose files all belong to the same save) in `dir`, or undefined.
 *
 * @example
 * ```ts
 * import { latestCheckpoint } from "./checkpoint.ts";
 * console.log(await latestCheckpoint("./runs/demo"));
 * ```
 */
export async function latestCheckpoint(dir: string): Promise<string | undefined> {
  const found: [number, string][] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = /^model_(\d+)\.json$/.exec(e.name);
    if (e.isFile && m) found.push([Number(m[1]), `${dir}/${e.name}`]);
  }
  found.sort((a, b) => b[0] - a[0]);
  for (const [, path] of found) {
    if (await isComplete(path)) return path;
  }
  return undefined;
}

async function headerId(path: string): Promise<string | undefined> {
  const file = await Deno.open(path, { read: true });
  try {
    const head = new Uint8Array(8);
    if ((await file.read(head)) !== 8) return undefined;
    const len = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (len > 100_000_000) return undefined;
    const json = new Uint8Array(len);
    let off = 0;
    while (off < len) {
      const n = await file.read(json.subarray(off));
      if (n === null) return undefined;
      off += n;
    }
    return JSON.parse(new TextDecoder().decode(json)).__metadata__?.checkpoint_id;
  } finally {
    file.close();
  }
}

/** True when the JSON and both tensor files of a checkpoint belong to the same save. */
async function isComplete(jsonPath: string): Promise<boolean> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(jsonPath)) as CheckpointMeta;
    if (meta.format !== CHECKPOINT_FORMAT) return false;
    const dir = jsonPath.replace(/\/[^/]*$/, "");
    for (const f of [meta.weightsFile, meta.optimizerFile]) {
      if ((await headerId(`${dir}/${f}`)) !== meta.id) return false;
    }
    return true;
  } catch {
    return false;
  }
}
