/**
 * Maps an exported U2-Net ONNX graph onto seed state-dict keys. The exporter
 * folds BatchNorm into the convs and renames their initializers
 * (`onnx::Conv_1820`), so convs are matched by graph order and data flow; the
 * channel widths are derived from the conv weight shapes (full, lite or a
 * custom-width U2-Net such as silueta), and every kernel shape, dilation and
 * padding is checked against U2-Net's topology.
 *
 * Accepted: weights as initializers or `Constant` nodes (through `Identity`
 * and `Cast`), float16/float64 weights (converted to float32), BatchNorm
 * folded or as `BatchNormalization` nodes (folded here), `Resize` of any
 * opset or `Upsample` (bilinear), fixed or dynamic input shapes.
 *
 * @module
 */
import {
  archConvs,
  archKeys,
  type ArchKind,
  archKindOf,
  type ArchTable,
  type ConvSpec,
  deriveArchTable,
  tableWidths,
} from "./arch_shapes.ts";
import { checkImagePath, checkResizes, type ResizeCoordinates } from "./_onnx_checks.ts";
import type { OnnxGraph, OnnxModel, OnnxNode } from "./onnx_model.ts";
import { type RawTensor, type StateDict, toFloat32 } from "./raw_tensor.ts";
import { configFromWidths, type U2NetConfig } from "../net/config.ts";

export type { ResizeCoordinates } from "./_onnx_checks.ts";

/** One conv with BatchNorm folded in. */
export interface FoldedConv {
  /** Seed module prefix (`encode_modules.0.conv_in`, `side_modules.3`, `out_conv`). */
  prefix: string;
  /** Prefix of the weight/bias keys: `prefix.conv` for ConvBNReLU convs, else `prefix`. */
  key: string;
  /** OIHW F32 weight. */
  weight: RawTensor;
  /** F32 bias `[O]`. */
  bias: RawTensor;
  /** Dilation. */
  dilation: number;
  /** ONNX node name. */
  node: string;
}

/** What {@linkcode onnxToFoldedStateDict} returns. */
export interface OnnxFolded {
  /** Seed keys: `P.conv.weight`/`P.conv.bias` (BN folded), side and fuse weights/biases. */
  stateDict: StateDict;
  /** The 119 convs in seed forward order (stages, then `side_modules.0..5`, then `out_conv`). */
  convs: FoldedConv[];
  /** Architecture: `full`, `lite`, or `custom` (other widths, see `config`). */
  arch: ArchKind;
  /** The network's config, with the widths derived from the conv weight shapes. */
  config: U2NetConfig;
  /** Order of the side convs in the graph: ORIG computes side1 (De1) first, the seed side6 (En6). */
  sideOrder: "orig" | "seed";
  /**
   * Coordinate mode the file's resizes declare. `asymmetric` (an `Upsample`,
   * an opset-10 `Resize`, or an explicit `asymmetric` mode: PyTorch exports
   * before opset 11) is imported as PyTorch's half-pixel bilinear, the mode
   * U2-Net was trained with; onnxruntime running such a file differs from it.
   */
  resize: ResizeCoordinates;
}

/** Options for {@linkcode onnxToFoldedStateDict}. */
export interface OnnxFoldOptions {
  /**
   * Also emit identity BatchNorm entries (weight 1, bias 0, mean 0, var 1−1e-5, so
   * that 1/sqrt(var+eps) is exactly 1 in float32), for a network built with BN and conv bias.
   * @default {false}
   */
  identityBn?: boolean;
}

/** Graph lookups shared by the helpers below. */
interface Ctx {
  g: OnnxGraph;
  producers: Map<string, OnnxNode>;
  consumers: Map<string, OnnxNode[]>;
}

function fail(what: string): never {
  throw new TypeError(`Cannot load ONNX: ${what}`);
}

function constant(ctx: Ctx, name: string, depth = 0): RawTensor | undefined {
  const init = ctx.g.initializers.get(name);
  if (init) return init;
  const p = ctx.producers.get(name);
  if (p?.opType === "Constant") return p.attributes.get("value")?.t;
  const passThrough = p?.opType === "Identity" ||
    (p?.opType === "Cast" && [1, 10, 11, 16].includes(p.attributes.get("to")?.i ?? 0));
  if (passThrough && depth < 8) return constant(ctx, p!.inputs[0], depth + 1);
  return undefined;
}

function checkAttrs(node: OnnxNode, i: number, spec: ConvSpec): void {
  const ints = (n: string, d: number[]) => {
    const a = node.attributes.get(n);
    return a ? (a.ints.length ? a.ints : [a.i ?? 0]) : d;
  };
  const d = spec.dilation;
  const pad = spec.shape[2] === 1 ? 0 : d;
  const got = {
    dilations: ints("dilations", [1, 1]),
    strides: ints("strides", [1, 1]),
    pads: ints("pads", [0, 0, 0, 0]),
    group: ints("group", [1]),
  };
  const want = { dilations: [d, d], strides: [1, 1], pads: [pad, pad, pad, pad], group: [1] };
  for (const k of Object.keys(want) as (keyof typeof want)[]) {
    if (String(got[k]) !== String(want[k])) {
      fail(
        `conv ${i} (${node.name}) has ${k} [${got[k]}], expected [${want[k]}] for ${spec.prefix}`,
      );
    }
  }
  const auto = node.attributes.get("auto_pad")?.s;
  if (auto && auto !== "NOTSET") fail(`conv ${i} (${node.name}) has auto_pad ${auto}`);
}

function fold(ctx: Ctx, node: OnnxNode, i: number): [Float32Array, Float32Array, number[]] {
  const w = constant(ctx, node.inputs[1]);
  if (!w || w.shape.length !== 4) fail(`conv ${i} (${node.name}) has no constant 4-D weight`);
  const weight = toFloat32(w).slice();
  const o = w.shape[0];
  const b = node.inputs[2] ? constant(ctx, node.inputs[2]) : undefined;
  if (node.inputs[2] && !b) fail(`conv ${i} (${node.name}) has a non-constant bias`);
  const bias = b ? toFloat32(b).slice() : new Float32Array(o);
  if (bias.length !== o) {
    fail(`conv ${i} (${node.name}) has ${bias.length} biases for ${o} outputs`);
  }
  const next = ctx.consumers.get(node.outputs[0]) ?? [];
  if (next.length === 1 && next[0].opType === "BatchNormalization") {
    const bn = next[0];
    const [scale, beta, mean, v] = bn.inputs.slice(1, 5).map((n) => constant(ctx, n));
    if (!scale || !beta || !mean || !v) {
      fail(`BatchNormalization ${bn.name} has non-constant inputs`);
    }
    const eps = bn.attributes.get("epsilon")?.f ?? 1e-5;
    const [s, be, m, va] = [scale, beta, mean, v].map(toFloat32);
    if ([s, be, m, va].some((x) => x.length !== o)) {
      fail(`BatchNormalization ${bn.name} does not have ${o} channels`);
    }
    const per = weight.length / o;
    for (let c = 0; c < o; c++) {
      const k = s[c] / Math.sqrt(va[c] + eps);
      for (let j = c * per; j < (c + 1) * per; j++) weight[j] = weight[j] * k;
      bias[c] = (bias[c] - m[c]) * k + be[c];
    }
  }
  return [weight, bias, w.shape];
}

/** Follows first inputs upstream (through Relu, Add, Resize, BN…) to the nearest Conv. */
function traceConv(producers: Map<string, OnnxNode>, name: string): OnnxNode | undefined {
  for (let depth = 0; depth < 8; depth++) {
    const p = producers.get(name);
    if (!p || p.opType === "Conv") return p;
    name = p.inputs[0];
  }
  return undefined;
}

/**
 * Maps the 119 convs of a U2-Net ONNX export (ORIG or seed module, any side
 * order) to seed keys, folding any remaining BatchNormalization nodes.
 *
 * @example
 * ```ts
 * import { onnxToFoldedStateDict, parseOnnx } from "./onnx.ts";
 * const model = parseOnnx(await Deno.readFile("tests/testdata/lite_orig.onnx"));
 * const { stateDict, arch } = onnxToFoldedStateDict(model); // arch "lite"
 * stateDict.get("encode_modules.0.conv_in.conv.bias")!.shape; // [64]
 * ```
 */
export function onnxToFoldedStateDict(model: OnnxModel, options: OnnxFoldOptions = {}): OnnxFolded {
  const g = model.graph;
  const producers = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of g.nodes) {
    n.outputs.forEach((o) => producers.set(o, n));
    n.inputs.forEach((x) => consumers.set(x, [...consumers.get(x) ?? [], n]));
  }
  const ops = new Set(g.nodes.map((n) => n.opType));
  for (const op of ["Concat", "MaxPool", "Add"]) if (!ops.has(op)) fail(`graph has no ${op} node`);
  if (!ops.has("Resize") && !ops.has("Upsample")) fail("graph has no Resize or Upsample node");
  const path = checkImagePath(g, consumers);
  const resize = checkResizes(path, model.opsetVersion);
  const nodes = g.nodes.filter((n) => n.opType === "Conv");
  if (nodes.length !== 119) fail(`graph has ${nodes.length} Conv nodes, expected 119 (U2-Net)`);
  const ctx: Ctx = { g, producers, consumers };
  const folded = nodes.map((n, i) => fold(ctx, n, i));
  const bnIdx = nodes.map((_, i) => i).filter((i) => folded[i][2][0] !== 1);
  const headIdx = nodes.map((_, i) => i).filter((i) => folded[i][2][0] === 1);
  const table = deriveArchTable(
    bnIdx.map((i) => folded[i][2]),
    (what) => fail(`graph has ${what}`),
  );
  const arch = archKindOf(table);
  const specs = archConvs(table);
  const assigned = new Map<number, number>(); // spec index -> conv index
  bnIdx.forEach((ci, si) => assigned.set(si, ci));
  const stageOf = new Map<OnnxNode, number>(bnIdx.map((ci, si) => [nodes[ci], specs[si].stage]));
  const sideSeq: number[] = [];
  for (const ci of headIdx) {
    const [, , shape] = folded[ci];
    if (shape[2] === 1) {
      if (assigned.has(118)) fail(`conv ${ci} (${nodes[ci].name}) is a second 1x1 fuse conv`);
      assigned.set(118, ci);
      continue;
    }
    const src = traceConv(producers, nodes[ci].inputs[0]);
    const k = [5, 6, 7, 8, 9, 10].indexOf(src ? stageOf.get(src) ?? -1 : -1);
    if (k < 0 || assigned.has(112 + k)) {
      fail(`conv ${ci} (${nodes[ci].name}) is not a side conv of a distinct stage`);
    }
    assigned.set(112 + k, ci);
    sideSeq.push(k);
  }
  if (!assigned.has(118)) fail("graph has no 1x1 fuse conv");
  const convs: FoldedConv[] = specs.map((spec, si) => {
    const ci = assigned.get(si)!;
    const [weight, bias, shape] = folded[ci];
    if (String(shape) !== String(spec.shape)) {
      fail(`conv ${ci} has shape [${shape}], expected [${spec.shape}] for ${spec.prefix}`);
    }
    checkAttrs(nodes[ci], ci, spec);
    const next = consumers.get(nodes[ci].outputs[0]) ?? [];
    if (spec.bn && !next.some((n) => n.opType === "Relu" || n.opType === "BatchNormalization")) {
      fail(`conv ${ci} (${nodes[ci].name}) is not followed by Relu`);
    }
    return {
      prefix: spec.prefix,
      key: spec.bn ? `${spec.prefix}.conv` : spec.prefix,
      weight: { dtype: "F32", shape: [...shape], data: weight },
      bias: { dtype: "F32", shape: [shape[0]], data: bias },
      dilation: spec.dilation,
      node: nodes[ci].name,
    };
  });
  // The fuse conv's concat must list the sides De1..En6 (side_modules.5..0).
  const cat = producers.get(nodes[assigned.get(118)!].inputs[0]);
  const catSides = cat?.opType === "Concat"
    ? cat.inputs.map((x) => traceConv(producers, x)).map((n) => n && nodes.indexOf(n))
    : [];
  if (String(catSides) !== String([5, 4, 3, 2, 1, 0].map((k) => assigned.get(112 + k)))) {
    fail("fuse conv input is not the concat of side outputs d1..d6");
  }
  return {
    stateDict: toStateDict(table, convs, options.identityBn ?? false),
    convs,
    arch,
    config: configFromWidths(tableWidths(table)),
    sideOrder: sideSeq[0] === 5 ? "orig" : "seed",
    resize,
  };
}

/** BatchNorm values that make BN an exact identity in float32 (1/sqrt(var+1e-5) rounds to 1). */
const IDENTITY_BN: Record<string, number> = {
  weight: 1,
  bias: 0,
  running_mean: 0,
  running_var: Math.fround(1 - 1e-5),
};

function toStateDict(arch: ArchTable, convs: FoldedConv[], identityBn: boolean): StateDict {
  const byKey = new Map<string, RawTensor>();
  for (const c of convs) {
    byKey.set(`${c.key}.weight`, c.weight);
    byKey.set(`${c.key}.bias`, c.bias);
  }
  const sd: StateDict = new Map();
  for (const e of archKeys(arch, { convBias: true, bn: identityBn, numBatchesTracked: false })) {
    const bn = /\.bn\.(\w+)$/.exec(e.key);
    const data = bn ? new Float32Array(e.shape[0]).fill(IDENTITY_BN[bn[1]]) : undefined;
    sd.set(e.key, data ? { dtype: "F32", shape: e.shape, data } : byKey.get(e.key)!);
  }
  return sd;
}
