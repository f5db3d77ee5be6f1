/**
 * Passes over a traced {@linkcode NetGraph}: pure functions returning new
 * graphs with renumbered ids (topological order kept), plus the liveness
 * and summary data lowerings use.
 *
 * @module
 */
import type { GraphNode, NetGraph, OpKind } from "./graph.ts";

/**
 * Rebuilds a graph: `alias` maps a dropped node to the (old) node that takes
 * its place for readers, `drop` lists nodes removed without readers, `edit`
 * rewrites a kept node (old ids in `inputs`/`residual`).
 */
function rebuild(
  g: NetGraph,
  alias: ReadonlyMap<number, number>,
  drop: ReadonlySet<number>,
  edit: (n: GraphNode) => GraphNode = (n) => n,
  batchNorm = g.batchNorm,
): { graph: NetGraph; ids: number[] } {
  const ids: number[] = [];
  const nodes: GraphNode[] = [];
  for (const old of g.nodes) {
    if (alias.has(old.id)) {
      ids[old.id] = ids[alias.get(old.id)!];
      continue;
    }
    if (drop.has(old.id)) {
      ids[old.id] = -1;
      continue;
    }
    const n = edit(old);
    const node: GraphNode = { ...n, id: nodes.length, inputs: n.inputs.map((i) => ids[i]) };
    if (n.residual !== undefined) node.residual = ids[n.residual];
    if (node.inputs.includes(-1) || node.residual === -1) {
      throw new RangeError(`Cannot rebuild the graph: current node ${old.id} reads a dropped node`);
    }
    ids[old.id] = nodes.push(node) - 1;
  }
  const map = (xs: readonly number[]) => xs.map((i) => (i < 0 ? -1 : ids[i]));
  const graph = { config: g.config, batchNorm, nodes, logits: map(g.logits), probs: map(g.probs) };
  return { graph, ids };
}

/** The ids of the nodes reading each node (inputs and residuals). */
function readers(g: NetGraph): number[][] {
  const out: number[][] = g.nodes.map(() => []);
  for (const n of g.nodes) {
    for (const i of n.inputs) out[i].push(n.id);
    if (n.residual !== undefined) out[n.residual].push(n.id);
  }
  return out;
}

/**
 * Removes the BN nodes; their convs get a bias (the weights are folded by
 * `foldStateDict`; conv keys stay `${layer}.conv`).
 *
 * @example
 * ```ts
 * import { traceGraph } from "./graph.ts";
 * import { foldBatchNormNodes } from "./graph_passes.ts";
 * import { U2NET_LITE } from "./config.ts";
 * foldBatchNormNodes(traceGraph(U2NET_LITE)).batchNorm; // false
 * ```
 */
export function foldBatchNormNodes(g: NetGraph): NetGraph {
  const alias = new Map<number, number>();
  const biased = new Set<number>();
  for (const n of g.nodes) {
    if (n.op !== "bn") continue;
    alias.set(n.id, n.inputs[0]);
    biased.add(n.inputs[0]);
  }
  const edit = (n: GraphNode) => (biased.has(n.id) ? { ...n, bias: true } : n);
  return rebuild(g, alias, new Set(), edit, false).graph;
}

/**
 * Fuses every layer's conv → ReLU (→ add) into one conv node with
 * `relu: true` (and `residual`), absorbing a two-input concat read only by
 * the layer conv into the conv's inputs `[deep, skip]`. Side convs and the
 * fuse head's concat + conv stay.
 *
 * @example
 * ```ts
 * import { traceGraph } from "./graph.ts";
 * import { fuseLayers, graphSummary } from "./graph_passes.ts";
 * import { U2NET_LITE } from "./config.ts";
 * const g = fuseLayers(traceGraph(U2NET_LITE, { batchNorm: false }));
 * graphSummary(g).relu; // 0
 * ```
 */
export function fuseLayers(g: NetGraph): NetGraph {
  if (g.nodes.some((n) => n.op === "bn")) {
    throw new RangeError("Cannot fuse layers: current graph has BatchNorm nodes");
  }
  const rd = readers(g);
  const alias = new Map<number, number>();
  const drop = new Set<number>();
  const fused = new Map<number, GraphNode>();
  for (const conv of g.nodes) {
    if (conv.op !== "conv" || conv.role !== "layer" || rd[conv.id].length !== 1) continue;
    const relu = g.nodes[rd[conv.id][0]];
    if (relu.op !== "relu") continue;
    const node: GraphNode = { ...conv, relu: true };
    alias.set(relu.id, conv.id);
    const next = rd[relu.id].length === 1 ? g.nodes[rd[relu.id][0]] : undefined;
    if (next?.op === "add" && next.layer === conv.layer && next.inputs[0] === relu.id) {
      node.residual = next.inputs[1];
      alias.set(next.id, conv.id);
    }
    const src = g.nodes[conv.inputs[0]];
    if (src.op === "concat" && src.inputs.length === 2 && rd[src.id].length === 1) {
      node.inputs = [...src.inputs];
      drop.add(src.id);
    }
    fused.set(conv.id, node);
  }
  return rebuild(g, alias, drop, (n) => fused.get(n.id) ?? n).graph;
}

/**
 * Keeps only the nodes the `outputs` need; returns the pruned graph (pruned
 * logits/probs become -1) and the outputs' new ids.
 *
 * @example
 * ```ts
 * import { traceGraph } from "./graph.ts";
 * import { pruneTo } from "./graph_passes.ts";
 * import { U2NET_LITE } from "./config.ts";
 * const g = traceGraph(U2NET_LITE);
 * pruneTo(g, [g.probs[0]]).graph.probs.filter((p) => p >= 0).length; // 1
 * ```
 */
export function pruneTo(
  g: NetGraph,
  outputs: readonly number[],
): { graph: NetGraph; outputs: number[] } {
  const live = new Set<number>(outputs);
  for (let id = g.nodes.length - 1; id >= 0; id--) {
    if (!live.has(id)) continue;
    const n = g.nodes[id];
    for (const i of n.inputs) live.add(i);
    if (n.residual !== undefined) live.add(n.residual);
  }
  const drop = new Set(g.nodes.filter((n) => !live.has(n.id)).map((n) => n.id));
  const { graph, ids } = rebuild(g, new Map(), drop);
  return { graph, outputs: outputs.map((o) => ids[o]) };
}

/**
 * For each node id, the index of the last node reading it (inputs or
 * residual), -1 when none: the liveness data for buffer sharing.
 *
 * @example
 * ```ts
 * import { traceGraph } from "./graph.ts";
 * import { lastUses } from "./graph_passes.ts";
 * import { U2NET_LITE } from "./config.ts";
 * const g = traceGraph(U2NET_LITE);
 * lastUses(g)[g.probs[0]]; // -1
 * ```
 */
export function lastUses(g: NetGraph): number[] {
  const out = g.nodes.map(() => -1);
  for (const n of g.nodes) {
    for (const i of n.inputs) out[i] = Math.max(out[i], n.id);
    if (n.residual !== undefined) out[n.residual] = Math.max(out[n.residual], n.id);
  }
  return out;
}

/**
 * Counts the nodes of each op kind.
 *
 * @example
 * ```ts
 * import { traceGraph } from "./graph.ts";
 * import { graphSummary } from "./graph_passes.ts";
 * import { U2NET_LITE } from "./config.ts";
 * graphSummary(traceGraph(U2NET_LITE)).sigmoid; // 7
 * ```
 */
export function graphSummary(g: NetGraph): Record<OpKind, number> {
  const out: Record<OpKind, number> = {
    input: 0,
    conv: 0,
    bn: 0,
    relu: 0,
    add: 0,
    pool: 0,
    resize: 0,
    concat: 0,
    sigmoid: 0,
  };
  for (const n of g.nodes) out[n.op]++;
  return out;
}
