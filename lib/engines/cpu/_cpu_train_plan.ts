/**
 * The CPU training step (`cpu_trainer.ts`) as a lowering of the traced
 * train-mode graph (`traceGraph`): every node's map and gradient allocated
 * once from the kernel set, then a forward and a backward closure per node.
 * Forward: convs (a two-part concat feeding a conv is read in place as the
 * conv's `a ‖ b`), BN + ReLU fused at the BN node (the ReLU node reuses its
 * map), adds, pools, resizes (identity when the shapes are equal), other
 * concats materialised. Backward: the nodes walked last first, each op's
 * gradient given to its inputs (written, or summed when a map is used twice).
 *
 * @module
 */
import { BN_EPS } from "../../net/config.ts";
import { type GraphNode, graphShapes, type NetGraph } from "../../net/graph.ts";
import type { ConvShape, TrainKernels } from "./train_kernels.ts";
import { concatBackward, concatForward } from "./_cpu_train_math.ts";

/** A BN node's batch statistics of the last forward. */
export interface CpuBnStats {
  mean: Float32Array;
  invstd: Float32Array;
  varUnbiased: Float32Array;
}

/** The planned step: inputs, logits, statistics and the two passes. */
export interface CpuTrainPlan {
  /** The images `[n, h, w, 3]` (write before `forward`). */
  x: Float32Array;
  /** The logit maps `[fused, side1 … side6]` after `forward`. */
  logits: Float32Array[];
  /** BN batch statistics by BN key (`….bn`). */
  bn: Map<string, CpuBnStats>;
  /** The forward pass. */
  forward(): void;
  /** The reverse pass; `seed(k, g)` writes logit k's gradient into `g`. */
  backward(seed: (k: number, g: Float32Array) => void): void;
}

type Step = () => void;

/**
 * Plans the step of `graph` on an `[n, h, w]` batch over `params` and
 * `grads` (by seed key, tfjs layout, arrays of `k`).
 */
export function planCpuTrain(
  graph: NetGraph,
  batch: readonly [number, number, number],
  k: TrainKernels,
  params: ReadonlyMap<string, Float32Array>,
  grads: ReadonlyMap<string, Float32Array>,
): CpuTrainPlan {
  const { nodes } = graph;
  const shapes = graphShapes(graph, batch);
  const size = (id: number) => {
    const s = shapes[id];
    return s.n * s.h * s.w * s.c;
  };
  const pixels = (id: number) => shapes[id].n * shapes[id].h * shapes[id].w;
  const consumers = nodes.map(() => [] as GraphNode[]);
  for (const node of nodes) for (const i of node.inputs) consumers[i].push(node);
  const virtual = nodes.map((n) =>
    n.op === "concat" && n.inputs.length === 2 && consumers[n.id].every((c) => c.op === "conv")
  );
  // owner[id]: the node whose map (and gradient) node id's output is.
  const owner = nodes.map((n) => n.id);
  for (const node of nodes) {
    const same = node.op === "relu" ||
      (node.op === "resize" && size(node.inputs[0]) === size(node.id));
    if (same) owner[node.id] = owner[node.inputs[0]];
  }
  const maps: Float32Array[] = [], g: Float32Array[] = [];
  let most = 0;
  for (const node of nodes) {
    if (owner[node.id] !== node.id || node.op === "sigmoid" || virtual[node.id]) continue;
    maps[node.id] = k.alloc(size(node.id));
    most = Math.max(most, size(node.id));
  }
  const scratch = [k.alloc(most), k.alloc(most)];
  const live = nodes.map(() => false);
  const map = (id: number) => maps[owner[id]];
  const gradOf = (id: number) => g[owner[id]];
  /** Where a gradient for node id goes: its array, or a scratch to add from. */
  const target = (id: number, which: 0 | 1) =>
    live[owner[id]] ? scratch[which].subarray(0, size(id)) : gradOf(id);
  const commit = (id: number, buf: Float32Array) => {
    const o = owner[id];
    if (live[o]) k.accumulate(g[o], buf, buf.length);
    live[o] = true;
  };
  const giveCopy = (id: number, src: Float32Array) => {
    const o = owner[id];
    if (live[o]) k.accumulate(g[o], src, src.length);
    else g[o].set(src);
    live[o] = true;
  };
  const bn = new Map<string, CpuBnStats>();
  const fwd: Step[] = [], bwd: (Step | null)[] = [];
  /** The nodes each node's backward gives a gradient to. */
  const targets: number[][] = nodes.map(() => []);

  for (const node of nodes) {
    const id = node.id, out = maps[id], s = shapes[id];
    const x0 = node.inputs[0];
    const guard = (fn: Step): Step => () => {
      if (live[owner[id]]) fn();
    };
    if (node.op === "conv") {
      const src = nodes[x0];
      const split = virtual[x0] ? src.inputs : [x0];
      const [a, b] = [map(split[0]), split[1] === undefined ? null : map(split[1])];
      const cs: ConvShape = {
        n: s.n,
        h: s.h,
        w: s.w,
        ca: shapes[split[0]].c,
        cb: split[1] === undefined ? 0 : shapes[split[1]].c,
        co: node.channels,
        k: node.kernel ?? 3,
        dil: node.dilation ?? 1,
      };
      const w = params.get(`${node.key}.weight`)!, dw = grads.get(`${node.key}.weight`)!;
      const bias = params.get(`${node.key}.bias`) ?? null;
      const dbias = grads.get(`${node.key}.bias`) ?? null;
      if (!w || !dw) {
        throw new RangeError(`Cannot plan CPU training: current value lacks ${node.key}.weight`);
      }
      fwd.push(() => k.conv(out, a, b, w, bias, cs));
      const needsInput = nodes[split[0]].op !== "input";
      if (needsInput) targets[id] = split;
      bwd.push(guard(() => {
        const dy = g[id];
        k.convFilterGrad(dw, dbias, a, b, dy, cs);
        if (!needsInput) return;
        const da = target(split[0], 0);
        const db = b ? target(split[1], 1) : null;
        k.convInputGrad(da, db, dy, w, cs);
        commit(split[0], da);
        if (db) commit(split[1], db);
      }));
    } else if (node.op === "bn") {
      const c = node.channels, p = pixels(id), key = node.key!;
      const stats: CpuBnStats = { mean: k.alloc(c), invstd: k.alloc(c), varUnbiased: k.alloc(c) };
      bn.set(key, stats);
      const gamma = params.get(`${key}.weight`)!, beta = params.get(`${key}.bias`)!;
      const dgamma = grads.get(`${key}.weight`)!, dbeta = grads.get(`${key}.bias`)!;
      const x = map(x0);
      targets[id] = [x0];
      fwd.push(() => k.bnReluForward(out, x, gamma, beta, stats, p, c, BN_EPS));
      bwd.push(guard(() => {
        const dx = target(x0, 0);
        k.bnReluBackward(dx, dgamma, dbeta, g[id], x, out, gamma, stats.mean, stats.invstd, p, c);
        commit(x0, dx);
      }));
    } else if (node.op === "relu") {
      if (nodes[x0].op !== "bn") {
        throw new RangeError(`Cannot plan CPU training: current value is a ReLU after ${x0}`);
      }
      fwd.push(() => {});
      bwd.push(null);
    } else if (node.op === "add") {
      const [a, b] = node.inputs.map(map), len = size(id);
      targets[id] = node.inputs;
      fwd.push(() => {
        out.set(a);
        k.accumulate(out, b, len);
      });
      bwd.push(guard(() => {
        giveCopy(node.inputs[0], g[id]);
        giveCopy(node.inputs[1], g[id]);
      }));
    } else if (node.op === "pool") {
      const x = map(x0), i = shapes[x0];
      targets[id] = [x0];
      fwd.push(() => k.pool(out, x, i.n, i.h, i.w, i.c));
      bwd.push(guard(() => {
        const dx = target(x0, 0);
        k.poolGrad(dx, g[id], x, i.n, i.h, i.w, i.c);
        commit(x0, dx);
      }));
    } else if (node.op === "resize" && owner[id] === id) {
      const x = map(x0), i = shapes[x0];
      targets[id] = [x0];
      fwd.push(() => k.resize(out, x, i.n, i.h, i.w, i.c, s.h, s.w));
      bwd.push(guard(() => {
        const dx = target(x0, 0);
        k.resizeGrad(dx, g[id], i.n, i.h, i.w, i.c, s.h, s.w);
        commit(x0, dx);
      }));
    } else if (node.op === "concat" && !virtual[id]) {
      const parts = node.inputs.map((i) => ({ id: i, map: map(i), c: shapes[i].c }));
      const p = pixels(id);
      targets[id] = node.inputs;
      fwd.push(() => concatForward(out, parts, p, s.c));
      bwd.push(guard(() => {
        let off = 0;
        for (const part of parts) {
          const dx = target(part.id, 0);
          concatBackward(dx, g[id], off, part.c, p, s.c);
          commit(part.id, dx);
          off += part.c;
        }
      }));
    } else {
      // input, identity resize, virtual concat, sigmoid: nothing to run.
      fwd.push(() => {});
      bwd.push(null);
    }
  }
  const logitIds = graph.logits.map((id) => owner[id]);
  // Gradient arrays shared by lifetime: an owner's from its first consumer's
  // backward (last first) to its own, then free for a map of the same size.
  const free = new Map<number, Float32Array[]>();
  const acquire = (o: number) => {
    g[o] ??= free.get(size(o))?.pop() ?? k.alloc(size(o));
  };
  logitIds.forEach(acquire);
  for (let i = nodes.length - 1; i >= 0; i--) {
    targets[i].forEach((t) => acquire(owner[t]));
    if (owner[i] !== i || !g[i]) continue;
    if (!free.has(size(i))) free.set(size(i), []);
    free.get(size(i))!.push(g[i]);
  }
  return {
    x: maps[nodes.find((n) => n.op === "input")!.id],
    logits: logitIds.map((id) => maps[id]),
    bn,
    forward() {
      for (const f of fwd) f();
    },
    backward(seed) {
      live.fill(false);
      logitIds.forEach((id, i) => {
        seed(i, g[id]);
        live[id] = true;
      });
      for (let i = bwd.length - 1; i >= 0; i--) bwd[i]?.();
    },
  };
}
