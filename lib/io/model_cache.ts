/**
 * The local cache of zoo models: where it lives (`U2NET_HOME`, else the
 * platform's user cache folder), what it holds, and {@linkcode ensureModel},
 * which returns a cached model's path or downloads, verifies and caches it
 * first. The caller passes the environment's values (`env`), so the library
 * itself reads no environment variables.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type DownloadOptions, downloadVerified } from "./download.ts";
import {
  DEFAULT_MODEL_BASE_URL,
  loadModelZoo,
  MODEL_BASE_URL_ENV,
  MODEL_MANIFEST_ENV,
  MODEL_ZOO,
  type ModelManifest,
  modelUrl,
  type ModelZooEntry,
} from "./model_zoo.ts";

/** Environment variable naming the cache folder (the one rembg uses too). */
export const MODEL_HOME_ENV = "U2NET_HOME";

/** Every environment variable the model cache and zoo read (for `--allow-env`). */
export const MODEL_ENV_VARS: readonly string[] = [
  MODEL_HOME_ENV,
  "XDG_CACHE_HOME",
  "HOME",
  "LOCALAPPDATA",
  MODEL_BASE_URL_ENV,
  MODEL_MANIFEST_ENV,
];

/** Environment values by name, read by the caller (undefined: unset). */
export type ModelEnv = Readonly<Record<string, string | undefined>>;

/** Where the zoo and its cache are (shared by the functions below). */
export interface ModelZooOptions {
  /** Environment values ({@linkcode MODEL_ENV_VARS}). @default {{}} */
  env?: ModelEnv;
  /** Cache folder. @default {modelCacheDir({ env })} */
  cacheDir?: string;
  /** Base URL of the releases. @default {env.U2NET_MODEL_BASE_URL ?? DEFAULT_MODEL_BASE_URL} */
  baseUrl?: string;
  /** Extra or overriding entries, or the path of a JSON file of them. @default {env.U2NET_MODEL_MANIFEST} */
  manifest?: ModelManifest | string;
  /** Operating system, for the default cache folder. @default {Deno.build.os} */
  os?: typeof Deno.build.os;
}

const join = (dir: string, file: string) =>
  `${dir.replace(/[\\/]+$/, "")}${dir.includes("\\") && !dir.includes("/") ? "\\" : "/"}${file}`;

/**
 * The cache folder: `U2NET_HOME`, else `%LOCALAPPDATA%\u2net` (Windows),
 * `~/Library/Caches/u2net` (macOS), `$XDG_CACHE_HOME/u2net` or
 * `~/.cache/u2net` (elsewhere).
 *
 * @throws {TypeError} When none of the variables it needs is set.
 * @example
 * ```ts
 * import { modelCacheDir } from "./model_cache.ts";
 * modelCacheDir({ env: { HOME: "/home/me" }, os: "linux" }); // "/home/me/.cache/u2net"
 * ```
 */
export function modelCacheDir(options: Pick<ModelZooOptions, "env" | "os"> = {}): string {
  const env = options.env ?? {};
  const os = options.os ?? Deno.build.os;
  if (env[MODEL_HOME_ENV]) return env[MODEL_HOME_ENV]!;
  if (os === "windows" && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, "u2net");
  if (os !== "windows" && env.HOME) {
    if (os === "darwin") return join(env.HOME, "Library/Caches/u2net");
    if (env.XDG_CACHE_HOME?.startsWith("/")) return join(env.XDG_CACHE_HOME, "u2net");
    return join(env.HOME, ".cache/u2net");
  }
  throw new TypeError(
    `Cannot find the model cache folder: current ${
      os === "windows" ? "LOCALAPPDATA" : "HOME"
    } is unset; set ${MODEL_HOME_ENV}`,
  );
}

/** A model file found in the cache. */
export interface CachedModel {
  /** Zoo name. */
  name: string;
  /** Path of the file. */
  path: string;
  /** Its size. */
  bytes: number;
  /** The size matches the zoo's. */
  complete: boolean;
  /** The md5 matches (only with `verify`; else undefined). */
  verified?: boolean;
}

/**
 * md5 of a file, hex, read in chunks (needs read permission for it).
 *
 * @example
 * ```ts
 * import { fileMd5 } from "./model_cache.ts";
 * (await fileMd5("deno.json")).length; // 32
 * ```
 */
export async function fileMd5(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  for (let n; (n = await file.read(buf)) !== null;) hash.update(buf.subarray(0, n));
  return hash.digest("hex");
}

/**
 * The zoo model that the file at `path` is, byte for byte (its size, then its
 * md5, match an entry's), or undefined: so that a release downloaded by hand
 * and passed as a path is used as its name would be (rembg's preprocessing).
 * Only a file of some entry's size is hashed (about 0.5 s per 176 MB).
 *
 * @example
 * ```ts
 * import { identifyZooFile } from "./model_cache.ts";
 * await identifyZooFile("tests/testdata/lite_wz.safetensors"); // undefined
 * ```
 */
export async function identifyZooFile(
  path: string,
  zoo: Readonly<Record<string, ModelZooEntry>> = MODEL_ZOO,
): Promise<{ name: string; entry: ModelZooEntry } | undefined> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    return undefined; // the loader says what is wrong with it
  }
  const sized = Object.entries(zoo).filter(([, e]) => e.bytes === size);
  if (!sized.length) return undefined;
  const md5 = await fileMd5(path);
  const hit = sized.find(([, e]) => e.md5 === md5);
  return hit && { name: hit[0], entry: hit[1] };
}

/**
 * The zoo models present in the cache folder (missing folder: none).
 * With `verify`, hashes each complete file (about 0.5 s per 176 MB).
 *
 * @example
 * ```ts
 * import { listCachedModels } from "./model_cache.ts";
 * await listCachedModels({ cacheDir: "tests/.tmp/no-cache" }); // []
 * ```
 */
export async function listCachedModels(
  options: ModelZooOptions & { verify?: boolean } = {},
): Promise<CachedModel[]> {
  const zoo = await loadModelZoo(options);
  const dir = options.cacheDir ?? modelCacheDir(options);
  const found: CachedModel[] = [];
  for (const [name, entry] of Object.entries(zoo)) {
    const path = join(dir, entry.file);
    const stat = await Deno.stat(path).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    });
    if (!stat?.isFile) continue;
    const complete = stat.size === entry.bytes;
    const verified = options.verify && complete ? (await fileMd5(path)) === entry.md5 : undefined;
    found.push({ name, path, bytes: stat.size, complete, ...(options.verify ? { verified } : {}) });
  }
  return found;
}

/**
 * The model variables ({@linkcode MODEL_ENV_VARS}) this process may read,
 * without prompting: a variable without `--allow-env` counts as unset.
 *
 * @example
 * ```ts
 * import { readModelEnv } from "./model_cache.ts";
 * const env = readModelEnv(); // { HOME: "/home/me", U2NET_HOME: undefined, … }
 * ```
 */
export function readModelEnv(): ModelEnv {
  const env: Record<string, string | undefined> = {};
  for (const name of MODEL_ENV_VARS) {
    try {
      const ok = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
      env[name] = ok ? Deno.env.get(name) || undefined : undefined; // never prompt
    } catch {
      env[name] = undefined;
    }
  }
  return env;
}

/** Options of {@linkcode ensureModel}. */
export interface EnsureModelOptions
  extends
    ModelZooOptions,
    Pick<DownloadOptions, "fetch" | "onProgress" | "signal" | "idleTimeoutMs"> {
  /** Download even when a complete file is cached. @default {false} */
  force?: boolean;
  /** Check a cached file's md5 too, not just its size. @default {false} */
  verifyCached?: boolean;
  /** Called once before a download starts (before the cache folder is created); may throw to stop it. @default {undefined} */
  onDownload?: (info: { name: string; url: string; path: string; bytes: number }) => void;
}

/** What {@linkcode ensureModel} returns. */
export interface EnsuredModel {
  /** Zoo name. */
  name: string;
  /** The cached file (load it with `loadInferenceModel`). */
  path: string;
  /** Its zoo entry (size, md5, arch, preprocessing). */
  entry: ModelZooEntry;
  /** Where it comes from. */
  url: string;
  /** Whether it was downloaded now (false: cache hit). */
  downloaded: boolean;
}

/**
 * The path of model `name` in the cache, downloading it first when it is
 * absent or incomplete (to a temporary name, renamed after the size and md5
 * checks). A cached model needs no network. Needs read and write permission
 * for the cache folder and net permission for the download's hosts.
 *
 * @throws {TypeError} "Cannot find model …" for an unknown name; a `DownloadError` for a failed download.
 * @example
 * ```ts ignore
 * import { ensureModel } from "./model_cache.ts";
 * const { path } = await ensureModel("u2netp", { env: { HOME: "/home/me" } });
 * ```
 */
export async function ensureModel(
  name: string,
  options: EnsureModelOptions = {},
): Promise<EnsuredModel> {
  const zoo = await loadModelZoo(options);
  const entry = Object.hasOwn(zoo, name) ? zoo[name] : undefined;
  if (!entry) {
    throw new TypeError(
      `Cannot find model "${name}": current names are ${Object.keys(zoo).join(", ")}`,
    );
  }
  const dir = options.cacheDir ?? modelCacheDir(options);
  const path = join(dir, entry.file);
  const url = modelUrl(
    entry,
    options.baseUrl || options.env?.[MODEL_BASE_URL_ENV] || DEFAULT_MODEL_BASE_URL,
  );
  if (!options.force) {
    const size = await Deno.stat(path).then((s) => s.isFile ? s.size : -1, (e) => {
      if (e instanceof Deno.errors.NotFound) return -1;
      throw e;
    });
    if (size === entry.bytes && (!options.verifyCached || (await fileMd5(path)) === entry.md5)) {
      return { name, path, entry, url, downloaded: false };
    }
  }
  options.onDownload?.({ name, url, path, bytes: entry.bytes });
  await Deno.mkdir(dir, { recursive: true });
  await downloadVerified(url, path, {
    bytes: entry.bytes,
    md5: entry.md5,
    label: name,
    fetch: options.fetch,
    onProgress: options.onProgress,
    signal: options.signal,
    idleTimeoutMs: options.idleTimeoutMs,
  });
  return { name, path, entry, url, downloaded: true };
}
