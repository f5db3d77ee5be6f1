/**
 * State-dict naming: detection of seed (`encode_modules.0.conv_in.conv.weight`)
 * versus original-project (`stage1.rebnconvin.conv_s1.weight`) keys, the ORIG →
 * seed key mapping of `convert_weight.py` (spec §1.7), architecture and
 * conv-bias detection, and validation against the expected keys and shapes.
 *
 * @module
 */
import {
  type Arch,
  archKeys,
  type ArchKind,
  detectArchTable,
  STAGE_HEIGHTS,
} from "./arch_shapes.ts";
import { numElements, type RawTensor, type StateDict, toFloat32 } from "./raw_tensor.ts";

export type { Arch } from "./arch_shapes.ts";

/** Key naming of a state dict. */
export type Naming = "seed" | "orig";

/** What {@linkcode normalizeStateDict} returns. */
export interface NormalizedStateDict {
  /** Seed-named tensors in PyTorch state-dict order (floats as F32). */
  stateDict: StateDict;
  /** Naming of the input. */
  naming: Naming;
  /** Architecture, detected from shapes (`custom`: other widths that chain like U2-Net's). */
  arch: ArchKind;
  /** True when the ConvBNReLU convs carry biases (ORIG and converted official weights). */
  convBias: boolean;
}

/** Options for {@linkcode normalizeStateDict}. */
export interface NormalizeOptions {
  /** The dict has no BatchNorm entries because BN was folded into conv biases (ONNX). @default {false} */
  foldedBn?: boolean;
}

const SEED_RE = /^(encode_modules|decode_modules|side_modules)\.\d|^out_conv\./;
const ORIG_RE = /^stage\dd?\.|^side\d\.|^outconv\./;

/**
 * Detects the naming of a state dict from its keys.
 *
 * @example
 * ```ts
 * import { detectNaming } from "./naming.ts";
 * detectNaming(["stage1.rebnconvin.conv_s1.weight"]); // "orig"
 * ```
 */
export function detectNaming(keys: Iterable<string>): Naming {
  let seed = 0, orig = 0, moments = 0;
  for (const k of keys) {
    if (SEED_RE.test(k)) seed++;
    else if (ORIG_RE.test(k)) orig++;
    else if (/^exp_avg(_sq)?\./.test(k)) moments++;
  }
  if (seed > 0 && orig === 0) return "seed";
  if (orig > 0 && seed === 0) return "orig";
  throw new TypeError(
    `Cannot detect state-dict naming: current keys have ${seed} seed-style and ${orig} ` +
      `original-style names` +
      (moments
        ? ` (these are AdamW moments: a checkpoint's .optim.safetensors; its weights are the model_N.safetensors beside it)`
        : ""),
  );
}

/**
 * Maps one original-project key to its seed key (spec §1.7); `null` for
 * `num_batches_tracked`, which the conversion drops.
 *
 * @example
 * ```ts
 * import { origKeyToSeed } from "./naming.ts";
 * origKeyToSeed("stage5d.rebnconv3d.bn_s1.running_var"); // "decode_modules.0.decode_modules.0.bn.running_var"
 * origKeyToSeed("side1.weight"); // "side_modules.5.weight"
 * ```
 */
export function origKeyToSeed(key: string): string | null {
  if (key.endsWith(".num_batches_tracked")) return null;
  let m = /^side([1-6])\.(weight|bias)$/.exec(key);
  if (m) return `side_modules.${6 - Number(m[1])}.${m[2]}`;
  m = /^outconv\.(weight|bias)$/.exec(key);
  if (m) return `out_conv.${m[1]}`;
  m = /^stage([1-6])(d?)\.rebnconv(in|\d+)(d?)\.(conv_s1|bn_s1)\.(\w+)$/.exec(key);
  if (m) {
    const [, k, dec, j, jd, layer, param] = m;
    const K = Number(k);
    const stage = dec ? 11 - K : K - 1;
    if (!dec || K <= 5) {
      const L = STAGE_HEIGHTS[stage];
      const J = Number(j);
      let sub: string | undefined;
      if (j === "in" && !jd) sub = "conv_in";
      else if (j !== "in" && !jd && J >= 1 && J <= L) sub = `encode_modules.${J - 1}`;
      else if (j !== "in" && jd && J >= 1 && J <= L - 1) sub = `decode_modules.${L - J - 1}`;
      if (sub) {
        const top = dec ? `decode_modules.${stage - 6}` : `encode_modules.${stage}`;
        return `${top}.${sub}.${layer === "conv_s1" ? "conv" : "bn"}.${param}`;
      }
    }
  }
  throw new TypeError(`Cannot map original key: current key "${key}" is not a U2-Net key`);
}

/**
 * Detects `full` or `lite` from `encode_modules.0.encode_modules.0.conv.weight`
 * (32 output channels in full, 16 in lite). Keys must be seed-named.
 *
 * @example
 * ```ts
 * import { detectArch } from "./naming.ts";
 * const w = { dtype: "F32" as const, shape: [16, 64, 3, 3], data: new Float32Array(16 * 64 * 9) };
 * detectArch(new Map([["encode_modules.0.encode_modules.0.conv.weight", w]])); // "lite"
 * ```
 */
export function detectArch(sd: StateDict): Arch {
  const t = sd.get("encode_modules.0.encode_modules.0.conv.weight");
  const o = t?.shape[0];
  if (o === 32) return "full";
  if (o === 16) return "lite";
  throw new TypeError(
    `Cannot detect architecture: current encode_modules.0.encode_modules.0.conv.weight ` +
      `has shape ${t ? `[${t.shape}]` : "(missing)"}, expected [32|16, 64, 3, 3]`,
  );
}

function toI64(t: RawTensor): RawTensor {
  if (t.data instanceof BigInt64Array) return t;
  return { dtype: "I64", shape: t.shape, data: BigInt64Array.from(t.data, (x) => BigInt(x)) };
}

/**
 * Renames (ORIG → seed), strips a `module.` prefix, detects architecture and
 * conv biases, converts floats to F32, and validates every key and shape against
 * the architecture. `num_batches_tracked` may be absent (ORIG files never have it).
 *
 * @example
 * ```ts
 * import { normalizeStateDict } from "./naming.ts";
 * import { readPth } from "./pth.ts";
 * const sd = readPth(await Deno.readFile("tests/testdata/lite_orig_legacy.pth")).stateDict;
 * const n = normalizeStateDict(sd); // { naming: "orig", arch: "lite", convBias: true, stateDict }
 * ```
 */
export function normalizeStateDict(
  sd: StateDict,
  options: NormalizeOptions = {},
): NormalizedStateDict {
  const foldedBn = options.foldedBn ?? false;
  const strip = sd.size > 0 && [...sd.keys()].every((k) => k.startsWith("module."));
  const named = new Map<string, RawTensor>();
  for (const [k, t] of sd) named.set(strip ? k.slice("module.".length) : k, t);
  const naming = detectNaming(named.keys());
  let seedNamed = named;
  if (naming === "orig") {
    seedNamed = new Map();
    for (const [k, t] of named) {
      const s = origKeyToSeed(k);
      if (s !== null) seedNamed.set(s, t);
    }
  }
  const [arch, table] = detectArchTable(seedNamed, () => detectArch(seedNamed));
  const convBias = [...seedNamed.keys()].some((k) => k.endsWith(".conv.bias"));
  const expected = archKeys(table, { convBias, bn: !foldedBn });
  const stateDict: StateDict = new Map();
  for (const e of expected) {
    const t = seedNamed.get(e.key);
    if (!t) {
      if (e.key.endsWith(".num_batches_tracked")) continue;
      throw new TypeError(`Cannot load ${arch} weights: current file lacks "${e.key}"`);
    }
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new RangeError(
        `Cannot load ${arch} weights: current "${e.key}" has shape [${t.shape}], expected [${e.shape}]`,
      );
    }
    if (t.data.length !== numElements(t.shape)) {
      throw new RangeError(
        `Cannot load ${arch} weights: current "${e.key}" has ${t.data.length} values for shape [${t.shape}]`,
      );
    }
    const isFloat = t.dtype === "F32" || t.dtype === "F16" || t.dtype === "F64";
    if (e.dtype === "F32" && !isFloat) {
      throw new TypeError(`Cannot load ${arch} weights: current "${e.key}" has dtype ${t.dtype}`);
    }
    stateDict.set(
      e.key,
      e.dtype === "I64" ? toI64(t) : { dtype: "F32", shape: t.shape, data: toFloat32(t) },
    );
  }
  if (stateDict.size !== seedNamed.size) {
    const extra = [...seedNamed.keys()].filter((k) => !stateDict.has(k));
    throw new TypeError(
      `Cannot load ${arch} weights: current file has ${extra.length} unexpected keys, ` +
        `e.g. "${extra[0]}"`,
    );
  }
  return { stateDict, naming, arch, convBias };
}
