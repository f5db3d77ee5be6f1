/**
 * The CLI's weights: `--weights FILE|NAME`, else `$U2NET_WEIGHTS`, else the
 * demo checkpoint. A model name (`u2netp`) is fetched into the model cache
 * on first use with a progress bar on stderr; every failure (no network, a
 * cache folder outside the task's permissions, a bad checksum) is one line.
 *
 * @module
 */
import { userPath } from "./_safe_files.ts";
import { DownloadError } from "../lib/io/download.ts";
import {
  type EnsuredModel,
  ensureModel,
  identifyZooFile,
  MODEL_HOME_ENV,
  modelCacheDir,
  type ModelEnv,
  readModelEnv,
} from "../lib/io/model_cache.ts";
import {
  loadModelZoo,
  MODEL_MANIFEST_ENV,
  MODEL_ZOO,
  type ModelZooEntry,
} from "../lib/io/model_zoo.ts";
import { resolveWeightsSource } from "../lib/predict/weights_path.ts";
import { envWeights, permissionFlag, requirePermission, runHint, UserError } from "./_common.ts";
import { createByteProgress, formatBytes } from "./download_progress.ts";

export { readModelEnv };

/** The model cache folder the deno.json tasks may read and write (`$HOME` expanded by deno task). */
export const TASK_CACHE_DIRS = ["$HOME/.cache/u2net", "$HOME/Library/Caches/u2net"];

/** What to do without network, appended to download failures. */
export function manualDownloadHint(path: string): string {
  return `without network, download it yourself and save it as ${path}, or pass --weights FILE ` +
    `(the .onnx, or "deno task convert FILE out.safetensors" first)`;
}

/** The `--weights` help's list of model names. */
export const MODEL_NAMES_HELP = `${
  Object.keys(MODEL_ZOO).join(", ")
} (downloaded once into $${MODEL_HOME_ENV} or ~/.cache/u2net)`;

/** The weights a command loads. */
export interface CliWeights {
  /** The file to load. */
  path: string;
  /** For messages: the model name, or the path. */
  label: string;
  /** The zoo model, when named. */
  model?: { name: string; entry: ModelZooEntry; preprocess: ModelZooEntry["preprocess"] };
  /** Whether it was downloaded now. */
  downloaded: boolean;
}

function cacheRefusal(command: string, dir: string, what: string, env: ModelEnv): UserError {
  const allowed = TASK_CACHE_DIRS.map((d) => d.replace("$HOME", env.HOME ?? "~"));
  return new UserError(
    `${command} needs --allow-read=${dir} --allow-write=${dir} to ${what} the model cache ` +
      `${dir}; "deno task ${command}" allows ${allowed.join(" and ")}: set ${MODEL_HOME_ENV}=` +
      `${allowed[Deno.build.os === "darwin" ? 1 : 0]} or run deno run with those flags`,
  );
}

/**
 * Fetches zoo model `name` into the cache (progress on stderr) unless cached;
 * maps failures to one-line {@linkcode UserError}s.
 */
export async function fetchModel(
  command: string,
  name: string,
  options: { env?: ModelEnv; force?: boolean; verifyCached?: boolean } = {},
): Promise<EnsuredModel> {
  const env = options.env ?? readModelEnv();
  const cacheDir = modelCacheDir({ env });
  if (Deno.permissions.querySync({ name: "read", path: cacheDir }).state !== "granted") {
    throw cacheRefusal(command, cacheDir, "read", env);
  }
  let bar: ReturnType<typeof createByteProgress> | undefined;
  let target = `${cacheDir}/${name}.onnx`;
  try {
    const got = await ensureModel(name, {
      env,
      cacheDir,
      force: options.force,
      verifyCached: options.verifyCached,
      onDownload: (i) => {
        target = i.path;
        const host = new URL(i.url).host;
        if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") {
          const flag = `--allow-net=${host.replace(/:\d+$/, "")}`;
          throw new UserError(
            `${command} needs ${flag} to download ${name} from ${i.url}; ` +
              `${runHint(command, flag)}; ${manualDownloadHint(i.path)}`,
          );
        }
        if (Deno.permissions.querySync({ name: "write", path: cacheDir }).state !== "granted") {
          throw cacheRefusal(command, cacheDir, "write", env);
        }
        console.error(`${command}: downloading ${name} (${formatBytes(i.bytes)}) from ${i.url}`);
        bar = createByteProgress(i.bytes, { label: `${command}: ${name}` });
      },
      onProgress: (r) => bar?.update(r),
    });
    bar?.done();
    if (got.downloaded) {
      console.error(`${command}: ${name} verified (size, md5), cached at ${got.path}`);
    }
    return got;
  } catch (e) {
    bar?.done();
    if (e instanceof DownloadError) {
      throw new UserError(
        e.kind === "md5" || e.kind === "size"
          ? e.message
          : `${e.message}; ${manualDownloadHint(target)}`,
      );
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      const flag = permissionFlag(e);
      if (flag.startsWith("--allow-net")) {
        throw new UserError(
          `${command} needs ${flag.replace(/:\d+$/, "")} to download ${name}; ${
            manualDownloadHint(target)
          }`,
        );
      }
      throw cacheRefusal(command, cacheDir, "write", env);
    }
    throw e;
  }
}

/**
 * Resolves `--weights` (`explicit`), else `$U2NET_WEIGHTS`, else the demo
 * checkpoint, to a readable file; a model name is fetched first.
 *
 * @example
 * ```ts ignore
 * const w = await resolveCliWeights("predict", "u2netp"); // w.path: ~/.cache/u2net/u2netp.onnx
 * ```
 */
export async function resolveCliWeights(
  command: string,
  explicit: string | undefined,
  options: { identify?: boolean } = {},
): Promise<CliWeights> {
  const env = readModelEnv();
  const manifest = env[MODEL_MANIFEST_ENV];
  if (manifest) {
    requirePermission(command, { name: "read", path: manifest }, `--allow-read=${manifest}`);
  }
  const zoo = await loadModelZoo({ env });
  // A file path is taken from the folder the user ran the task in (INIT_CWD); a model name is not a path.
  const given = explicit && !(explicit in zoo) ? userPath(explicit) : explicit;
  const source = resolveWeightsSource(given || undefined, { env: envWeights(), zoo });
  if (source.kind === "file") {
    requirePermission(command, { name: "read", path: source.path }, `--allow-read=${source.path}`);
    // a release downloaded by hand is used as its name would be
    // (predict and serve: the commands whose preprocessing follows the weights)
    const known = options.identify ? await identifyZooFile(source.path, zoo) : undefined;
    const model = known && { ...known, preprocess: known.entry.preprocess };
    if (known) {
      console.error(
        `${command}: ${source.path} is ${known.name} (size and md5): ` +
          `${known.entry.preprocess} preprocessing unless --preprocess says otherwise`,
      );
    }
    return {
      path: source.path,
      label: source.path,
      downloaded: false,
      ...(model ? { model } : {}),
    };
  }
  const got = await fetchModel(command, source.name, { env });
  return {
    path: got.path,
    label: source.name,
    model: { name: source.name, entry: source.entry, preprocess: source.preprocess },
    downloaded: got.downloaded,
  };
}
