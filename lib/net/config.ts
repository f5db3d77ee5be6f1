/**
 * U2-Net architectures as data: one row per stage, as in the seed's cfg dicts.
 *
 * @module
 */

/** One stage of U2-Net: an RSU block of some height, optionally with a side output. */
export interface StageConfig {
  /** RSU height L (7, 6, 5 or 4). */
  height: number;
  /** Input channels. */
  inCh: number;
  /** Middle channels inside the block. */
  midCh: number;
  /** Output channels. */
  outCh: number;
  /** True for the dilated RSU-4F block (no pooling or resizing inside). */
  dilated: boolean;
  /** True when the stage feeds a side output (a 3x3 conv to one logit map). */
  side: boolean;
}

/** Architecture names accepted where a config is expected. */
export type ArchName = "full" | "lite";

/** A whole network: six encoder stages (En1…En6) and five decoder stages (De5…De1). */
export interface U2NetConfig {
  /**
   * Architecture name: `full`, `lite`, or `custom` for other channel widths
   * (e.g. derived from a weight file's conv shapes, {@linkcode configFromWidths}).
   */
  name: ArchName | "custom";
  /** En1 … En6. */
  encoder: readonly StageConfig[];
  /** De5 … De1. */
  decoder: readonly StageConfig[];
}

/** PyTorch's BatchNorm epsilon. */
export const BN_EPS = 1e-5;
/** PyTorch's BatchNorm running-stat momentum. */
export const BN_MOMENTUM = 0.1;

type Row = [number, number, number, number, boolean, boolean];
const stage = ([height, inCh, midCh, outCh, dilated, side]: Row): StageConfig => ({
  height,
  inCh,
  midCh,
  outCh,
  dilated,
  side,
});

/**
 * `u2net_full` (the original U2NET, 44.0 M parameters).
 *
 * @example
 * ```ts
 * import { U2NET_FULL } from "./config.ts";
 * U2NET_FULL.encoder[0].height; // 7
 * ```
 */
export const U2NET_FULL: U2NetConfig = Object.freeze({
  name: "full",
  encoder: ([
    [7, 3, 32, 64, false, false],
    [6, 64, 32, 128, false, false],
    [5, 128, 64, 256, false, false],
    [4, 256, 128, 512, false, false],
    [4, 512, 256, 512, true, false],
    [4, 512, 256, 512, true, true],
  ] as Row[]).map(stage),
  decoder: ([
    [4, 1024, 256, 512, true, true],
    [4, 1024, 128, 256, false, true],
    [5, 512, 64, 128, false, true],
    [6, 256, 32, 64, false, true],
    [7, 128, 16, 64, false, true],
  ] as Row[]).map(stage),
});

/**
 * `u2net_lite` (the original U2NETP, 1.13 M parameters).
 *
 * @example
 * ```ts
 * import { U2NET_LITE } from "./config.ts";
 * U2NET_LITE.decoder.length; // 5
 * ```
 */
export const U2NET_LITE: U2NetConfig = Object.freeze({
  name: "lite",
  encoder: ([
    [7, 3, 16, 64, false, false],
    [6, 64, 16, 64, false, false],
    [5, 64, 16, 64, false, false],
    [4, 64, 16, 64, false, false],
    [4, 64, 16, 64, true, false],
    [4, 64, 16, 64, true, true],
  ] as Row[]).map(stage),
  decoder: ([
    [4, 128, 16, 64, true, true],
    [4, 128, 16, 64, false, true],
    [5, 128, 16, 64, false, true],
    [6, 128, 16, 64, false, true],
    [7, 128, 16, 64, false, true],
  ] as Row[]).map(stage),
});

/**
 * Resolves an architecture name or config to a config.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * resolveConfig("lite").name; // "lite"
 * ```
 */
export function resolveConfig(arch: ArchName | U2NetConfig): U2NetConfig {
  if (typeof arch !== "string") return arch;
  if (arch === "full") return U2NET_FULL;
  if (arch === "lite") return U2NET_LITE;
  throw new TypeError(
    `Cannot resolve architecture: current value is "${arch}", expected full|lite`,
  );
}

/** Channel widths of one stage; heights, RSU-4F stages and side outputs are U2-Net's. */
export interface StageWidths {
  /** Input channels. */
  inCh: number;
  /** Middle channels. */
  midCh: number;
  /** Output channels. */
  outCh: number;
}

/**
 * A config with U2-Net's topology (heights 7,6,5,4,4F,4F / 4F,4,5,6,7, sides
 * on En6 and every decoder) and the given widths, En1…En6 then De5…De1. It is
 * {@linkcode U2NET_FULL} or {@linkcode U2NET_LITE} when the widths are theirs,
 * else a config named `custom`. The widths must chain: En1 takes 3 channels,
 * each encoder the previous one's output, each decoder the deeper stage's
 * output plus its skip's.
 *
 * @example
 * ```ts
 * import { configFromWidths, U2NET_LITE } from "./config.ts";
 * const half = U2NET_LITE.encoder.concat(U2NET_LITE.decoder).map((s, i) => ({
 *   inCh: i === 0 ? 3 : s.inCh / 2,
 *   midCh: s.midCh / 2,
 *   outCh: s.outCh / 2,
 * }));
 * configFromWidths(half).name; // "custom"
 * ```
 */
export function configFromWidths(widths: readonly StageWidths[]): U2NetConfig {
  const rows = [...U2NET_FULL.encoder, ...U2NET_FULL.decoder];
  if (widths.length !== rows.length) {
    throw new RangeError(
      `Cannot build U2-Net config: current widths have ${widths.length} stages, expected 11`,
    );
  }
  widths.forEach((w, s) => {
    const want = s === 0
      ? 3
      : s < 6
      ? widths[s - 1].outCh
      : widths[s - 1].outCh + widths[10 - s].outCh;
    const ok = [w.inCh, w.midCh, w.outCh].every((x) => Number.isInteger(x) && x > 0);
    if (!ok || w.inCh !== want) {
      throw new RangeError(
        `Cannot build U2-Net config: current stage ${s} widths are ${w.inCh}/${w.midCh}/${w.outCh}` +
          ` (in/mid/out), expected positive integers with in = ${want}`,
      );
    }
  });
  const stages = rows.map((r, s) => ({ ...r, ...widths[s] } as StageConfig));
  for (const named of [U2NET_FULL, U2NET_LITE]) {
    const all = [...named.encoder, ...named.decoder];
    if (
      all.every((r, s) =>
        r.inCh === stages[s].inCh && r.midCh === stages[s].midCh && r.outCh === stages[s].outCh
      )
    ) {
      return named;
    }
  }
  return Object.freeze({
    name: "custom",
    encoder: stages.slice(0, 6).map(pickStage),
    decoder: stages.slice(6).map(pickStage),
  });
}

function pickStage(s: StageConfig): StageConfig {
  const { height, inCh, midCh, outCh, dilated, side } = s;
  return { height, inCh, midCh, outCh, dilated, side };
}
