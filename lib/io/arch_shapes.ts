/**
 * The expected state-dict keys and shapes of `u2net_full` / `u2net_lite`,
 * generated from the cfg tables of the spec (§1.2-1.4) so that weight readers
 * can validate files without building the network, and the stage table of a
 * custom-width U2-Net derived from its conv weight shapes.
 *
 * @module
 */
import { configFromWidths, U2NET_FULL, U2NET_LITE, type U2NetConfig } from "../net/config.ts";
import { traceGraph } from "../net/graph.ts";
import { stateDictSpec } from "../net/state_dict.ts";
import type { RawDType, StateDict } from "./raw_tensor.ts";

/** The two named architectures. */
export type Arch = "full" | "lite";

/** A named architecture or `custom` (widths derived from a file's weights). */
export type ArchKind = Arch | "custom";

/** One stage: `[height, in, mid, out, rsu4f]`, En1..En6 then De5..De1. */
export type ArchRow = readonly [number, number, number, number, boolean];

/** The eleven stage rows of a U2-Net. */
export type ArchTable = readonly ArchRow[];

/** One convolution of the network. */
export interface ConvSpec {
  /** Seed key prefix: `P.conv.weight` for ConvBNReLU (`bn` true), `P.weight` otherwise. */
  prefix: string;
  /** OIHW weight shape. */
  shape: [number, number, number, number];
  /** Dilation (padding equals dilation for 3x3, 0 for the 1x1 fuse). */
  dilation: number;
  /** True for ConvBNReLU convs (followed by BatchNorm), false for side/fuse convs. */
  bn: boolean;
  /** Seed stage index 0..10 (En1..En6, De5..De1) or -1 for side/fuse convs. */
  stage: number;
}

/** One expected state-dict entry. */
export interface KeySpec {
  /** Seed key. */
  key: string;
  /** Shape. */
  shape: number[];
  /** Element type. */
  dtype: RawDType;
}

// [height, in, mid, out, rsu4f] for En1..En6 then De5..De1, from lib/net's configs.
type Row = ArchRow;
const CONFIGS: Record<Arch, U2NetConfig> = { full: U2NET_FULL, lite: U2NET_LITE };
const rowsOf = (config: U2NetConfig): Row[] =>
  [...config.encoder, ...config.decoder].map((
    s,
  ) => [s.height, s.inCh, s.midCh, s.outCh, s.dilated]);
const CFG: Record<Arch, Row[]> = { full: rowsOf(U2NET_FULL), lite: rowsOf(U2NET_LITE) };

/** RSU stage heights, En1..En6 then De5..De1 (same for both architectures). */
export const STAGE_HEIGHTS: readonly number[] = CFG.full.map((r) => r[0]);

/**
 * The stage rows of a named architecture.
 *
 * @example
 * ```ts
 * import { archTable } from "./arch_shapes.ts";
 * archTable("lite")[0]; // [7, 3, 16, 64, false]
 * ```
 */
export function archTable(arch: Arch): ArchTable {
  return CFG[arch];
}

/** `full` or `lite` when `table` is one of them, else `custom`. */
export function archKindOf(table: ArchTable): ArchKind {
  for (const a of ["full", "lite"] as const) {
    if (String(CFG[a]) === String(table)) return a;
  }
  return "custom";
}

/** Convs of stage `s` (ConvBNReLU only): `conv_in`, `h` encoders, `h - 1` decoders. */
const STAGE_CONVS = CFG.full.map((r) => 2 * r[0]);

/**
 * Derives the stage table from the 112 ConvBNReLU weight shapes (OIHW, forward
 * order: per stage `conv_in`, encoders, decoders). Heights and RSU-4F stages
 * are U2-Net's (7,6,5,4,4F,4F / 4F,4,5,6,7); in/out come from each stage's
 * `conv_in`, mid from its first encoder conv. Checks that the stages chain
 * (En1 takes 3 channels, each encoder the previous one's output, each decoder
 * the deeper stage's plus its skip's); `fail` receives what did not match.
 */
export function deriveArchTable(
  shapes: readonly (readonly number[])[],
  fail: (what: string) => never,
): ArchTable {
  const total = STAGE_CONVS.reduce((a, b) => a + b, 0);
  if (shapes.length !== total) fail(`${shapes.length} ConvBNReLU-like convs, expected ${total}`);
  const rows: ArchRow[] = [];
  let at = 0;
  CFG.full.forEach(([h, , , , f], s) => {
    const [out, inCh] = shapes[at];
    rows.push([h, inCh, shapes[at + 1][0], out, f]);
    at += STAGE_CONVS[s];
  });
  rows.forEach((r, s) => {
    const want = s === 0 ? 3 : s < 6 ? rows[s - 1][3] : rows[s - 1][3] + rows[10 - s][3];
    if (r[1] !== want) {
      const stage = s < 6 ? `En${s + 1}` : `De${11 - s}`;
      fail(`a ${stage} conv_in taking ${r[1]} channels, expected ${want} (U2-Net topology)`);
    }
  });
  return rows;
}

/**
 * The stage table of a seed-named state dict, from each stage's
 * `conv_in.conv.weight` and `encode_modules.0.conv.weight` shapes.
 */
export function archTableFromStateDict(sd: StateDict, fail: (what: string) => never): ArchTable {
  const shapes: number[][] = [];
  CFG.full.forEach(([h], s) => {
    const p = s < 6 ? `encode_modules.${s}` : `decode_modules.${s - 6}`;
    const names = [
      `${p}.conv_in`,
      ...Array.from({ length: h }, (_, j) => `${p}.encode_modules.${j}`),
    ];
    for (const n of names) {
      const t = sd.get(`${n}.conv.weight`);
      if (!t || t.shape.length !== 4) fail(`"${n}.conv.weight" is missing or not 4-D`);
      shapes.push(t.shape);
    }
    for (let j = 0; j < h - 1; j++) shapes.push([0, 0, 3, 3]);
  });
  return deriveArchTable(shapes, fail);
}

/**
 * The architecture of a seed-named state dict: a custom-width U2-Net when its
 * widths chain and every conv weight has the shape they imply, else
 * `named()` (full or lite, or its error for a dict that is neither).
 */
export function detectArchTable(sd: StateDict, named: () => Arch): [ArchKind, Arch | ArchTable] {
  let table: ArchTable | undefined;
  try {
    table = archTableFromStateDict(sd, (what) => {
      throw new TypeError(what);
    });
  } catch {
    table = undefined;
  }
  if (table && archKindOf(table) === "custom") {
    const fits = archConvs(table).every((c) => {
      const t = sd.get(c.bn ? `${c.prefix}.conv.weight` : `${c.prefix}.weight`);
      return t !== undefined && String(t.shape) === String(c.shape);
    });
    if (fits) return ["custom", table];
  }
  const arch = named();
  return [arch, arch];
}

/** Stage widths of a table, for `configFromWidths`. */
export function tableWidths(table: ArchTable): { inCh: number; midCh: number; outCh: number }[] {
  return table.map(([, inCh, midCh, outCh]) => ({ inCh, midCh, outCh }));
}

/**
 * The lib/net config of a table: the named config for `full` / `lite`, else
 * {@linkcode configFromWidths} (U2-Net heights and RSU-4F stages; a table
 * whose rows differ from them, or whose widths do not chain, is rejected).
 */
function tableConfig(arch: Arch | ArchTable): U2NetConfig {
  if (typeof arch === "string") return CONFIGS[arch];
  const kind = archKindOf(arch);
  if (kind !== "custom") return CONFIGS[kind];
  arch.forEach(([h, , , , f], s) => {
    if (h !== CFG.full[s]?.[0] || f !== CFG.full[s][4]) {
      throw new RangeError(
        `Cannot use architecture table: current stage ${s} is height ${h}${f ? "F" : ""}, ` +
          `expected U2-Net's ${CFG.full[s]?.[0]}${CFG.full[s]?.[4] ? "F" : ""}`,
      );
    }
  });
  return configFromWidths(tableWidths(arch));
}

/**
 * The 119 convolutions in forward order: per stage (En1..En6, De5..De1)
 * `conv_in`, encoders, decoders; then `side_modules.0..5`; then `out_conv`.
 * Read from the conv nodes of lib/net's traced graph.
 *
 * @example
 * ```ts
 * import { archConvs } from "./arch_shapes.ts";
 * archConvs("lite").at(-1)?.shape; // [1, 6, 1, 1]
 * ```
 */
export function archConvs(arch: Arch | ArchTable): ConvSpec[] {
  const config = tableConfig(arch);
  const { nodes } = traceGraph(config);
  const stageOf = (key: string): number => {
    const m = /^(en|de)code_modules\.(\d+)\./.exec(key);
    if (!m) throw new TypeError(`Cannot place conv: current key is "${key}"`);
    return Number(m[2]) + (m[1] === "en" ? 0 : config.encoder.length);
  };
  return nodes.filter((n) => n.op === "conv").map((n): ConvSpec => {
    const inCh = n.inputs.reduce((sum, i) => sum + nodes[i].channels, 0);
    const k = n.kernel!;
    const bn = n.role === "layer";
    return {
      prefix: bn ? n.layer! : n.key!,
      shape: [n.channels, inCh, k, k],
      dilation: n.dilation!,
      bn,
      stage: bn ? stageOf(n.key!) : -1,
    };
  });
}

/** Options for {@linkcode archKeys}. */
export interface ArchKeysOptions {
  /** Include `.conv.bias` for ConvBNReLU convs. @default {false} */
  convBias?: boolean;
  /** Include BatchNorm entries (false for BN-folded weights). @default {true} */
  bn?: boolean;
  /** Include `num_batches_tracked`. @default {true} */
  numBatchesTracked?: boolean;
}

/**
 * Expected state-dict entries, in PyTorch's state-dict order (lib/net's
 * {@linkcode stateDictSpec}, less the entries the options leave out).
 *
 * @example
 * ```ts
 * import { archKeys } from "./arch_shapes.ts";
 * archKeys("lite").length; // 686
 * ```
 */
export function archKeys(arch: Arch | ArchTable, options: ArchKeysOptions = {}): KeySpec[] {
  const { convBias = false, bn = true, numBatchesTracked = true } = options;
  const spec = stateDictSpec(tableConfig(arch), { convBias, batchNorm: bn });
  // stateDictSpec gives a folded network's layer convs a bias; archKeys only with `convBias`.
  const keep = (key: string) =>
    (convBias || !key.endsWith(".conv.bias")) &&
    (numBatchesTracked || !key.endsWith(".bn.num_batches_tracked"));
  return spec.filter((e) => keep(e.key)).map((e) => ({
    key: e.key,
    shape: e.shape,
    dtype: e.role === "counter" ? "I64" : "F32",
  }));
}
