/**
 * ONNX export of the eval-mode network with BatchNorm folded into the convs:
 * `Conv`(+bias) → `Relu`, `MaxPool` (ceil mode), `Resize` (linear,
 * `pytorch_half_pixel`), `Concat`, `Add`, `Sigmoid`; opset 17, NCHW input
 * `input` and output `d0` (plus `d1…d6` with `allSides`). Initializers keep
 * the seed's key names. Written with the in-tree protobuf writer (no
 * dependency); runs in onnxruntime and imports back with `readWeights`.
 *
 * @module
 */
import { foldStateDict } from "../../model/fold_bn.ts";
import type { U2Net } from "../../model/u2net.ts";
import { type NetGraph, traceGraph } from "../../net/graph.ts";
import type { StateDict } from "../../io/raw_tensor.ts";
import { pbBytes, pbMessage, pbVarint } from "../../io/protobuf_write.ts";

/** Options of {@linkcode exportOnnx}. */
export interface OnnxExportOptions {
  /**
   * Fixed input `[height, width]` with batch 1; `null` exports dynamic
   * `batch`, `height` and `width` (resize targets computed with `Shape`).
   * @default {null}
   */
  inputSize?: readonly [number, number] | null;
  /**
   * Output all seven sigmoid maps `d0…d6` (as the original project's export
   * does) instead of only the fused `d0`.
   * @default {false}
   */
  allSides?: boolean;
}

/** The opset the export declares. */
export const ONNX_EXPORT_OPSET = 17;

type Attr = number | number[] | string;

function attribute(name: string, v: Attr): Uint8Array {
  if (typeof v === "string") return pbBytes(5, [pbBytes(1, name), pbVarint(20, 3), pbBytes(4, v)]);
  if (typeof v === "number") return pbBytes(5, [pbBytes(1, name), pbVarint(20, 2), pbVarint(3, v)]);
  return pbBytes(5, [pbBytes(1, name), pbVarint(20, 7), ...v.map((x) => pbVarint(8, x))]);
}

function valueInfo(no: number, name: string, dims: (number | string)[]): Uint8Array {
  const dim = dims.map((d) => pbBytes(1, [typeof d === "number" ? pbVarint(1, d) : pbBytes(2, d)]));
  const tensorType = pbBytes(1, [pbVarint(1, 1), pbBytes(2, dim)]);
  return pbBytes(no, [pbBytes(1, name), pbBytes(2, [tensorType])]);
}

/** Builds the graph's nodes and initializers in NCHW. */
class GraphBuilder {
  readonly nodes: Uint8Array[] = [];
  readonly inits: Uint8Array[] = [];
  #n = 0;
  constructor(readonly sd: StateDict) {}

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    const name = out ?? `${op.toLowerCase()}_${this.#n++}`;
    this.nodes.push(pbMessage([
      ...inputs.map((i) => pbBytes(1, i)),
      pbBytes(2, name),
      pbBytes(3, name),
      pbBytes(4, op),
      ...Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    ]));
    return name;
  }

  weight(key: string): string {
    const t = this.sd.get(key);
    if (!t || !(t.data instanceof Float32Array)) {
      throw new TypeError(`Cannot export ONNX: current state dict lacks F32 "${key}"`);
    }
    const d = t.data;
    this.inits.push(pbMessage([
      ...t.shape.map((s) => pbVarint(1, s)),
      pbVarint(2, 1),
      pbBytes(8, key),
      pbBytes(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)),
    ]));
    return key;
  }

  conv(x: string, key: string, dilation: number, k: number): string {
    const p = k === 1 ? 0 : dilation;
    return this.node("Conv", [x, this.weight(`${key}.weight`), this.weight(`${key}.bias`)], {
      dilations: [dilation, dilation],
      group: 1,
      kernel_shape: [k, k],
      pads: [p, p, p, p],
      strides: [1, 1],
    });
  }

  pool(x: string): string {
    return this.node("MaxPool", [x], { ceil_mode: 1, kernel_shape: [2, 2], strides: [2, 2] });
  }

  /** Bilinear resize of `x` to the spatial size of `like` (PyTorch align_corners=False). */
  resize(x: string, like: string): string {
    const attrs = { coordinate_transformation_mode: "pytorch_half_pixel", mode: "linear" };
    const nc = this.node("Shape", [x], { end: 2 });
    const hw = this.node("Shape", [like], { start: 2 });
    const sizes = this.node("Concat", [nc, hw], { axis: 0 });
    return this.node("Resize", [x, "", "", sizes], attrs);
  }
}

/**
 * Each node's resolution level (pools from the input): two maps of the same
 * level have the same size for every input size, so a resize between them
 * is the identity whatever size a dynamic export gets.
 */
function resolutionLevels(graph: NetGraph): number[] {
  const level: number[] = [];
  for (const n of graph.nodes) {
    if (n.op === "input") level.push(0);
    else if (n.op === "pool") level.push(level[n.inputs[0]] + 1);
    else if (n.op === "resize") level.push(level[n.inputs[1]]);
    else level.push(level[n.inputs[0]]);
  }
  return level;
}

/**
 * The folded graph's nodes as ONNX nodes (NCHW); sigmoid `k` is output
 * `d${k}`, only `d0` unless `allSides`. Returns the output names.
 */
function lowerGraph(g: GraphBuilder, graph: NetGraph, allSides: boolean): string[] {
  const names: string[] = [];
  const outs: string[] = [];
  const level = resolutionLevels(graph);
  for (const n of graph.nodes) {
    const xs = n.inputs.map((i) => names[i]);
    switch (n.op) {
      case "input":
        names[n.id] = "input";
        break;
      case "conv":
        names[n.id] = g.conv(xs[0], n.key!, n.dilation!, n.kernel!);
        break;
      case "relu":
        names[n.id] = g.node("Relu", xs);
        break;
      case "add":
        names[n.id] = g.node("Add", xs);
        break;
      case "pool":
        names[n.id] = g.pool(xs[0]);
        break;
      case "resize": {
        const same = level[n.inputs[0]] === level[n.inputs[1]];
        names[n.id] = same ? xs[0] : g.resize(xs[0], xs[1]);
        break;
      }
      case "concat":
        names[n.id] = g.node("Concat", xs, { axis: 1 });
        break;
      case "sigmoid": {
        const k = graph.probs.indexOf(n.id);
        if (k === 0 || allSides) outs.push(names[n.id] = g.node("Sigmoid", xs, {}, `d${k}`));
        break;
      }
      default:
        throw new RangeError(`Cannot export ONNX: current graph has a "${n.op}" node`);
    }
  }
  return outs;
}

/**
 * Exports the network as an ONNX model (BatchNorm folded, eval mode).
 * The model is left untouched.
 *
 * @example
 * ```ts
 * import { U2Net } from "../../model/u2net.ts";
 * import { exportOnnx } from "./onnx_export.ts";
 * const model = U2Net.create("lite");
 * const bytes = await exportOnnx(model, { inputSize: [320, 320] });
 * await Deno.writeFile("tests/.tmp/lite.onnx", bytes);
 * model.dispose();
 * ```
 */
export async function exportOnnx(
  model: U2Net,
  options: OnnxExportOptions = {},
): Promise<Uint8Array> {
  const size = options.inputSize ?? null;
  const raw = await model.stateDict();
  const sd = model.batchNorm ? foldStateDict(raw) : raw;
  const g = new GraphBuilder(sd);
  const outs = lowerGraph(g, traceGraph(model.config, { batchNorm: false }), !!options.allSides);
  const [hh, ww] = size ?? ["height", "width"];
  const batch = size ? 1 : "batch";
  const graph = pbMessage([
    ...g.nodes.map((n) => pbBytes(1, n)),
    pbBytes(2, `u2net_${model.config.name}`),
    ...g.inits.map((t) => pbBytes(5, t)),
    valueInfo(11, "input", [batch, 3, hh, ww]),
    ...outs.map((o) => valueInfo(12, o, [batch, 1, hh, ww])),
  ]);
  return pbMessage([
    pbVarint(1, 8), // IR version 8
    pbBytes(2, "u2net-webgpu"),
    pbBytes(3, "0.1.0"),
    pbBytes(7, graph),
    pbBytes(8, [pbBytes(1, ""), pbVarint(2, ONNX_EXPORT_OPSET)]),
  ]);
}
