/**
 * Reads the parts of an ONNX `ModelProto` that weight import needs: graph
 * nodes with attributes, initializers, inputs and outputs. The protobuf wire
 * format is decoded by the small in-tree reader `_protobuf.ts` (no dependency).
 * Mapping a graph to U2-Net weights is `onnxToFoldedStateDict` (re-exported).
 *
 * @module
 */
import { type PbField, pbFields, pbFloats, pbInts, pbString } from "./_protobuf.ts";
import type { RawData, RawDType, RawTensor } from "./raw_tensor.ts";
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxValueInfo } from "./onnx_model.ts";

export {
  type FoldedConv,
  type OnnxFolded,
  onnxToFoldedStateDict,
  type ResizeCoordinates,
} from "./onnx_fold.ts";
export type { OnnxFoldOptions } from "./onnx_fold.ts";
export type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxValueInfo } from "./onnx_model.ts";

const ONNX_DTYPES: Record<number, [RawDType, number, (b: ArrayBuffer, n: number) => RawData]> = {
  1: ["F32", 4, (b, n) => new Float32Array(b, 0, n)],
  2: ["U8", 1, (b, n) => new Uint8Array(b, 0, n)],
  3: ["I8", 1, (b, n) => new Int8Array(b, 0, n)],
  5: ["I16", 2, (b, n) => new Int16Array(b, 0, n)],
  6: ["I32", 4, (b, n) => new Int32Array(b, 0, n)],
  7: ["I64", 8, (b, n) => new BigInt64Array(b, 0, n)],
  9: ["BOOL", 1, (b, n) => new Uint8Array(b, 0, n)],
  10: ["F16", 2, (b, n) => new Uint16Array(b, 0, n)],
  11: ["F64", 8, (b, n) => new Float64Array(b, 0, n)],
};

/** A bfloat16 tensor (raw or in int32_data) widened to F32: its bits are float32's top half. */
function bfloat16(name: string, shape: number[], f: PbField[]): RawTensor & { name: string } {
  const raw = f.find((x) => x.no === 9);
  const bits = raw
    ? new Uint16Array(raw.bytes.slice().buffer, 0, raw.bytes.byteLength >> 1)
    : Uint16Array.from(pbInts(f, 5));
  const n = shape.reduce((a, b) => a * b, 1);
  if (bits.length !== n) {
    throw new RangeError(
      `Cannot load ONNX: tensor "${name}" has ${bits.length} values, shape needs ${n}`,
    );
  }
  const u = Uint32Array.from(bits, (b) => b << 16);
  return { name, dtype: "F32", shape, data: new Float32Array(u.buffer) };
}

/** Decodes a TensorProto; `undefined` for data types this reader does not handle. */
function parseTensor(bytes: Uint8Array): (RawTensor & { name: string }) | undefined {
  const f = pbFields(bytes);
  const name = pbString(f.find((x) => x.no === 8) ?? { bytes: new Uint8Array() } as PbField);
  const shape = pbInts(f, 1);
  const type = Number(f.find((x) => x.no === 2)?.varint ?? 0n);
  if (f.some((x) => x.no === 14 && x.varint === 1n)) {
    throw new TypeError(`Cannot load ONNX: tensor "${name}" uses external data`);
  }
  if (type === 16) return bfloat16(name, shape, f);
  const spec = ONNX_DTYPES[type];
  if (!spec) return undefined;
  const [dtype, size, ctor] = spec;
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = f.find((x) => x.no === 9);
  let data: RawData;
  if (raw) {
    if (raw.bytes.byteLength !== n * size) {
      throw new RangeError(
        `Cannot load ONNX: tensor "${name}" has ${raw.bytes.byteLength} bytes, shape needs ${
          n * size
        }`,
      );
    }
    data = ctor(raw.bytes.slice().buffer, n);
  } else if (type === 1) data = Float32Array.from(pbFloats(f, 4));
  else if (type === 7) data = BigInt64Array.from(pbInts(f, 7), (x) => BigInt(x));
  else if (type === 11) {
    data = Float64Array.from(
      f.filter((x) => x.no === 10 && x.wire === 2).flatMap((x) => {
        const v = new DataView(x.bytes.buffer, x.bytes.byteOffset, x.bytes.byteLength);
        return Array.from({ length: x.bytes.byteLength / 8 }, (_, i) => v.getFloat64(8 * i, true));
      }),
    );
  } else {
    const ints = pbInts(f, 5);
    data = ctor(new ArrayBuffer(ints.length * size), ints.length);
    ints.forEach((v, i) => (data[i] = v));
  }
  if (data.length !== n) {
    throw new RangeError(
      `Cannot load ONNX: tensor "${name}" has ${data.length} values, shape needs ${n}`,
    );
  }
  return { name, dtype, shape, data };
}

function parseAttribute(bytes: Uint8Array): OnnxAttribute {
  const f = pbFields(bytes);
  const one = (no: number) => f.find((x) => x.no === no);
  const a: OnnxAttribute = {
    name: pbString(one(1) ?? { bytes: new Uint8Array() } as PbField),
    type: Number(one(20)?.varint ?? 0n),
    floats: pbFloats(f, 7),
    ints: pbInts(f, 8),
  };
  const fl = one(2);
  if (fl) a.f = new DataView(fl.bytes.buffer, fl.bytes.byteOffset, 4).getFloat32(0, true);
  if (one(3)) a.i = Number(one(3)!.varint);
  if (one(4)) a.s = pbString(one(4)!);
  if (one(5)) a.t = parseTensor(one(5)!.bytes);
  return a;
}

function parseNode(bytes: Uint8Array): OnnxNode {
  const f = pbFields(bytes);
  const strs = (no: number) => f.filter((x) => x.no === no).map(pbString);
  const attributes = new Map<string, OnnxAttribute>();
  for (const x of f) {
    if (x.no !== 5) continue;
    const a = parseAttribute(x.bytes);
    attributes.set(a.name, a);
  }
  return {
    opType: strs(4)[0] ?? "",
    name: strs(3)[0] ?? "",
    inputs: strs(1),
    outputs: strs(2),
    attributes,
  };
}

function parseValueInfo(bytes: Uint8Array): OnnxValueInfo {
  const f = pbFields(bytes);
  const name = f.filter((x) => x.no === 1).map(pbString)[0] ?? "";
  const tensorType = pbFields(f.find((x) => x.no === 2)?.bytes ?? new Uint8Array())
    .find((x) => x.no === 1);
  const tt = pbFields(tensorType?.bytes ?? new Uint8Array());
  const elemType = Number(tt.find((x) => x.no === 1)?.varint ?? 0n);
  const dims = pbFields(tt.find((x) => x.no === 2)?.bytes ?? new Uint8Array())
    .filter((x) => x.no === 1)
    .map((d) => {
      const df = pbFields(d.bytes);
      const v = df.find((x) => x.no === 1);
      const p = df.find((x) => x.no === 2);
      return v ? Number(v.varint) : p ? pbString(p) : null;
    });
  return { name, elemType, shape: dims };
}

/**
 * Parses an ONNX model file.
 *
 * @example
 * ```ts
 * import { parseOnnx } from "./onnx.ts";
 * const model = parseOnnx(await Deno.readFile("tests/testdata/lite_orig.onnx"));
 * model.graph.nodes.filter((n) => n.opType === "Conv").length; // 119
 * ```
 */
export function parseOnnx(bytes: Uint8Array): OnnxModel {
  let top: PbField[];
  try {
    top = pbFields(bytes);
  } catch (e) {
    throw new TypeError(
      `Cannot load ONNX: current file is not a protobuf (${(e as Error).message})`,
    );
  }
  const graphField = top.find((x) => x.no === 7 && x.wire === 2);
  const ir = top.find((x) => x.no === 1 && x.wire === 0);
  if (!graphField || !ir) {
    throw new TypeError("Cannot load ONNX: current file has no ModelProto graph");
  }
  let opsetVersion = 0;
  for (const x of top.filter((x) => x.no === 8 && x.wire === 2)) {
    const o = pbFields(x.bytes);
    const domain = o.find((y) => y.no === 1);
    if (!domain || pbString(domain) === "" || pbString(domain) === "ai.onnx") {
      opsetVersion = Number(o.find((y) => y.no === 2)?.varint ?? 0n);
    }
  }
  const producer = top.find((x) => x.no === 2 && x.wire === 2);
  const g = pbFields(graphField.bytes);
  const initializers = new Map<string, RawTensor>();
  for (const x of g.filter((x) => x.no === 5)) {
    const t = parseTensor(x.bytes);
    if (t) initializers.set(t.name, { dtype: t.dtype, shape: t.shape, data: t.data });
  }
  return {
    irVersion: Number(ir.varint),
    opsetVersion,
    producerName: producer ? pbString(producer) : "",
    graph: {
      nodes: g.filter((x) => x.no === 1).map((x) => parseNode(x.bytes)),
      initializers,
      inputs: g.filter((x) => x.no === 11).map((x) => parseValueInfo(x.bytes)),
      outputs: g.filter((x) => x.no === 12).map((x) => parseValueInfo(x.bytes)),
    },
  };
}
