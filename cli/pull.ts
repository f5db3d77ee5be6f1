/**
 * `pull NAME... | --all`: downloads trained models (rembg's U2-Net
 * releases) into the model cache ahead of time, with a progress bar on
 * stderr, checking size and md5. Cached models are re-hashed and kept when
 * intact. `predict`, `serve`, `eval` and `info` then load them with
 * `--weights NAME` without the network.
 *
 * Environment: `U2NET_HOME` (cache folder), `U2NET_MODEL_BASE_URL` (a
 * mirror of the release files), `U2NET_MODEL_MANIFEST` (a JSON file of
 * extra or overriding entries: name -> {file?, url?, bytes, md5, arch?}).
 *
 * @module
 */
import { MODEL_HOME_ENV, modelCacheDir } from "../lib/io/model_cache.ts";
import {
  DEFAULT_MODEL_BASE_URL,
  loadModelZoo,
  MODEL_BASE_URL_ENV,
  MODEL_MANIFEST_ENV,
} from "../lib/io/model_zoo.ts";
import {
  type CommandSpec,
  formatHelp,
  parseCommand,
  requirePermission,
  runCommand,
  UserError,
} from "./_common.ts";
import { formatBytes } from "./download_progress.ts";
import { fetchModel, readModelEnv } from "./_weights.ts";

/** The `pull` command's options. */
export const PULL_SPEC: CommandSpec = {
  name: "pull",
  usage: "<name>... | --all",
  summary: `Downloads trained models into the cache ($${MODEL_HOME_ENV}, else ~/.cache/u2net;
~/Library/Caches/u2net on macOS) from $${MODEL_BASE_URL_ENV}
(default ${DEFAULT_MODEL_BASE_URL}), checking size and md5.
$${MODEL_MANIFEST_ENV} names a JSON file adding or overriding models:
{"name": {"bytes": N, "md5": "...", "file"?: "name.onnx", "url"?: "...", "arch"?: "full|lite"}}.
Then: deno task predict --weights <name> photo.jpg`,
  options: {
    all: { type: "boolean", help: "every known model" },
    force: { type: "boolean", help: "download again even when cached" },
    list: { type: "boolean", help: "list the known models and exit" },
  },
  examples: ["deno task pull u2netp", "deno task pull --all"],
};

async function pull(args: string[]): Promise<number> {
  const p = parseCommand(args, PULL_SPEC);
  if (p === "help") {
    console.log(formatHelp(PULL_SPEC));
    return 0;
  }
  const env = readModelEnv();
  const manifest = env[MODEL_MANIFEST_ENV];
  if (manifest) {
    requirePermission("pull", { name: "read", path: manifest }, `--allow-read=${manifest}`);
  }
  const zoo = await loadModelZoo({ env });
  if (p.values.list) {
    const w = Math.max(...Object.keys(zoo).map((n) => n.length)) + 2;
    for (const [name, e] of Object.entries(zoo)) {
      console.log(`${name.padEnd(w)}${formatBytes(e.bytes).padStart(9)}  ${e.description}`);
    }
    console.log(`cache: ${modelCacheDir({ env })}`);
    return 0;
  }
  const names = p.values.all ? Object.keys(zoo) : p.positionals;
  if (!names.length) {
    throw new UserError(`no model named; one of ${Object.keys(zoo).join(", ")} or --all`);
  }
  const unknown = names.filter((n) => !Object.hasOwn(zoo, n));
  if (unknown.length) {
    throw new UserError(
      `unknown model "${unknown[0]}"; known models: ${Object.keys(zoo).join(", ")}`,
    );
  }
  // Every model is tried; the first failure is rethrown (one line) after the rest ran.
  let failed: unknown;
  for (const name of names) {
    try {
      const got = await fetchModel("pull", name, {
        env,
        force: p.values.force === true,
        verifyCached: true,
      });
      console.log(
        `pull: ${name} ${got.downloaded ? "downloaded to" : "already cached at"} ${got.path} ` +
          `(${formatBytes(got.entry.bytes)}, md5 ${got.entry.md5})`,
      );
    } catch (e) {
      if (names.length === 1) throw e;
      console.error(
        `pull: ${name}: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`,
      );
      failed ??= e;
    }
  }
  if (failed) throw failed;
  return 0;
}

/**
 * Runs `pull` with `args`; returns the exit status.
 *
 * @example
 * ```ts
 * import { run } from "./pull.ts";
 * await run(["--help"]); // 0
 * ```
 */
export function run(args: string[]): Promise<number> {
  return runCommand("pull", () => pull(args));
}
