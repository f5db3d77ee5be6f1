/**
 * Plans the recorded inference engine: lowers the traced U2-Net graph (BN
 * folded, layers fused) for a fixed input shape to every dispatch (shader, buffers,
 * uniforms, workgroups) and every buffer size. No GPU calls here.
 *
 * @module
 */
import type { U2NetConfig } from "../../net/config.ts";
import { type GraphNode, graphShapes, traceGraph } from "../../net/graph.ts";
import { fuseLayers, pruneTo } from "../../net/graph_passes.ts";
import { convTileN } from "../../kernels/conv/conv_wgsl.ts";
import { scalarUnrolled } from "../../kernels/conv/scalar_tile_wgsl.ts";

/** A planned activation: buffer id and NHWC shape. */
export interface PlannedMap {
  /** Index into `EnginePlan.buffers`. */
  buf: number;
  /** Batch. */
  n: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
  /** Channels. */
  c: number;
  /** Stored as f16 (a mixed-precision plan's activations); f32 otherwise. */
  half?: boolean;
}

/** One dispatch of the plan. */
export interface PlannedStep {
  /**
   * Shader: `conv<tn>`, `convv<tm>x<tn>` (each +`u`: unrolled; then +`k`: split K),
   * `side`, `pool`, `resize`, `fuse`, `splitsum`; in a mixed-precision plan
   * + `.` and the types read and written (`h` f16, `f` f32; a vec4 conv's
   * `.hw`: f16 maps with f32 sums), e.g. `convv64x64u.hh`, `conv16u.fh`.
   */
  shader: string;
  /**
   * Buffer ids bound at 0, 1, …: the output first; `w:<key>` names a weight
   * buffer (f32), `h:<key>` the same weights in f16; `null`, a binding the
   * shader does not declare.
   */
  bindings: (number | string | null)[];
  /** Uniform words (i32 unless listed in `floats`). */
  uniforms: number[];
  /** Indices of `uniforms` that are f32. */
  floats?: number[];
  /** Workgroup counts (x, y and, for a split-K conv, z: the splits). */
  workgroups: [number, number] | [number, number, number];
}

/** The whole plan. */
export interface EnginePlan {
  /**
   * Sizes of the activation buffers in 4-byte words (an f16 map of n
   * values takes ⌈n/2⌉); 0 is the input.
   */
  buffers: number[];
  /** Dispatches in order. */
  steps: PlannedStep[];
  /** The output (sigmoid of the fused map). */
  output: PlannedMap;
}

/** Workgroups of a flat 64-wide shader over `size` values (2-D past the dimension limit). */
export function flatGroups(size: number): [number, number] {
  const groups = Math.ceil(size / 64);
  const x = Math.min(groups, 32768);
  return [x, Math.ceil(groups / x)];
}

/** Fewest K values per split of a split-K conv (16 shared-memory steps). */
export const MIN_SPLIT_CHUNK = 256;

/**
 * The K split of a conv with `groups` tiles: [splits, chunk] (chunk a
 * multiple of 16) so that about `target` workgroups run, never under
 * {@linkcode MIN_SPLIT_CHUNK} values each; [1, K] when that is one split.
 */
export function splitConvK(k: number, groups: number, target: number): [number, number] {
  const want = Math.min(Math.ceil(target / groups), Math.floor(k / MIN_SPLIT_CHUNK));
  if (target <= 0 || groups >= target || want < 2) return [1, k];
  const chunk = Math.ceil(k / want / 16) * 16;
  return [Math.ceil(k / chunk), chunk];
}

/** Options of {@linkcode planEngine}. */
export interface PlanEngineOptions {
  /** Pixel side of the vec4 conv tiles: 32, 64 or 128. @default 64 */
  tileRows?: number;
  /** The unrolled conv shader. @default true */
  unrolled?: boolean;
  /**
   * A vec4 conv with fewer tiles than this splits its K reduction over
   * about this many workgroups ({@linkcode splitConvK}); 0: never.
   * @default 0
   */
  splitTarget?: number;
  /**
   * `f16`: mixed precision (the adapter needs `shader-f16`): every
   * activation but the input and the one-channel side maps stored in f16,
   * the vec4 convs' filters in f16, sums and epilogues in f32 (see
   * `ConvShaderOptions.half`). @default "f32"
   */
  precision?: "f32" | "f16";
  /**
   * With `precision: "f16"`: each 16-k step of a vec4 conv summed in f16
   * before the f32 sum (`ConvShaderOptions.halfSums`). @default true
   */
  halfSums?: boolean;
  /**
   * The unrolled vec4 convs' register tile: 4 (4 rows x 4 channels a
   * thread) or 8 (8 x 8; 8 x 4 on 16-channel tiles): the same sums in the
   * same order (`convWideTile`). @default 4
   */
  regs?: 4 | 8;
  /**
   * Double buffering in the unrolled vec4 convs (`ConvShaderOptions.prefetch`;
   * the same sums). @default false
   */
  prefetch?: boolean;
}

/**
 * Plans a folded network of `config` for an [n, h, w, 3] input (see
 * {@linkcode PlanEngineOptions}): a lowering of the traced graph, BN folded
 * and layers fused, pruned to the fused probability. Each conv node is one
 * dispatch (two when split-K), a pool one, a resize one (none when the sizes
 * already match), and the fuse head (6-way concat, 1x1 `out_conv`, sigmoid)
 * the one `fuse` step.
 *
 * @example
 * ```ts
 * import { planEngine } from "./engine_plan.ts";
 * import { U2NET_LITE } from "../../net/config.ts";
 * const plan = planEngine(U2NET_LITE, [1, 64, 64]);
 * plan.steps.at(-1)!.shader; // "fuse"
 * ```
 */
export function planEngine(
  config: U2NetConfig,
  shape: readonly [number, number, number],
  options: PlanEngineOptions = {},
): EnginePlan {
  const {
    tileRows = 64,
    unrolled = true,
    splitTarget = 0,
    precision = "f32",
    halfSums = true,
    regs = 4,
    prefetch = false,
  } = options;
  if (regs !== 4 && regs !== 8) {
    throw new RangeError(`Cannot plan the engine: current regs is ${regs}`);
  }
  // The wide tile's key part (unrolled shaders only; none for the default).
  const wide = unrolled ? `${regs === 8 ? "r8" : ""}${prefetch ? "p" : ""}` : "";
  const mixed = precision === "f16";
  if (precision !== "f32" && !mixed) {
    throw new RangeError(`Cannot plan the engine: current precision is ${precision}`);
  }
  /** Key suffix of a mixed-precision shader reading `inHalf` maps and writing `outHalf` ones. */
  const types = (inHalf: boolean, outHalf: boolean) =>
    mixed ? `.${inHalf ? "h" : "f"}${outHalf ? "h" : "f"}` : "";
  const traced = fuseLayers(traceGraph(config, { batchNorm: false }));
  const { graph } = pruneTo(traced, [traced.probs[0]]);
  const shapes = graphShapes(graph, shape);
  const buffers: number[] = [];
  const steps: PlannedStep[] = [];
  const maps: PlannedMap[] = [];
  const alloc = (id: number, half = false): PlannedMap => {
    const s = shapes[id];
    const n = s.n * s.h * s.w * s.c;
    buffers.push(half ? Math.ceil(n / 2) : n);
    return { buf: buffers.length - 1, ...s, ...(half ? { half } : {}) };
  };
  const lower = (node: GraphNode): PlannedMap => {
    const ins = node.inputs.map((i) => maps[i]);
    switch (node.op) {
      case "input":
        return alloc(node.id);
      case "conv":
        if (node.role === "fuse") return fuse(node);
        if (ins.some((x) => x.buf < 0)) break; // reads an unfused concat
        return conv(node, ins[0], ins[1] ?? null);
      case "pool":
        return pool(ins[0], alloc(node.id, ins[0].half));
      case "resize":
        return resize(ins[0], ins[1]);
      case "concat":
        return { buf: -1, ...shapes[node.id] }; // no buffer: the fuse step reads its inputs
      case "sigmoid":
        if (graph.nodes[node.inputs[0]].role !== "fuse") break;
        return ins[0]; // the fuse shader applies it
    }
    throw new RangeError(
      `Cannot plan the engine: current node ${node.id} (${node.op}) has no lowering`,
    );
  };
  const conv = (node: GraphNode, a: PlannedMap, b: PlannedMap | null) => {
    const key = node.key!, co = node.channels, k = node.kernel ?? 3, dil = node.dilation ?? 1;
    const res = node.residual === undefined ? undefined : maps[node.residual];
    const c2 = b ? b.c : 0;
    const m = a.n * a.h * a.w;
    const inHalf = a.half ?? false;
    if (co === 1 && !b && !node.relu && !res && a.c % 4 === 0) {
      const out = alloc(node.id); // side maps stay f32
      steps.push({
        shader: `side${types(inHalf, false)}`,
        bindings: [out.buf, a.buf, `w:${key}.weight`, `w:${key}.bias`],
        uniforms: [m, a.h, a.w, a.c, k, dil, ((k - 1) / 2) * dil],
        workgroups: flatGroups(m),
      });
      return out;
    }
    // Mixed precision: convs write f16 but for one-channel (side) maps; the
    // vec4 shader reads f16 maps only, the scalar one inputs of one type (the
    // RGB input: f32) and a residual of its output's type.
    const outHalf = mixed && co !== 1;
    const out = alloc(node.id, outHalf);
    const allHalf = outHalf && inHalf && (!b || b.half === true) && (!res || res.half === true);
    const sameIn = !b || (b.half ?? false) === inHalf;
    if (mixed && (!sameIn || (res && (res.half ?? false) !== outHalf))) {
      throw new RangeError(
        `Cannot plan the engine in f16: current node ${node.id} mixes f16 and f32 inputs`,
      );
    }
    const quads = a.c % 4 === 0 && c2 % 4 === 0 && co % 4 === 0 && (!mixed || allHalf);
    const tm = quads ? tileRows : 64, tn = convTileN(co);
    const vecTypes = mixed ? (halfSums ? ".hh" : ".hw") : "";
    const filter = mixed && quads ? `h:${key}.weight` : `w:${key}.weight`;
    const kk = k * k * (a.c + c2), groups = Math.ceil(co / tn) * Math.ceil(m / tm);
    const [splits, chunk] = quads ? splitConvK(kk, groups, splitTarget) : [1, kk];
    const head = [m, a.h, a.w, a.c, c2, co, k, dil];
    if (splits > 1) {
      buffers.push(splits * m * co);
      const parts = buffers.length - 1;
      steps.push({
        shader: `convv${tm}x${tn}${unrolled ? "u" : ""}${wide}k${vecTypes}`,
        bindings: [parts, a.buf, b ? b.buf : a.buf, null, filter, null],
        uniforms: [...head, 0, 0, kk, ((k - 1) / 2) * dil, chunk],
        workgroups: [Math.ceil(co / tn), Math.ceil(m / tm), splits],
      });
      steps.push({
        shader: `splitsum${types(true, true)}`,
        bindings: [out.buf, parts, res ? res.buf : parts, `w:${key}.bias`],
        uniforms: [(m * co) / 4, co / 4, splits, node.relu ? 1 : 0, res ? 1 : 0],
        workgroups: flatGroups((m * co) / 4),
      });
      return out;
    }
    steps.push({
      shader: `conv${quads ? `v${tm}x` : ""}${tn}${
        (quads ? unrolled : scalarUnrolled(unrolled)) ? "u" : ""
      }${quads ? wide + vecTypes : types(inHalf, outHalf)}`,
      bindings: [
        out.buf,
        a.buf,
        b ? b.buf : a.buf,
        res ? res.buf : a.buf,
        filter,
        `w:${key}.bias`,
      ],
      uniforms: [...head, node.relu ? 1 : 0, res ? 1 : 0, kk, ((k - 1) / 2) * dil],
      workgroups: [Math.ceil(co / tn), Math.ceil(m / tm)],
    });
    return out;
  };
  const pool = (x: PlannedMap, out: PlannedMap): PlannedMap => {
    const size = out.n * out.h * out.w * out.c;
    steps.push({
      shader: `pool${types(x.half ?? false, x.half ?? false)}`,
      bindings: [out.buf, x.buf],
      uniforms: [size, x.h, x.w, x.c, out.h, out.w],
      workgroups: flatGroups(size),
    });
    return out;
  };
  const resize = (x: PlannedMap, like: PlannedMap): PlannedMap => {
    const oh = like.h, ow = like.w;
    if (x.h === oh && x.w === ow) return x;
    const size = x.n * oh * ow * x.c;
    const words = x.half ? Math.ceil(size / 2) : size;
    const out: PlannedMap = { ...x, h: oh, w: ow, buf: buffers.push(words) - 1 };
    steps.push({
      shader: `resize${types(x.half ?? false, x.half ?? false)}`,
      bindings: [out.buf, x.buf],
      uniforms: [size, x.h, x.w, x.c, oh, ow, Math.fround(x.h / oh), Math.fround(x.w / ow)],
      floats: [6, 7],
      workgroups: flatGroups(size),
    });
    return out;
  };
  const fuse = (node: GraphNode): PlannedMap => {
    const cat = graph.nodes[node.inputs[0]];
    const sides = cat.op === "concat" ? cat.inputs.map((i) => maps[i]) : [];
    if (sides.length !== 6 || node.kernel !== 1 || sides.some((s) => s.c !== 1 || s.half)) {
      throw new RangeError(`Cannot plan the engine: current value is ${sides.length} side outputs`);
    }
    const output = alloc(node.id);
    const size = output.n * output.h * output.w;
    steps.push({
      shader: "fuse",
      bindings: [output.buf, ...sides.map((s) => s.buf)],
      uniforms: [size, 0, 0, 0, 0, 0, 0, 0], // weights and bias: filled from out_conv by the engine
      floats: [1, 2, 3, 4, 5, 6, 7],
      workgroups: flatGroups(size),
    });
    return output;
  };
  for (const node of graph.nodes) maps.push(lower(node));
  return shareBuffers({ buffers, steps, output: maps[graph.probs[0]] });
}

/**
 * Lets activations share GPU buffers: a buffer is free again after the last
 * step that reads it, and a step's output takes the smallest free buffer
 * that fits (never one of its own inputs, never the input or the output).
 * Dispatches in one pass see each other's writes in order, so reuse needs no
 * copies. At 320, batch 8: lite 1,876 → 758 MiB, full 2,694 → 935 MiB.
 */
export function shareBuffers(plan: EnginePlan): EnginePlan {
  const lastUse = new Map<number, number>();
  plan.steps.forEach((step, i) => {
    for (const b of step.bindings) if (typeof b === "number") lastUse.set(b, i);
  });
  const keep = new Set([0, plan.output.buf]);
  const physical: number[] = [];
  const map = new Map<number, number>([[0, 0]]);
  physical.push(plan.buffers[0]);
  const free: number[] = []; // physical ids
  const steps = plan.steps.map((step, i) => {
    const out = step.bindings[0] as number;
    if (!map.has(out)) {
      const need = plan.buffers[out];
      let best = -1;
      if (!keep.has(out)) {
        for (const [j, id] of free.entries()) {
          if (physical[id] >= need && (best < 0 || physical[id] < physical[free[best]])) best = j;
        }
      }
      if (best >= 0) map.set(out, free.splice(best, 1)[0]);
      else map.set(out, physical.push(need) - 1);
    }
    const bindings = step.bindings.map((b) => typeof b === "number" ? map.get(b)! : b);
    for (const b of new Set(step.bindings)) {
      if (typeof b === "number" && lastUse.get(b) === i && !keep.has(b)) free.push(map.get(b)!);
    }
    return { ...step, bindings };
  });
  return { buffers: physical, steps, output: { ...plan.output, buf: map.get(plan.output.buf)! } };
}
