/**
 * Trained U2-Net models by name: the public releases that rembg
 * distributes as ONNX files, with their sizes and md5 digests, plus the
 * overrides for mirrors and tests (a base URL, a JSON manifest adding or
 * replacing entries).
 *
 * @module
 */

/** Architecture of a zoo model: U2-Net, U2-Net lite, or a derived width (silueta). */
export type ZooArch = "full" | "lite" | "derived";

/** One downloadable model. */
export interface ModelZooEntry {
  /** File name in the cache and under the base URL, e.g. `u2netp.onnx`. */
  file: string;
  /** Full URL; overrides base URL + file. */
  url?: string;
  /** Size in bytes. */
  bytes: number;
  /** md5 digest, lowercase hex. */
  md5: string;
  /** Architecture. */
  arch: ZooArch;
  /** One line for listings. */
  description: string;
  /**
   * Input preprocessing the weights were trained with: `rembg` (ImageNet
   * mean/std after max-scaling, LANCZOS resizes), or `seed` (networks trained
   * here: /255, bilinear).
   */
  preprocess: "rembg" | "seed";
}

/** Where rembg's release assets live (`<base>/<name>.onnx`). */
export const DEFAULT_MODEL_BASE_URL =
  "https://github.com/danielgatis/rembg/releases/download/v0.0.0";

/** Environment variable overriding {@linkcode DEFAULT_MODEL_BASE_URL} (mirrors, tests). */
export const MODEL_BASE_URL_ENV = "U2NET_MODEL_BASE_URL";

/** Environment variable naming a JSON manifest that adds or overrides zoo entries. */
export const MODEL_MANIFEST_ENV = "U2NET_MODEL_MANIFEST";

/** The hosts a download from the default base URL touches (the release host and its redirect targets). */
export const MODEL_HOSTS: readonly string[] = [
  "github.com",
  "objects.githubusercontent.com",
  "release-assets.githubusercontent.com",
];

/** The models, by name. */
export const MODEL_ZOO: Readonly<Record<string, ModelZooEntry>> = Object.freeze({
  u2net: {
    file: "u2net.onnx",
    bytes: 175_997_641,
    md5: "60024c5c889badc19c04ad937298a77b",
    arch: "full",
    description: "U2-Net (176 MB), general salient objects",
    preprocess: "rembg",
  },
  u2netp: {
    file: "u2netp.onnx",
    bytes: 4_574_861,
    md5: "8e83ca70e441ab06c318d82300c84806",
    arch: "lite",
    description: "U2-Net lite (4.6 MB), fast, a little less precise",
    preprocess: "rembg",
  },
  u2net_human_seg: {
    file: "u2net_human_seg.onnx",
    bytes: 175_997_641,
    md5: "c09ddc2e0104f800e3e1bb4652583d1f",
    arch: "full",
    description: "U2-Net (176 MB) trained for people",
    preprocess: "rembg",
  },
  silueta: {
    file: "silueta.onnx",
    bytes: 44_173_029,
    md5: "55e59e0d8062d2f5d013f4725ee84782",
    arch: "derived",
    description: "U2-Net pruned to 44 MB (silueta), close to u2net",
    preprocess: "rembg",
  },
});

/** A manifest entry as written in JSON (missing fields come from the built-in entry or defaults). */
export interface ModelManifestEntry {
  /** File name in the cache and under the base URL. @default {`${name}.onnx`} */
  file?: string;
  /** Full URL. @default {`${baseUrl}/${file}`} */
  url?: string;
  /** Size in bytes. */
  bytes: number;
  /** md5, hex. */
  md5: string;
  /** Architecture. @default {"full"} */
  arch?: ZooArch;
  /** One line for listings. @default {"from the model manifest"} */
  description?: string;
  /**
   * Input preprocessing it was trained with: `seed` for networks trained
   * here, `rembg` for rembg's files. @default {the built-in entry's, else "rembg"}
   */
  preprocess?: "rembg" | "seed";
}

/** Entries by name, as a manifest holds them. */
export type ModelManifest = Record<string, ModelManifestEntry>;

const bad = (where: string, what: string) =>
  new TypeError(`Cannot read the model manifest: current ${what} in ${where}`);

/**
 * Checks a parsed manifest and returns the zoo it makes (built-ins plus its
 * entries, which override by name).
 *
 * @throws {TypeError} "Cannot read the model manifest: current …" for a malformed entry.
 * @example
 * ```ts
 * import { mergeManifest } from "./model_zoo.ts";
 * const zoo = mergeManifest({ tiny: { bytes: 10, md5: "0123456789abcdef0123456789abcdef" } });
 * zoo.tiny.file; // "tiny.onnx"
 * ```
 */
export function mergeManifest(
  manifest: unknown,
  where = "the manifest",
): Record<string, ModelZooEntry> {
  if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest)) {
    throw bad(where, "value is not an object of name -> {bytes, md5}");
  }
  const zoo: Record<string, ModelZooEntry> = { ...MODEL_ZOO };
  for (const [name, raw] of Object.entries(manifest as Record<string, unknown>)) {
    const e = raw as Partial<ModelManifestEntry> | null;
    if (!/^[\w.-]+$/.test(name) || name.startsWith(".")) {
      throw bad(where, `name "${name}" is invalid`);
    }
    if (typeof e !== "object" || e === null) throw bad(where, `entry "${name}" is not an object`);
    if (!Number.isSafeInteger(e.bytes) || e.bytes! <= 0) {
      throw bad(where, `bytes of "${name}" is ${e.bytes}`);
    }
    if (typeof e.md5 !== "string" || !/^[0-9a-f]{32}$/i.test(e.md5)) {
      throw bad(where, `md5 of "${name}" is ${e.md5}`);
    }
    const file = e.file ?? zoo[name]?.file ?? `${name}.onnx`;
    if (typeof file !== "string" || /[\\/]/.test(file) || file.startsWith(".")) {
      throw bad(where, `file of "${name}" is ${file}`);
    }
    if (e.arch !== undefined && !["full", "lite", "derived"].includes(e.arch)) {
      throw bad(where, `arch of "${name}" is ${e.arch}`);
    }
    if (e.preprocess !== undefined && !["rembg", "seed"].includes(e.preprocess)) {
      throw bad(where, `preprocess of "${name}" is ${e.preprocess} (rembg or seed)`);
    }
    zoo[name] = {
      file,
      ...(typeof e.url === "string" ? { url: e.url } : {}),
      bytes: e.bytes!,
      md5: e.md5.toLowerCase(),
      arch: e.arch ?? zoo[name]?.arch ?? "full",
      description: e.description ?? zoo[name]?.description ?? "from the model manifest",
      preprocess: e.preprocess ?? zoo[name]?.preprocess ?? "rembg",
    };
  }
  return zoo;
}

/**
 * Whether `value` names a zoo model (a built-in or one of `zoo`'s).
 *
 * @example
 * ```ts
 * import { isModelName } from "./model_zoo.ts";
 * isModelName("u2netp"); // true
 * isModelName("runs/demo/model_best.safetensors"); // false
 * ```
 */
export function isModelName(
  value: string,
  zoo: Readonly<Record<string, ModelZooEntry>> = MODEL_ZOO,
): boolean {
  return Object.hasOwn(zoo, value);
}

/**
 * The URL of a zoo entry: its own `url`, else `<baseUrl>/<file>`.
 *
 * @example
 * ```ts
 * import { MODEL_ZOO, modelUrl } from "./model_zoo.ts";
 * modelUrl(MODEL_ZOO.u2netp); // "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx"
 * ```
 */
export function modelUrl(entry: ModelZooEntry, baseUrl: string = DEFAULT_MODEL_BASE_URL): string {
  return entry.url ?? `${baseUrl.replace(/\/+$/, "")}/${entry.file}`;
}

/** Options of {@linkcode loadModelZoo}. */
export interface LoadModelZooOptions {
  /** Environment values, read by the caller (`U2NET_MODEL_MANIFEST`). @default {{}} */
  env?: Readonly<Record<string, string | undefined>>;
  /** Extra or overriding entries, or the path of a JSON file of them. @default {env.U2NET_MODEL_MANIFEST} */
  manifest?: ModelManifest | string;
}

/**
 * The zoo with the manifest applied (`options.manifest`, else the file that
 * `U2NET_MODEL_MANIFEST` names). Needs read permission for that file.
 *
 * @throws {TypeError} "Cannot read the model manifest: current …".
 * @example
 * ```ts
 * import { loadModelZoo } from "./model_zoo.ts";
 * Object.keys(await loadModelZoo()); // ["u2net", "u2netp", "u2net_human_seg", "silueta"]
 * ```
 */
export async function loadModelZoo(
  options: LoadModelZooOptions = {},
): Promise<Record<string, ModelZooEntry>> {
  const manifest = options.manifest ?? options.env?.[MODEL_MANIFEST_ENV];
  if (manifest === undefined || manifest === "") return { ...MODEL_ZOO };
  if (typeof manifest !== "string") return mergeManifest(manifest);
  let text: string;
  try {
    text = await Deno.readTextFile(manifest);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new TypeError(
      `Cannot read the model manifest: current path ${manifest} ${
        e instanceof Deno.errors.NotFound ? "does not exist" : `fails (${(e as Error).message})`
      }`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TypeError(
      `Cannot read the model manifest: current ${manifest} is not JSON (${(e as Error).message})`,
    );
  }
  return mergeManifest(parsed, manifest);
}
