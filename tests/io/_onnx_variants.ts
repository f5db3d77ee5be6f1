/**
 * Test helper: writes a parsed {@linkcode OnnxModel} back to ONNX bytes, and
 * rewrites `exportOnnx`'s graph into the other forms real U2-Net exports take
 * (weights as `Constant` nodes, float16 weights behind `Cast`, BatchNorm as
 * `BatchNormalization` nodes, `Upsample`/`Resize` of older opsets). Every
 * variant is a valid ONNX model that onnxruntime runs.
 *
 * @module
 */
import { pbBytes, pbFloat, pbMessage, pbVarint } from "../../lib/io/protobuf_write.ts";
import type { OnnxAttribute, OnnxModel, OnnxNode } from "../../lib/io/onnx.ts";
import type { RawTensor, StateDict } from "../../lib/io/raw_tensor.ts";

import { HALF_LITE } from "../helpers.ts";
export { HALF_LITE };

const DTYPE: Record<string, number> = {
  F32: 1,
  U8: 2,
  I8: 3,
  I16: 5,
  I32: 6,
  I64: 7,
  BOOL: 9,
  F16: 10,
  F64: 11,
  BF16: 16,
};

function tensorProto(name: string, t: RawTensor): Uint8Array {
  const d = t.data;
  return pbMessage([
    ...t.shape.map((s) => pbVarint(1, s)),
    pbVarint(2, DTYPE[t.dtype]),
    pbBytes(8, name),
    pbBytes(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)),
  ]);
}

function attrProto(a: OnnxAttribute): Uint8Array {
  const f = [pbBytes(1, a.name), pbVarint(20, a.type)];
  if (a.type === 1) f.push(pbFloat(2, a.f ?? 0));
  else if (a.type === 2) f.push(pbVarint(3, a.i ?? 0));
  else if (a.type === 3) f.push(pbBytes(4, a.s ?? ""));
  else if (a.type === 4) f.push(pbBytes(5, tensorProto("", a.t!)));
  else if (a.type === 6) f.push(...a.floats.map((x) => pbFloat(7, x)));
  else if (a.type === 7) f.push(...a.ints.map((x) => pbVarint(8, x)));
  else throw new TypeError(`Cannot write attribute type ${a.type}`);
  return pbMessage(f);
}

function nodeProto(n: OnnxNode): Uint8Array {
  return pbMessage([
    ...n.inputs.map((i) => pbBytes(1, i)),
    ...n.outputs.map((o) => pbBytes(2, o)),
    pbBytes(3, n.name),
    pbBytes(4, n.opType),
    ...[...n.attributes.values()].map((a) => pbBytes(5, attrProto(a))),
  ]);
}

function valueInfo(no: number, name: string, dims: (number | string | null)[]): Uint8Array {
  const dim = dims.map((d) =>
    pbBytes(1, [typeof d === "number" ? pbVarint(1, d) : pbBytes(2, d ?? "n")])
  );
  return pbBytes(no, [
    pbBytes(1, name),
    pbBytes(2, [pbBytes(1, [pbVarint(1, 1), pbBytes(2, dim)])]),
  ]);
}

/** Serialises a parsed model (the fields `parseOnnx` reads). */
export function writeOnnxModel(m: OnnxModel): Uint8Array {
  const g = m.graph;
  const graph = pbMessage([
    ...g.nodes.map((n) => pbBytes(1, nodeProto(n))),
    pbBytes(2, "variant"),
    ...[...g.initializers].map(([k, t]) => pbBytes(5, tensorProto(k, t))),
    ...g.inputs.map((i) => valueInfo(11, i.name, i.shape)),
    ...g.outputs.map((o) => valueInfo(12, o.name, o.shape)),
  ]);
  return pbMessage([
    pbVarint(1, m.irVersion),
    pbBytes(2, m.producerName),
    pbBytes(7, graph),
    pbBytes(8, [pbBytes(1, ""), pbVarint(2, m.opsetVersion)]),
  ]);
}

/** Attribute constructors. */
export const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: 2, i, floats: [], ints: [] }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: 1, f, floats: [], ints: [] }),
  str: (name: string, s: string): OnnxAttribute => ({ name, type: 3, s, floats: [], ints: [] }),
  tensor: (name: string, t: RawTensor): OnnxAttribute => ({
    name,
    type: 4,
    t,
    floats: [],
    ints: [],
  }),
};

/** A node. */
export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: OnnxAttribute[] = [],
): OnnxNode {
  return {
    opType,
    name: outputs[0],
    inputs,
    outputs,
    attributes: new Map(attrs.map((a) => [a.name, a])),
  };
}

const f32 = (shape: number[], values: number[] | Float32Array): RawTensor => ({
  dtype: "F32",
  shape,
  data: Float32Array.from(values),
});

/** Every initializer becomes a `Constant` node (and the initializer list is emptied). */
export function weightsAsConstants(m: OnnxModel): void {
  const consts = [...m.graph.initializers].map(([k, t]) =>
    node("Constant", [], [k], [attr.tensor("value", t)])
  );
  m.graph.nodes.unshift(...consts);
  m.graph.initializers.clear();
}

/** Float32 → float16 bits, round to nearest even (finite, normal-range weights). */
export function toF16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = 1 << (shift - 1);
    let v = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (v & 1))) v++;
    return sign | v;
  }
  if (exp >= 31) return sign | 0x7c00;
  let v = (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (v & 1))) v++;
  return sign | v;
}

/** Float32 → bfloat16 bits, round to nearest even. */
export function toBf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Float32 initializers become float16 (or bfloat16) ones read through
 * `Cast(to=FLOAT)` nodes. Bfloat16 tensors are written as data type 16.
 */
export function float16Weights(m: OnnxModel, kind: "f16" | "bf16" = "f16"): void {
  const casts: OnnxNode[] = [];
  for (const [k, t] of [...m.graph.initializers]) {
    if (t.dtype !== "F32") continue;
    const bits = Uint16Array.from(t.data as Float32Array, kind === "f16" ? toF16Bits : toBf16Bits);
    m.graph.initializers.delete(k);
    m.graph.initializers.set(
      `${k}__f16`,
      {
        dtype: kind === "f16" ? "F16" : "BF16",
        shape: t.shape,
        data: bits,
      } as unknown as RawTensor,
    );
    casts.push(node("Cast", [`${k}__f16`], [k], [attr.int("to", 1)]));
  }
  m.graph.nodes.unshift(...casts);
}

/**
 * Replaces each folded `Conv` → `Relu` by the raw conv and a
 * `BatchNormalization` node, from the network's unfolded state dict `raw`
 * (seed keys; `exportOnnx` names initializers by seed key).
 */
export function unfoldBatchNorm(m: OnnxModel, raw: StateDict): void {
  const g = m.graph;
  const out: OnnxNode[] = [];
  for (const n of g.nodes) {
    out.push(n);
    const p = /^(.*)\.conv\.weight$/.exec(n.inputs[1] ?? "")?.[1];
    if (n.opType !== "Conv" || !p) continue;
    const w = raw.get(`${p}.conv.weight`)!;
    g.initializers.set(`${p}.conv.weight`, w);
    const o = w.shape[0];
    g.initializers.set(
      `${p}.conv.bias`,
      raw.get(`${p}.conv.bias`) ?? f32([o], new Float32Array(o)),
    );
    const bn = ["weight", "bias", "running_mean", "running_var"].map((s) => `${p}.bn.${s}`);
    for (const k of bn) g.initializers.set(k, raw.get(k)!);
    const y = n.outputs[0];
    n.outputs = [`${y}__conv`];
    out.push(node("BatchNormalization", [`${y}__conv`, ...bn], [y], [attr.float("epsilon", 1e-5)]));
  }
  g.nodes = out;
}

/** Resize forms of older exports. */
export type ResizeForm = "upsample9" | "resize10" | "resize11" | "resize13";

/**
 * Rewrites every size-driven `Resize` as a scale-driven resize of `form` (a
 * fixed input size is needed: scales come from shape inference), drops the
 * now-dead `Shape` arithmetic and sets the opset. Opset 9 also loses MaxPool's
 * `ceil_mode` (that opset has none; the sizes must then divide by 32).
 */
export function staticResizes(m: OnnxModel, form: ResizeForm): void {
  const g = m.graph;
  const [, , h, w] = g.inputs[0].shape as number[];
  const size = new Map<string, [number, number]>([[g.inputs[0].name, [h, w]]]);
  const producers = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  let k = 0;
  for (const n of g.nodes) {
    const s = size.get(n.inputs[0]);
    if (!s) continue;
    if (n.opType === "MaxPool") size.set(n.outputs[0], [Math.ceil(s[0] / 2), Math.ceil(s[1] / 2)]);
    else if (n.opType === "Resize") {
      const like = producers.get(producers.get(n.inputs[3])!.inputs[1])!.inputs[0];
      const t = size.get(like)!;
      size.set(n.outputs[0], t);
      const scales = `resize_scales_${k++}`;
      g.initializers.set(scales, f32([4], [1, 1, t[0] / s[0], t[1] / s[1]]));
      const half = attr.str("coordinate_transformation_mode", "pytorch_half_pixel");
      const mode = attr.str("mode", "linear");
      if (form === "upsample9") {
        n.opType = "Upsample";
        n.inputs = [n.inputs[0], scales];
        n.attributes = new Map([["mode", mode]]);
      } else if (form === "resize10") {
        n.inputs = [n.inputs[0], scales];
        n.attributes = new Map([["mode", mode]]);
      } else {
        const roi = `resize_roi_${k}`;
        if (form === "resize11") g.initializers.set(roi, f32([0], []));
        n.inputs = [n.inputs[0], form === "resize11" ? roi : "", scales];
        n.attributes = new Map([["mode", mode], ["coordinate_transformation_mode", half]]);
      }
    } else size.set(n.outputs[0], s);
  }
  pruneDead(m);
  m.opsetVersion = Number(form.slice(-2).replace(/\D/g, ""));
  if (form === "upsample9") {
    for (const n of g.nodes) if (n.opType === "MaxPool") n.attributes.delete("ceil_mode");
  }
}

/** Removes nodes none of whose outputs is used (iterated to a fixed point). */
export function pruneDead(m: OnnxModel): void {
  const g = m.graph;
  for (;;) {
    const used = new Set([...g.nodes.flatMap((n) => n.inputs), ...g.outputs.map((o) => o.name)]);
    const keep = g.nodes.filter((n) => n.outputs.some((o) => used.has(o)));
    if (keep.length === g.nodes.length) break;
    g.nodes = keep;
  }
}
