/**
 * Finds image/mask pairs on disk (DUTS or a plain `images/` + `masks/`
 * layout) and loads them as a {@linkcode SampleSource}.
 *
 * Unlike the seed (`os.listdir` order, `.jpg` only, assert on a missing
 * mask), files are sorted by name, `.jpg/.jpeg/.png/.webp` images are accepted, and
 * unmatched files are reported instead of failing. Files are read only when
 * they resolve inside the dataset's folders to regular files of bounded size.
 *
 * @module
 */
import { type DecodedImage, decodeImage, decodeMask, toRgb } from "./image_io.ts";
import { readSampleFile, realRoots } from "./sample_file.ts";

/** Which part of the dataset to list. */
export type Split = "train" | "test";

/** Options of {@linkcode discoverDataset}. */
export interface DiscoverOptions {
  /** DUTS-TR (train) or DUTS-TE (test); ignored by the plain layout. @default "train" */
  split?: Split;
}

/** One image and its mask. */
export interface SamplePaths {
  /** Image file name without extension (also the mask's stem). */
  name: string;
  /** Path of the image file. */
  imagePath: string;
  /** Path of the mask file. */
  maskPath: string;
  /**
   * Real paths of the dataset folders both files must resolve inside (a
   * symlink out of them is refused when loading); absent: anywhere.
   */
  roots?: string[];
}

/** What {@linkcode discoverDataset} returns. */
export interface DatasetIndex {
  /** `duts` (`DUTS-TR/DUTS-TR-Image` …) or `plain` (`images/`, `masks/`). */
  layout: "duts" | "plain";
  /** Folder holding the images. */
  imageDir: string;
  /** Folder holding the masks. */
  maskDir: string;
  /** Matched pairs, sorted by image file name. */
  samples: SamplePaths[];
  /** Image file names without a mask, sorted. */
  unmatchedImages: string[];
  /** Mask file names without an image, sorted. */
  unmatchedMasks: string[];
}

/** A decoded sample: RGB image and 1-channel mask, each at its own size. */
export interface RawSample {
  /** Sample name (image stem). */
  name: string;
  /** 3-channel RGB. */
  image: DecodedImage;
  /** 1-channel grey, 0-255. */
  mask: DecodedImage;
}

/** Anything a {@linkcode DataLoader} can draw samples from. */
export interface SampleSource {
  /** Number of samples. */
  readonly size: number;
  /** Name of sample `index` (no I/O). */
  name(index: number): string;
  /** Reads and decodes sample `index`; rejects with an error naming the file. */
  load(index: number): Promise<RawSample>;
  /**
   * Files of sample `index` (no I/O), for sources whose `load` reads exactly
   * these with {@linkcode fileSource}'s decoding; a `DataLoader` with
   * `workers` decodes such samples in Web Workers. Absent: in-memory sources.
   */
  paths?(index: number): SamplePaths;
}

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i;
const MASK_EXT = /\.png$/i;

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** What a user most likely got wrong when no image has a mask ("" when nothing stands out). */
async function whyNoPairs(imageDir: string, maskDir: string): Promise<string> {
  if (!(await isDir(maskDir))) return `; ${maskDir} does not exist`;
  const notPng = (await listFiles(maskDir, IMAGE_EXT)).filter((m) => !MASK_EXT.test(m));
  if (notPng.length) {
    return `; masks are read as .png only (as the seed), and ${maskDir} has ` +
      `${plural(notPng.length, "other image")} such as ${notPng[0]}`;
  }
  const folders: string[] = [];
  for await (const e of Deno.readDir(imageDir)) if (e.isDirectory) folders.push(e.name);
  return folders.length
    ? `; sub-folders are not searched, and ${imageDir} has ${folders.sort().slice(0, 3).join(", ")}`
    : "";
}

async function listFiles(dir: string, pattern: RegExp): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    // Everything but folders: FIFOs, devices and links are listed, then refused when loaded.
    if (!e.isDirectory && pattern.test(e.name) && !e.name.startsWith(".")) {
      names.push(e.name);
    }
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const stem = (file: string) => file.replace(/\.[^.]+$/, "");

/**
 * Lists image/mask pairs under `root`, trying in order:
 * `<root>/DUTS-TR/DUTS-TR-{Image,Mask}` (DUTS-TE for split "test"),
 * `<root>/DUTS-TR-{Image,Mask}` (root is the split folder itself), and
 * `<root>/images` + `<root>/masks`. An image `x.jpg` pairs with mask `x.png`.
 *
 * @throws {RangeError} when no layout is found, no pair is found, or two
 * images share a stem (`a.jpg` and `a.png`).
 * @example
 * ```ts
 * import { discoverDataset } from "./dataset.ts";
 * const ds = await discoverDataset("/data/DUTS", { split: "test" });
 * console.log(ds.samples.length, ds.unmatchedImages);
 * ```
 */
export async function discoverDataset(
  root: string,
  options: DiscoverOptions = {},
): Promise<DatasetIndex> {
  const base = root.replace(/[\\/]+$/, "") || "/";
  const tag = (options.split ?? "train") === "train" ? "DUTS-TR" : "DUTS-TE";
  const candidates: [DatasetIndex["layout"], string, string][] = [
    ["duts", `${base}/${tag}/${tag}-Image`, `${base}/${tag}/${tag}-Mask`],
    ["duts", `${base}/${tag}-Image`, `${base}/${tag}-Mask`],
    ["plain", `${base}/images`, `${base}/masks`],
  ];
  let found: [DatasetIndex["layout"], string, string] | undefined;
  for (const c of candidates) {
    if (await isDir(c[1])) {
      found = c;
      break;
    }
  }
  if (!found) {
    const other = tag === "DUTS-TR" ? "DUTS-TE" : "DUTS-TR";
    const hint = /(^|[\\/])DUTS-T[RE]$/.test(base)
      ? ` (it is a split folder: give the folder that holds ${other} and ${tag})`
      : (await isDir(`${base}/${other}`))
      ? ` (only ${other} is there; ${tag} is needed too)`
      : "";
    throw new RangeError(
      `Cannot discover dataset: current root ${root} has neither ${tag}/${tag}-Image nor images/${hint}`,
    );
  }
  const [layout, imageDir, maskDir] = found;
  const images = await listFiles(imageDir, IMAGE_EXT);
  const masks = (await isDir(maskDir)) ? await listFiles(maskDir, MASK_EXT) : [];
  const maskByStem = new Map(masks.map((m) => [stem(m), m]));
  const roots = await realRoots([base, imageDir, maskDir]);
  const seen = new Map<string, string>();
  const samples: SamplePaths[] = [];
  const unmatchedImages: string[] = [];
  for (const file of images) {
    const name = stem(file);
    const prev = seen.get(name);
    if (prev !== undefined) {
      throw new RangeError(
        `Cannot discover dataset: current images ${prev} and ${file} share the stem "${name}"`,
      );
    }
    seen.set(name, file);
    const mask = maskByStem.get(name);
    if (mask === undefined) unmatchedImages.push(file);
    else {
      samples.push({
        name,
        imagePath: `${imageDir}/${file}`,
        maskPath: `${maskDir}/${mask}`,
        roots,
      });
    }
  }
  const unmatchedMasks = masks.filter((m) => !seen.has(stem(m)));
  if (samples.length === 0) {
    throw new RangeError(
      `Cannot discover dataset: current folder ${imageDir} has no image with a mask in ${maskDir} ` +
        `(${plural(images.length, "image")}, ${plural(masks.length, "mask")}` +
        `${await whyNoPairs(imageDir, maskDir)})`,
    );
  }
  return { layout, imageDir, maskDir, samples, unmatchedImages, unmatchedMasks };
}

async function readAndDecode(
  path: string,
  what: "image" | "mask",
  s: SamplePaths,
): Promise<DecodedImage> {
  const name = s.name;
  let bytes: Uint8Array;
  try {
    bytes = await readSampleFile(path, s.roots);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new TypeError(`Cannot load sample "${name}": current ${what} file ${path} ${why}`, {
      cause: e,
    });
  }
  try {
    return what === "image" ? toRgb(await decodeImage(bytes)) : await decodeMask(bytes);
  } catch (e) {
    throw new TypeError(
      `Cannot load sample "${name}": current ${what} file ${path} does not decode (${
        (e as Error).message
      })`,
      { cause: e },
    );
  }
}

/**
 * The first `max` of `names`, comma-separated, then "…" when there are more:
 * how messages name the files they skipped.
 *
 * @example
 * ```ts
 * import { someNames } from "./dataset.ts";
 * someNames(["a.png", "b.png", "c.png"], 2); // "a.png, b.png, …"
 * ```
 */
export function someNames(names: readonly string[], max = 5): string {
  return names.slice(0, max).join(", ") + (names.length > max ? ", …" : "");
}

/**
 * A {@linkcode SampleSource} over discovered files: reads and decodes the
 * image (RGB, `cv2.IMREAD_COLOR` semantics) and the mask (grey,
 * `IMREAD_GRAYSCALE` semantics) of each pair. Its `paths(i)` returns a copy
 * of pair `i`.
 *
 * @example
 * ```ts
 * import { discoverDataset, fileSource } from "./dataset.ts";
 * const src = fileSource(await discoverDataset("/data/DUTS"));
 * const first = await src.load(0);
 * ```
 */
export function fileSource(index: DatasetIndex | SamplePaths[]): SampleSource {
  const samples = Array.isArray(index) ? index : index.samples;
  const check = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= samples.length) {
      throw new RangeError(`Cannot load sample: current index is ${i} of ${samples.length}`);
    }
    return samples[i];
  };
  return {
    size: samples.length,
    name: (i) => check(i).name,
    paths: (i) => ({ ...check(i) }),
    async load(i) {
      const s = check(i);
      const [image, mask] = await Promise.all([
        readAndDecode(s.imagePath, "image", s),
        readAndDecode(s.maskPath, "mask", s),
      ]);
      return { name: s.name, image, mask };
    },
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
