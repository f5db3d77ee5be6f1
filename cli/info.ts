/**
 * `info [--weights FILE|NAME] [--backend NAME] [--engine E] [--json]`: the
 * backend and adapter `auto` gets here (and why others were skipped), the
 * engine `predict` would run, the architectures' parameter counts, the
 * trained models in the model cache, and, with `--weights`, what the file
 * holds (a model name is downloaded first).
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../lib/backend.ts";
import { type CachedModel, listCachedModels, modelCacheDir } from "../lib/io/model_cache.ts";
import { U2NET_FULL, U2NET_LITE } from "../lib/net/config.ts";
import { loadWeightsFile } from "../lib/model/load_weights.ts";
import { stateDictSpec } from "../lib/net/state_dict.ts";
import { U2Net } from "../lib/model/u2net.ts";
import { selectInferenceBackend, wasmBinaryDir } from "../lib/predict/mod.ts";
import { resolveEngineChoice } from "../lib/engines/create_engine.ts";
import {
  choiceOption,
  type CommandSpec,
  formatHelp,
  parseCommand,
  runCommand,
  stringOption,
  UserError,
} from "./_common.ts";
import { formatBytes } from "./download_progress.ts";
import { ENGINE_OPTION, engineOption } from "./_engine_options.ts";
import { MODEL_NAMES_HELP, readModelEnv, resolveCliWeights } from "./_weights.ts";

/** The `info` command's options. */
export const INFO_SPEC: CommandSpec = {
  name: "info",
  usage: "",
  summary:
    "Shows the tfjs backend and GPU adapter, model parameter counts and a weight file's contents.",
  options: {
    weights: {
      type: "string",
      short: "w",
      arg: "FILE|NAME",
      help: `also describe this weight file or trained model: ${MODEL_NAMES_HELP}`,
    },
    backend: {
      type: "string",
      arg: BACKEND_NAMES.join("|"),
      help: "backend to try",
      default: "auto",
    },
    engine: { ...ENGINE_OPTION, help: "the predict engine to check (see predict --help)" },
    json: { type: "boolean", help: "print JSON" },
  },
};

/**
 * Trainable parameters of an architecture, from its state-dict layout (nothing allocated).
 *
 * @example
 * ```ts
 * import { countParameters } from "./info.ts";
 * countParameters("lite"); // 1128333
 * ```
 */
export function countParameters(arch: "full" | "lite", convBias = false): number {
  const config = arch === "full" ? U2NET_FULL : U2NET_LITE;
  return stateDictSpec(config, { convBias, batchNorm: true })
    .filter((s) => s.role === "param")
    .reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** The model cache's folder and its verified files, or why it cannot be read. */
async function cachedModels(): Promise<{ dir: string; models: CachedModel[]; error?: string }> {
  const env = readModelEnv();
  let dir = "";
  try {
    dir = modelCacheDir({ env });
    if (Deno.permissions.querySync({ name: "read", path: dir }).state !== "granted") {
      return { dir, models: [], error: `not readable here (needs --allow-read=${dir})` };
    }
    return { dir, models: await listCachedModels({ env, cacheDir: dir, verify: true }) };
  } catch (e) {
    return { dir, models: [], error: (e as Error).message.split("\n")[0] };
  }
}

async function info(args: string[]): Promise<number> {
  const p = parseCommand(args, INFO_SPEC);
  if (p === "help") {
    console.log(formatHelp(INFO_SPEC));
    return 0;
  }
  if (p.positionals.length) throw new UserError(`unexpected argument "${p.positionals[0]}"`);
  const b = await selectInferenceBackend(
    choiceOption(p, "backend", BACKEND_NAMES, "auto" as BackendName),
  );
  const weights = stringOption(p, "weights", "");
  const resolved = weights ? await resolveCliWeights("info", weights) : undefined;
  const model = resolved ? await loadWeightsFile(resolved.path) : U2Net.create("lite");
  let engine: string;
  try {
    engine = resolveEngineChoice(engineOption(p), { u2net: model instanceof U2Net });
  } catch (e) {
    engine = `none (${(e as Error).message})`;
  }
  const cache = await cachedModels();
  const out: Record<string, unknown> = {
    deno: Deno.version.deno,
    backend: b.backend,
    adapter: b.adapter ?? null,
    fallbackAdapter: b.fallbackAdapter ?? false,
    notes: b.notes,
    engine,
    wasmBinaryDir: wasmBinaryDir(),
    parameters: { full: countParameters("full"), lite: countParameters("lite") },
    modelCache: cache,
  };
  if (resolved) {
    out.weights = {
      file: resolved.path,
      ...(resolved.model ? { model: resolved.model.name } : {}),
      arch: model.config.name,
      parameters: model.numParameters(),
      convBias: model.convBias,
      batchNorm: model.batchNorm,
    };
  }
  model.dispose();
  if (p.values.json) {
    console.log(JSON.stringify(out, null, 2));
    return 0;
  }
  const fmt = (n: number) => n.toLocaleString("en-US");
  console.log(`deno        ${out.deno}`);
  console.log(
    `backend     ${b.backend}${
      b.adapter ? ` (${b.adapter}${b.fallbackAdapter ? ", software" : ""})` : ""
    }`,
  );
  for (const n of b.notes) console.log(`            skipped ${n}`);
  console.log(`engine      ${engine} (what predict --engine ${engineOption(p)} runs here)`);
  console.log(
    `parameters  full ${fmt(countParameters("full"))}, lite ${fmt(countParameters("lite"))}`,
  );
  console.log(
    `models      ${cache.dir || "(no cache folder)"}${cache.error ? `: ${cache.error}` : ""}`,
  );
  if (!cache.error && !cache.models.length) {
    console.log(`            none cached ("deno task pull u2netp" or --weights u2netp)`);
  }
  for (const m of cache.models) {
    const state = !m.complete ? "incomplete" : m.verified ? "md5 ok" : "md5 MISMATCH";
    console.log(`            ${m.name.padEnd(16)} ${formatBytes(m.bytes).padStart(9)}  ${state}`);
  }
  if (out.weights) {
    const w = out.weights as {
      file: string;
      arch: string;
      parameters: number;
      convBias: boolean;
      batchNorm: boolean;
    };
    console.log(
      `weights     ${w.file}: ${w.arch}, ${
        fmt(w.parameters)
      } parameters, conv bias ${w.convBias}, ` +
        `batch norm ${w.batchNorm ? "yes" : "folded"}`,
    );
  }
  return 0;
}

/**
 * Runs `info` with `args`; returns the exit status.
 *
 * @example
 * ```ts
 * import { run } from "./info.ts";
 * await run(["--help"]); // 0
 * ```
 */
export function run(args: string[]): Promise<number> {
  return runCommand("info", () => info(args));
}
