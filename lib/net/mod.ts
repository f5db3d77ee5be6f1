/**
 * The network as data, with no tensors: the stage tables (`U2NET_FULL`,
 * `U2NET_LITE`, widths read from weights), the RSU blocks, the state-dict
 * layout with the seed's key names, and the traced graph every engine
 * lowers, with its passes (BN folding, layer fusion, pruning, buffer
 * liveness).
 *
 * @example
 * ```ts
 * import { traceGraph, U2NET_LITE } from "./mod.ts";
 * const graph = traceGraph(U2NET_LITE);
 * graph.nodes[graph.logits[0]].key; // "out_conv"
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./rsu.ts";
export * from "./state_dict.ts";
export * from "./graph.ts";
export * from "./graph_passes.ts";
