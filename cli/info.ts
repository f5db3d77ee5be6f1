/**
 * `info [--weights FILE] [--backend NAME] [--json]`: the backend and adapter
 * `auto` gets here (and why others were skipped), the architectures'
 * parameter counts, and, with `--weights`, what the file holds.
 *
 * @module
 */
import { BACKEND_NAMES, type BackendName } from "../lib/backend.ts";
import { U2NET_FULL, U2NET_LITE } from "../lib/model/config.ts";
import { loadWeightsFile } from "../lib/model/load_weights.ts";
import { stateDictSpec } from "../lib/model/state_dict.ts";
import { selectInferenceBackend, wasmBinaryDir } from "../lib/predict/mod.ts";
import {
  choiceOption,
  type CommandSpec,
  formatHelp,
  parseCommand,
  requirePermission,
  runCommand,
  stringOption,
  UserError,
} from "./_common.ts";

/** The `info` command's options. */
export const INFO_SPEC: CommandSpec = {
  name: "info",
  usage: "",
  summary:
    "Shows the tfjs backend and GPU adapter, model parameter counts and a weight file's contents.",
  options: {
    weights: { type: "string", short: "w", arg: "FILE", help: "also describe this weight file" },
    backend: {
      type: "string",
      arg: BACKEND_NAMES.join("|"),
      help: "backend to try",
      default: "auto",
    },
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
  const out: Record<string, unknown> = {
    deno: Deno.version.deno,
    backend: b.backend,
    adapter: b.adapter ?? null,
    fallbackAdapter: b.fallbackAdapter ?? false,
    notes: b.notes,
    wasmBinaryDir: wasmBinaryDir(),
    parameters: { full: countParameters("full"), lite: countParameters("lite") },
  };
  const weights = stringOption(p, "weights", "");
  if (weights) {
    requirePermission("info", { name: "read", path: weights }, `--allow-read=${weights}`);
    const model = await loadWeightsFile(weights);
    out.weights = {
      file: weights,
      arch: model.config.name,
      parameters: model.numParameters(),
      convBias: model.convBias,
      batchNorm: model.batchNorm,
    };
    model.dispose();
  }
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
  console.log(
    `parameters  full ${fmt(countParameters("full"))}, lite ${fmt(countParameters("lite"))}`,
  );
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
