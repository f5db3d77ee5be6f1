/**
 * The network's state dict as data: every key of the seed's `state_dict()`,
 * in its order, with PyTorch shapes, and the OIHW ↔ HWIO layout conversion.
 *
 * @module
 */
import type { U2NetConfig } from "./config.ts";
import { buildRsu, type ConvLayerSpec, type RsuBlock } from "./rsu.ts";

/** What a state-dict entry is. */
export type EntryRole = "param" | "buffer" | "counter";

/** How a fresh entry is initialised (PyTorch defaults). */
export type EntryInit = "kaiming" | "fanIn" | "ones" | "zeros";

/** One key of the state dict. */
export interface StateEntrySpec {
  /** The seed's key, e.g. `encode_modules.0.conv_in.bn.running_var`. */
  key: string;
  /** PyTorch shape (OIHW for conv weights). */
  shape: number[];
  /** Trainable parameter, running-stat buffer, or the int64 batch counter. */
  role: EntryRole;
  /** Initialisation rule. */
  init: EntryInit;
  /** Fan-in of the conv the entry belongs to (for `kaiming` / `fanIn`). */
  fanIn: number;
}

/** Structure options shared by the network and its state dict. */
export interface StructureOptions {
  /** Conv bias in every conv → BN → ReLU layer (the original weights have it). */
  convBias: boolean;
  /** BatchNorm layers present; false for a folded-BN inference network. */
  batchNorm: boolean;
}

/** The stage blocks of a network, in state-dict order. */
export interface NetworkBlocks {
  /** En1 … En6 under `encode_modules.{s}`. */
  encoders: RsuBlock[];
  /** De5 … De1 under `decode_modules.{t}`. */
  decoders: RsuBlock[];
  /** Channels feeding each side conv: En6 first, then De5 … De1. */
  sideChannels: number[];
}

/**
 * Builds every stage block of a config.
 *
 * @example
 * ```ts
 * import { buildBlocks } from "./state_dict.ts";
 * import { U2NET_LITE } from "./config.ts";
 * buildBlocks(U2NET_LITE).sideChannels; // [64, 64, 64, 64, 64, 64]
 * ```
 */
export function buildBlocks(config: U2NetConfig): NetworkBlocks {
  const encoders = config.encoder.map((s, i) => buildRsu(`encode_modules.${i}`, s));
  const decoders = config.decoder.map((s, i) => buildRsu(`decode_modules.${i}`, s));
  const sideChannels = [...config.encoder, ...config.decoder].filter((s) => s.side).map((s) =>
    s.outCh
  );
  return { encoders, decoders, sideChannels };
}

function layerEntries(spec: ConvLayerSpec, opts: StructureOptions): StateEntrySpec[] {
  const fanIn = spec.inCh * 9;
  const e = (suffix: string, shape: number[], role: EntryRole, init: EntryInit) => ({
    key: `${spec.name}.${suffix}`,
    shape,
    role,
    init,
    fanIn,
  });
  const out = [e("conv.weight", [spec.outCh, spec.inCh, 3, 3], "param", "kaiming")];
  if (opts.convBias || !opts.batchNorm) out.push(e("conv.bias", [spec.outCh], "param", "fanIn"));
  if (opts.batchNorm) {
    out.push(
      e("bn.weight", [spec.outCh], "param", "ones"),
      e("bn.bias", [spec.outCh], "param", "zeros"),
      e("bn.running_mean", [spec.outCh], "buffer", "zeros"),
      e("bn.running_var", [spec.outCh], "buffer", "ones"),
      e("bn.num_batches_tracked", [], "counter", "zeros"),
    );
  }
  return out;
}

/** Every layer of a block in state-dict order. */
export function blockLayers(block: RsuBlock): ConvLayerSpec[] {
  return [block.convIn, ...block.encoders, ...block.decoders];
}

/**
 * Lists every state-dict key of a network in the seed's order.
 *
 * @example
 * ```ts
 * import { stateDictSpec } from "./state_dict.ts";
 * import { U2NET_LITE } from "./config.ts";
 * stateDictSpec(U2NET_LITE, { convBias: false, batchNorm: true }).length; // 686
 * ```
 */
export function stateDictSpec(config: U2NetConfig, opts: StructureOptions): StateEntrySpec[] {
  const blocks = buildBlocks(config);
  const out: StateEntrySpec[] = [];
  for (const block of [...blocks.encoders, ...blocks.decoders]) {
    for (const layer of blockLayers(block)) out.push(...layerEntries(layer, opts));
  }
  blocks.sideChannels.forEach((c, k) => {
    const fanIn = c * 9;
    out.push(
      {
        key: `side_modules.${k}.weight`,
        shape: [1, c, 3, 3],
        role: "param",
        init: "kaiming",
        fanIn,
      },
      { key: `side_modules.${k}.bias`, shape: [1], role: "param", init: "fanIn", fanIn },
    );
  });
  const n = blocks.sideChannels.length;
  out.push(
    { key: "out_conv.weight", shape: [1, n, 1, 1], role: "param", init: "kaiming", fanIn: n },
    { key: "out_conv.bias", shape: [1], role: "param", init: "fanIn", fanIn: n },
  );
  return out;
}

/** Reorders an OIHW kernel to tfjs' HWIO. */
export function oihwToHwio(data: Float32Array, shape: readonly number[]): Float32Array {
  const [o, i, h, w] = shape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          out[((y * w + x) * i + b) * o + a] = data[((a * i + b) * h + y) * w + x];
        }
      }
    }
  }
  return out;
}

/** Reorders a tfjs HWIO kernel to PyTorch's OIHW; `shape` is the OIHW shape. */
export function hwioToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  const [o, i, h, w] = shape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          out[((a * i + b) * h + y) * w + x] = data[((y * w + x) * i + b) * o + a];
        }
      }
    }
  }
  return out;
}
