/**
 * The parsed form of an ONNX `ModelProto` that weight import reads: graph
 * nodes with attributes, initializers, inputs and outputs. Its own file so
 * that the parser (`onnx.ts`) and the graph-to-weights mapping (`onnx_fold.ts`,
 * `_onnx_checks.ts`) share the types without importing each other.
 *
 * @example
 * ```ts
 * import type { OnnxModel } from "./onnx_model.ts";
 * const empty: OnnxModel = {
 *   irVersion: 8,
 *   opsetVersion: 17,
 *   producerName: "pytorch",
 *   graph: { nodes: [], initializers: new Map(), inputs: [], outputs: [] },
 * };
 * ```
 *
 * @module
 */
import type { RawTensor } from "./raw_tensor.ts";

/** A node attribute; which fields are set depends on `type` (ONNX AttributeType). */
export interface OnnxAttribute {
  /** Attribute name. */
  name: string;
  /** ONNX AttributeType: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS, … */
  type: number;
  /** FLOAT value. */
  f?: number;
  /** INT value. */
  i?: number;
  /** STRING value (UTF-8). */
  s?: string;
  /** TENSOR value, when its data type is supported. */
  t?: RawTensor;
  /** FLOATS values. */
  floats: number[];
  /** INTS values. */
  ints: number[];
}

/** A graph node. */
export interface OnnxNode {
  /** Operator, e.g. `Conv`. */
  opType: string;
  /** Node name (may be empty). */
  name: string;
  /** Input tensor names (`""` for an omitted optional input). */
  inputs: string[];
  /** Output tensor names. */
  outputs: string[];
  /** Attributes by name. */
  attributes: Map<string, OnnxAttribute>;
}

/** A graph input or output. */
export interface OnnxValueInfo {
  /** Tensor name. */
  name: string;
  /** ONNX element type (1 FLOAT, 7 INT64, …), 0 when unknown. */
  elemType: number;
  /** Dimensions: numbers, symbolic names, or `null` when unknown. */
  shape: Array<number | string | null>;
}

/** A parsed graph. */
export interface OnnxGraph {
  /** Nodes in file (topological) order. */
  nodes: OnnxNode[];
  /** Initializers by name. */
  initializers: Map<string, RawTensor>;
  /** Graph inputs (may include initializers in old exports). */
  inputs: OnnxValueInfo[];
  /** Graph outputs. */
  outputs: OnnxValueInfo[];
}

/** A parsed model. */
export interface OnnxModel {
  /** IR version. */
  irVersion: number;
  /** Opset of the default domain, 0 when absent. */
  opsetVersion: number;
  /** Producer, e.g. `pytorch`. */
  producerName: string;
  /** The main graph. */
  graph: OnnxGraph;
}
