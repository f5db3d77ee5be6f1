/**
 * One entry point for every weight file U2-Net users have: safetensors, `.pth`
 * (zip or legacy; raw state dicts or training checkpoints; seed or original
 * naming) and BN-folded ONNX exports. The format is sniffed from magic bytes.
 *
 * @module
 */
import { inflateZip, readZip, zipNeedsInflate } from "./zip.ts";
import { checkWeights, namingFile } from "./check_weights.ts";
import { archTableFromStateDict, tableWidths } from "./arch_shapes.ts";
import { type Arch, type Naming, normalizeStateDict } from "./naming.ts";
import { onnxToFoldedStateDict, parseOnnx } from "./onnx.ts";
import { isLegacyPth, type PthResult, readPth, readPthArchive } from "./pth.ts";
import type { StateDict } from "./raw_tensor.ts";
import { readSafetensors } from "./safetensors.ts";
import { configFromWidths, resolveConfig, type U2NetConfig } from "../net/config.ts";

/** Weight file formats {@linkcode readWeights} understands. */
export type WeightsFormat = "safetensors" | "pth-zip" | "pth-legacy" | "onnx";

/** What {@linkcode readWeights} returns. */
export interface LoadedWeights {
  /** Seed-named tensors, OIHW, floats as F32, in PyTorch state-dict order. */
  stateDict: StateDict;
  /** The file's format. */
  format: WeightsFormat;
  /** The file's key naming (for ONNX: whose forward order the side convs follow). */
  naming: Naming;
  /** Architecture: `full`, `lite`, or `custom` (other widths, see `config`). */
  arch: Arch | "custom";
  /** The network to build: the architecture's config, or one with the file's widths. */
  config: U2NetConfig;
  /** True when ConvBNReLU convs carry biases (build the network with `convBias: true`). */
  convBias: boolean;
  /** True when BatchNorm is folded into conv weights/biases (ONNX) and BN keys are absent. */
  foldedBn: boolean;
  /**
   * ONNX only: the coordinate mode the file's resizes declare. `asymmetric`
   * (`Upsample`, opset-10 `Resize`: PyTorch exports before opset 11) is
   * imported as PyTorch's half-pixel bilinear, which U2-Net was trained with;
   * onnxruntime running that file shifts every upsampling by half a pixel.
   */
  resize?: "half_pixel" | "asymmetric";
  /** Training checkpoint epoch, when present. */
  epoch?: number;
}

/** Options for {@linkcode readWeights}. */
export interface ReadWeightsOptions {
  /**
   * For ONNX: add identity BatchNorm entries so that a network with BN and conv
   * bias loads the folded weights unchanged (then `foldedBn` is false).
   * @default {false}
   */
  identityBn?: boolean;
}

/**
 * Sniffs the format from magic bytes (zip `PK\x03\x04`, legacy pickle magic,
 * safetensors header length + `{`, ONNX ModelProto `ir_version` tag), using the
 * file name only to break ties.
 *
 * @example
 * ```ts
 * import { sniffWeightsFormat } from "./read_weights.ts";
 * sniffWeightsFormat(await Deno.readFile("tests/testdata/lite_orig.onnx")); // "onnx"
 * ```
 */
export function sniffWeightsFormat(bytes: Uint8Array, filename = ""): WeightsFormat {
  const n = bytes.byteLength;
  if (n >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5)) {
    return "pth-zip";
  }
  if (isLegacyPth(bytes)) return "pth-legacy";
  if (n >= 10 && bytes[8] === 0x7b) {
    const len = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (len <= BigInt(n - 8)) return "safetensors";
  }
  if (n >= 2 && bytes[0] === 0x08 && (bytes[1] < 0x80 || /\.onnx$/i.test(filename))) return "onnx";
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  const weightsFile = checkpointWeightsFile(bytes);
  if (weightsFile) {
    throw new TypeError(
      `Cannot read weights${filename ? ` "${filename}"` : ""}: current file is a training ` +
        `checkpoint's JSON; its weights are ${weightsFile}, next to it`,
    );
  }
  throw new TypeError(
    `Cannot read weights${filename ? ` "${filename}"` : ""}: current file starts with bytes ` +
      `[${head}], which is not safetensors, .pth (zip or legacy) or ONNX`,
  );
}

/** A training checkpoint's JSON names its weights file: that name, else undefined. */
function checkpointWeightsFile(bytes: Uint8Array): string | undefined {
  if (bytes[0] !== 0x7b || bytes.byteLength > 1 << 20) return undefined;
  try {
    const meta = JSON.parse(new TextDecoder().decode(bytes));
    return typeof meta?.weightsFile === "string" ? meta.weightsFile : undefined;
  } catch {
    return undefined;
  }
}

async function readAny(
  bytes: Uint8Array,
  format: WeightsFormat,
  options: ReadWeightsOptions,
): Promise<LoadedWeights> {
  if (format === "onnx") {
    const folded = onnxToFoldedStateDict(parseOnnx(bytes), options);
    const identity = options.identityBn ?? false;
    return {
      stateDict: folded.stateDict,
      format,
      naming: folded.sideOrder,
      arch: folded.arch,
      config: folded.config,
      resize: folded.resize,
      convBias: true,
      foldedBn: !identity,
    };
  }
  let sd: StateDict;
  let epoch: number | undefined;
  if (format === "safetensors") sd = readSafetensors(bytes).tensors;
  else {
    let pth: PthResult;
    if (format === "pth-legacy") pth = readPth(bytes);
    else {
      const zip = readZip(bytes);
      pth = readPthArchive(zipNeedsInflate(zip) ? await inflateZip(zip) : zip);
    }
    sd = pth.stateDict;
    epoch = pth.epoch;
  }
  // BN-folded exports (`exportFolded`) have conv biases and no BatchNorm keys at all.
  const foldedBn = sd.size > 0 && ![...sd.keys()].some((k) => /\.bn(_s1)?\./.test(k));
  const n = normalizeStateDict(sd, { foldedBn });
  const config = n.arch === "custom"
    ? configFromWidths(tableWidths(archTableFromStateDict(n.stateDict, (what) => {
      throw new TypeError(`Cannot read weights: current ${what}`);
    })))
    : resolveConfig(n.arch);
  return {
    ...n,
    config,
    format,
    foldedBn,
    ...(epoch === undefined ? {} : { epoch }),
  };
}

/**
 * Reads U2-Net weights of any supported format into a seed-named state dict.
 * Every failure is a single-line TypeError or RangeError starting with "Cannot".
 *
 * @example
 * ```ts
 * import { readWeights } from "./read_weights.ts";
 * const w = await readWeights(await Deno.readFile("tests/testdata/lite_orig_legacy.pth"));
 * w.format; // "pth-legacy"
 * w.naming; // "orig"
 * w.convBias; // true
 * ```
 */
export async function readWeights(
  bytes: Uint8Array,
  filename = "",
  options: ReadWeightsOptions = {},
): Promise<LoadedWeights> {
  const format = sniffWeightsFormat(bytes, filename);
  try {
    const w = await readAny(bytes, format, options);
    checkWeights(w.stateDict, filename); // NaN/Inf or a negative running_var: refused
    return w;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if ((e instanceof TypeError || e instanceof RangeError) && msg.startsWith("Cannot")) {
      throw namingFile(e, filename); // a truncated file's error names the file
    }
    throw new TypeError(
      `Cannot read ${format} weights${filename ? ` "${filename}"` : ""}: current file is ` +
        `malformed (${msg.split("\n")[0]})`,
    );
  }
}
