/**
 * Graph checks of the ONNX import that do not depend on the weights: every
 * node on the image's path must be a U2-Net op, and every resize bilinear.
 * Nodes that only compute resize targets (`Shape` → `Gather` → `Concat` …)
 * are not on the image's path and are ignored.
 *
 * @module
 */
import type { OnnxGraph, OnnxNode } from "./onnx_model.ts";

/** Ops allowed on the image's path (`Shape` ends it: its output is metadata). */
const PATH_OPS = new Set([
  "Conv",
  "BatchNormalization",
  "Relu",
  "MaxPool",
  "Resize",
  "Upsample",
  "Concat",
  "Add",
  "Sigmoid",
  "Identity",
  "Cast",
  "Dropout",
  "Shape",
]);

/** Coordinate modes the import reproduces exactly (PyTorch `align_corners=False`). */
const HALF_PIXEL = new Set(["half_pixel", "pytorch_half_pixel"]);

/** How the file's resizes map coordinates. */
export type ResizeCoordinates = "half_pixel" | "asymmetric";

function fail(what: string): never {
  throw new TypeError(`Cannot load ONNX: ${what}`);
}

const label = (n: OnnxNode) => `${n.opType} node "${n.name || n.outputs[0]}"`;

/**
 * Walks the graph from its image input and refuses any node on the path whose
 * op is not a U2-Net op, naming it. Returns the nodes on the path.
 */
export function checkImagePath(g: OnnxGraph, consumers: Map<string, OnnxNode[]>): Set<OnnxNode> {
  const images = g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name);
  if (images.length !== 1) {
    fail(`graph has ${images.length} non-initializer inputs [${images}], expected one image`);
  }
  const seen = new Set<OnnxNode>();
  const queue = [...images];
  while (queue.length) {
    for (const n of consumers.get(queue.pop()!) ?? []) {
      if (seen.has(n)) continue;
      seen.add(n);
      if (!PATH_OPS.has(n.opType)) {
        fail(
          `${label(n)} on the image path is not a U2-Net op (expected ${[...PATH_OPS].join(", ")})`,
        );
      }
      if (n.opType !== "Shape") queue.push(...n.outputs);
    }
  }
  return seen;
}

/**
 * Checks every `Resize`/`Upsample` on the path: bilinear, and a coordinate
 * mode the import can honour. Returns `half_pixel` when every resize declares
 * (or defaults to) half-pixel centers, `asymmetric` when any is an `Upsample`,
 * an opset-10 `Resize` or an explicit `asymmetric` one (the network is still
 * imported with PyTorch's half-pixel bilinear, which the weights were trained with).
 */
export function checkResizes(nodes: Iterable<OnnxNode>, opset: number): ResizeCoordinates {
  let coords: ResizeCoordinates = "half_pixel";
  for (const n of nodes) {
    if (n.opType !== "Resize" && n.opType !== "Upsample") continue;
    const mode = n.attributes.get("mode")?.s ?? "nearest";
    if (mode !== "linear" && mode !== "bilinear") {
      fail(`${label(n)} has mode ${mode}, expected linear (bilinear)`);
    }
    const declared = n.attributes.get("coordinate_transformation_mode")?.s;
    const ct = n.opType === "Upsample" || (opset > 0 && opset < 11)
      ? "asymmetric"
      : declared ?? "half_pixel";
    if (HALF_PIXEL.has(ct)) continue;
    if (ct !== "asymmetric") {
      fail(
        `${label(n)} uses coordinate_transformation_mode ${ct}, expected half_pixel or ` +
          `pytorch_half_pixel (PyTorch align_corners=False)`,
      );
    }
    coords = "asymmetric";
  }
  return coords;
}
