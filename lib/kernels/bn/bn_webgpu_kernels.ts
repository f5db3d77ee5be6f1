/**
 * Runners of the fused train-mode BatchNorm + ReLU passes (see
 * `bn_webgpu.ts`; WGSL in `_bn_webgpu_wgsl.ts`), with x viewed as `[R, C]`
 * (R = N·H·W rows, C channels).
 *
 * Per-channel folds are grid programs of 256 invocations: a workgroup covers
 * a tile of `cw` consecutive channels (consecutive invocations read
 * consecutive channels of one row, so reads coalesce) and `256 / cw` row
 * lanes walking a chunk of rows; the lanes' results meet in workgroup memory
 * and are folded in a fixed order (deterministic, no atomics). A partial pass
 * writes `[P, 2, C]` (one pair per chunk: two sums, or the chunk's mean and
 * M2); a reduce pass folds those P pairs with the same program shape (one
 * chunk) and writes a per-channel epilogue. Elementwise passes are flat
 * programs.
 *
 * @module
 */
import type { tf } from "../../deps.ts";
import { f32, i32, runCall, type WgslCall, type WgslUniform } from "../webgpu.ts";
import { FLAT, gridCode, GROUP, PARTIALS, REDUCES } from "./_bn_webgpu_wgsl.ts";

/** Channel-tile width of the partial passes (256-byte row segments). */
const PARTIAL_TILE = 64;
/** Channel-tile width of the reduce passes: narrower, for more row lanes over P. */
const REDUCE_TILE = 16;
/** At most this many workgroups per partial pass (about one wave on a large GPU). */
export const MAX_PARTIAL_GROUPS = 1024;
/** A partial pass gives each row lane at least this many rows (when R allows). */
const MIN_ROWS_PER_LANE = 16;

const UNIFORMS =
  "nRows : i32, nCh : i32, cw : i32, chunk : i32, span : i32, count : f32, unbias : f32,";

/** How a sum pass splits `rows × channels`. */
export interface SumPlan {
  /** Channel-tile width. */
  cw: number;
  /** Channel tiles (workgroups along x). */
  tiles: number;
  /** Rows per chunk. */
  chunk: number;
  /** Chunks P (workgroups along y). */
  parts: number;
}

/** The split of a partial pass: P chunks so that tiles·P ≤ MAX_PARTIAL_GROUPS. */
export function partialPlan(rows: number, channels: number): SumPlan {
  const cw = Math.min(channels, PARTIAL_TILE);
  const tiles = Math.ceil(channels / cw);
  const lanes = Math.floor(GROUP / cw);
  const maxParts = Math.max(1, Math.floor(MAX_PARTIAL_GROUPS / tiles));
  const wanted = Math.ceil(rows / (lanes * MIN_ROWS_PER_LANE));
  const chunk = Math.ceil(rows / Math.max(1, Math.min(maxParts, wanted)));
  return { cw, tiles, chunk, parts: Math.ceil(rows / chunk) };
}

function reducePlan(parts: number, channels: number): SumPlan {
  const cw = Math.min(channels, REDUCE_TILE);
  return { cw, tiles: Math.ceil(channels / cw), chunk: parts, parts: 1 };
}

function uniforms(
  rows: number,
  channels: number,
  pl: SumPlan,
  count: number,
  span = 0,
): WgslUniform[] {
  return [
    i32(rows),
    i32(channels),
    i32(pl.cw),
    i32(pl.chunk),
    i32(span),
    f32(count),
    f32(count / Math.max(count - 1, 1)),
  ];
}

/** Partial pass `name` over `[R, C]` inputs → `[P, 2, C]` (P chunks of `partialPlan`). */
export function partialCall(
  name: keyof typeof PARTIALS,
  rows: number,
  channels: number,
): WgslCall {
  const t = PARTIALS[name];
  const pl = partialPlan(rows, channels);
  const [a, b] = t.out;
  return {
    spec: {
      key: `u2netBnPartial_${name}`,
      outputShape: [pl.parts, 2, channels],
      inputs: t.inputs,
      workgroupSize: [GROUP, 1, 1],
      dispatch: [pl.tiles, pl.parts, 1],
      uniforms: UNIFORMS,
      code: gridCode(
        t.grid,
        t.item,
        `result[2 * p * uniforms.nCh + c] = ${a}; result[(2 * p + 1) * uniforms.nCh + c] = ${b};`,
        t.helpers,
      ),
    },
    uniforms: uniforms(rows, channels, pl, rows),
  };
}

/** Runs {@linkcode partialCall} on tfjs. */
export function runPartial(
  backend: unknown,
  name: keyof typeof PARTIALS,
  inputs: tf.TensorInfo[],
  rows: number,
  channels: number,
): tf.TensorInfo {
  return runCall(backend, partialCall(name, rows, channels), inputs);
}

/**
 * Reduce pass: folds partials `[P, 2, C]` over P and writes epilogue `name`
 * (R = `count` rows in all, in the chunks of `partialPlan(R, C)`).
 */
export function reduceCall(
  name: keyof typeof REDUCES,
  parts: number,
  channels: number,
  count: number,
  span = partialPlan(count, channels).chunk,
): WgslCall {
  const e = REDUCES[name];
  const pl = reducePlan(parts, channels);
  const item = e.item ??
    "vec2<f32>(part[2 * r * uniforms.nCh + c], part[(2 * r + 1) * uniforms.nCh + c])";
  return {
    spec: {
      key: `u2netBnReduce_${name}`,
      outputShape: e.rows === 1 ? [channels] : [e.rows, channels],
      inputs: ["part", ...e.inputs],
      workgroupSize: [GROUP, 1, 1],
      dispatch: [pl.tiles, 1, 1],
      uniforms: UNIFORMS,
      code: gridCode(e.grid, item, e.write),
    },
    uniforms: uniforms(parts, channels, pl, count, span),
  };
}

/** Runs {@linkcode reduceCall} on tfjs over `part` `[P, 2, C]` and `extra` inputs. */
export function runReduce(
  backend: unknown,
  name: keyof typeof REDUCES,
  part: tf.TensorInfo,
  extra: tf.TensorInfo[],
  count: number,
): tf.TensorInfo {
  const [parts, , channels] = part.shape;
  return runCall(backend, reduceCall(name, parts, channels, count), [part, ...extra]);
}

/**
 * Flat pass `name`: one invocation per element of the `[N, H, W, C]` output
 * (`span`: the offset uniform of `dxSums`).
 */
export function flatCall(name: keyof typeof FLAT, shape: number[], span = 0): WgslCall {
  const f = FLAT[name];
  const channels = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / channels;
  return {
    spec: {
      key: `u2netBnFlat_${name}`,
      outputShape: shape,
      inputs: f.inputs,
      workgroupSize: [GROUP, 1, 1],
      uniforms: UNIFORMS,
      code: `fn main(index : i32) {
  if (index < uniforms.size) {
    let c = index % uniforms.nCh;
    ${f.body}
  }
}`,
    },
    uniforms: uniforms(rows, channels, { cw: 1, tiles: 1, chunk: 1, parts: 1 }, rows, span),
  };
}

/** Runs {@linkcode flatCall} on tfjs. */
export function runFlat(
  backend: unknown,
  name: keyof typeof FLAT,
  inputs: tf.TensorInfo[],
  shape: number[],
): tf.TensorInfo {
  return runCall(backend, flatCall(name, shape), inputs);
}
