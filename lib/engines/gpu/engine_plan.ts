/**
 * Plans the recorded inference engine: walks the folded U2-Net graph once
 * for a fixed input shape and returns every dispatch (shader, buffers,
 * uniforms, workgroups) and every buffer size. No GPU calls here.
 *
 * @module
 */
import { buildBlocks, type NetworkBlocks } from "../../net/state_dict.ts";
import type { U2NetConfig } from "../../net/config.ts";
import type { ConvLayerSpec } from "../../net/rsu.ts";
import { walkStages } from "../../net/graph_walk.ts";
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
}

/** One dispatch of the plan. */
export interface PlannedStep {
  /**
   * Shader: `conv<tn>`, `convv<tm>x<tn>` (each +`u`: unrolled; then +`k`: split K),
   * `side`, `pool`, `resize`, `fuse`, `splitsum`.
   */
  shader: string;
  /**
   * Buffer ids bound at 0, 1, …: the output first; `w:<key>` names a weight
   * buffer; `null`, a binding the shader does not declare.
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
  /** Sizes (in floats) of the activation buffers; 0 is the input. */
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
}

/**
 * Plans a folded network of `config` for an [n, h, w, 3] input (see
 * {@linkcode PlanEngineOptions}).
 */
export function planEngine(
  config: U2NetConfig,
  shape: readonly [number, number, number],
  { tileRows = 64, unrolled = true, splitTarget = 0 }: PlanEngineOptions = {},
): EnginePlan {
  const [n, h, w] = shape;
  const blocks: NetworkBlocks = buildBlocks(config);
  const buffers: number[] = [n * h * w * 3];
  const steps: PlannedStep[] = [];
  const alloc = (nn: number, hh: number, ww: number, c: number): PlannedMap => {
    buffers.push(nn * hh * ww * c);
    return { buf: buffers.length - 1, n: nn, h: hh, w: ww, c };
  };

  const conv = (
    key: string,
    a: PlannedMap,
    b: PlannedMap | null,
    co: number,
    o: { k?: number; dil?: number; relu?: boolean; res?: PlannedMap },
  ): PlannedMap => {
    const k = o.k ?? 3, dil = o.dil ?? 1;
    const out = alloc(a.n, a.h, a.w, co);
    const c2 = b ? b.c : 0;
    const m = a.n * a.h * a.w;
    if (co === 1 && !b && !o.relu && !o.res && a.c % 4 === 0) {
      steps.push({
        shader: "side",
        bindings: [out.buf, a.buf, `w:${key}.weight`, `w:${key}.bias`],
        uniforms: [m, a.h, a.w, a.c, k, dil, ((k - 1) / 2) * dil],
        workgroups: flatGroups(m),
      });
      return out;
    }
    const quads = a.c % 4 === 0 && c2 % 4 === 0 && co % 4 === 0;
    const tm = quads ? tileRows : 64, tn = convTileN(co);
    const kk = k * k * (a.c + c2), groups = Math.ceil(co / tn) * Math.ceil(m / tm);
    const [splits, chunk] = quads ? splitConvK(kk, groups, splitTarget) : [1, kk];
    if (splits > 1) {
      buffers.push(splits * m * co);
      const parts = buffers.length - 1;
      steps.push({
        shader: `convv${tm}x${tn}${unrolled ? "u" : ""}k`,
        bindings: [parts, a.buf, b ? b.buf : a.buf, null, `w:${key}.weight`, null],
        uniforms: [m, a.h, a.w, a.c, c2, co, k, dil, 0, 0, kk, ((k - 1) / 2) * dil, chunk],
        workgroups: [Math.ceil(co / tn), Math.ceil(m / tm), splits],
      });
      steps.push({
        shader: "splitsum",
        bindings: [out.buf, parts, o.res ? o.res.buf : parts, `w:${key}.bias`],
        uniforms: [(m * co) / 4, co / 4, splits, o.relu ? 1 : 0, o.res ? 1 : 0],
        workgroups: flatGroups((m * co) / 4),
      });
      return out;
    }
    steps.push({
      shader: `conv${quads ? `v${tm}x` : ""}${tn}${
        (quads ? unrolled : scalarUnrolled(unrolled)) ? "u" : ""
      }`,
      bindings: [
        out.buf,
        a.buf,
        b ? b.buf : a.buf,
        o.res ? o.res.buf : a.buf,
        `w:${key}.weight`,
        `w:${key}.bias`,
      ],
      uniforms: [
        m,
        a.h,
        a.w,
        a.c,
        c2,
        co,
        k,
        dil,
        o.relu ? 1 : 0,
        o.res ? 1 : 0,
        kk,
        ((k - 1) / 2) * dil,
      ],
      workgroups: [Math.ceil(co / tn), Math.ceil(m / tm)],
    });
    return out;
  };
  const pool = (x: PlannedMap): PlannedMap => {
    const oh = Math.ceil(x.h / 2), ow = Math.ceil(x.w / 2);
    const out = alloc(x.n, oh, ow, x.c);
    const size = x.n * oh * ow * x.c;
    steps.push({
      shader: "pool",
      bindings: [out.buf, x.buf],
      uniforms: [size, x.h, x.w, x.c, oh, ow],
      workgroups: flatGroups(size),
    });
    return out;
  };
  const resize = (x: PlannedMap, oh: number, ow: number): PlannedMap => {
    if (x.h === oh && x.w === ow) return x;
    const out = alloc(x.n, oh, ow, x.c);
    const size = x.n * oh * ow * x.c;
    steps.push({
      shader: "resize",
      bindings: [out.buf, x.buf],
      uniforms: [size, x.h, x.w, x.c, oh, ow, Math.fround(x.h / oh), Math.fround(x.w / ow)],
      floats: [6, 7],
      workgroups: flatGroups(size),
    });
    return out;
  };
  const layer = (spec: ConvLayerSpec, a: PlannedMap, b: PlannedMap | null, res?: PlannedMap) =>
    conv(`${spec.name}.conv`, a, b, spec.outCh, { dil: spec.dilation, relu: true, res });
  const dec = walkStages(blocks, { buf: 0, n, h, w, c: 3 }, {
    layer: (spec, a, b, res) => layer(spec, a, b ?? null, res),
    pool,
    resizeTo: (x, like) => resize(x, like.h, like.w),
  });
  const sides: PlannedMap[] = [];
  for (let k = 0; k < blocks.sideChannels.length; k++) {
    const s = conv(`side_modules.${k}`, dec.pop()!, null, 1, {});
    sides.unshift(resize(s, h, w));
  }
  if (sides.length !== 6) {
    throw new RangeError(`Cannot plan the engine: current value is ${sides.length} side outputs`);
  }
  const output = alloc(n, h, w, 1);
  const size = n * h * w;
  steps.push({
    shader: "fuse",
    bindings: [output.buf, ...sides.map((s) => s.buf)],
    uniforms: [size, 0, 0, 0, 0, 0, 0, 0], // weights and bias: filled from out_conv by the engine
    floats: [1, 2, 3, 4, 5, 6, 7],
    workgroups: flatGroups(size),
  });
  return shareBuffers({ buffers, steps, output });
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
