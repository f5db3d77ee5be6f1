/**
 * WGSL programs of the fused train-mode BatchNorm + ReLU (see
 * `_bn_webgpu.ts`), with x viewed as `[R, C]` (R = N·H·W rows, C channels).
 *
 * Channel sums are grid programs of 256 invocations: a workgroup covers a
 * tile of `cw` consecutive channels (consecutive invocations read consecutive
 * channels of one row, so reads coalesce) and `256 / cw` row lanes walking a
 * chunk of rows; the lanes' sums meet in workgroup memory and are added in a
 * fixed order (deterministic, no atomics). A partial pass writes `[P, K, C]`
 * (one row per chunk, K = 1 or 2 sums); a reduce pass sums those P rows with
 * the same program shape (one chunk) and writes a per-channel epilogue.
 * Elementwise passes are flat programs.
 *
 * @module
 */
import type { tf } from "../deps.ts";
import { runWgsl, type WgslUniform } from "./_webgpu.ts";
import { BN_EPS } from "./_ops.ts";

/** Invocations per workgroup of every program. */
const GROUP = 256;
/** Channel-tile width of the partial passes (256-byte row segments). */
const PARTIAL_TILE = 64;
/** Channel-tile width of the reduce passes: narrower, for more row lanes over P. */
const REDUCE_TILE = 16;
/** At most this many workgroups per partial pass (about one wave on a large GPU). */
export const MAX_PARTIAL_GROUPS = 1024;
/** A partial pass gives each row lane at least this many rows (when R allows). */
const MIN_ROWS_PER_LANE = 16;

const UNIFORMS = "nRows : i32, nCh : i32, cw : i32, chunk : i32, count : f32, unbias : f32,";
const EPS = BN_EPS.toExponential();

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

/** `term` sets `t0`, `t1` from row `r`, channel `c`, flat index `i`; `write` uses `s0`, `s1`, `c`, `p`. */
function sumCode(term: string, write: string): string {
  return `var<workgroup> acc : array<f32, ${2 * GROUP}>;
fn main() {
  let li = i32(localIndex);
  let cw = uniforms.cw;
  let lanes = ${GROUP} / cw;
  let lane = li % cw;
  let c = i32(workgroupId.x) * cw + lane;
  let p = i32(workgroupId.y);
  let r1 = min(p * uniforms.chunk + uniforms.chunk, uniforms.nRows);
  var s0 = 0.0;
  var s1 = 0.0;
  if (li < lanes * cw && c < uniforms.nCh) {
    for (var r = p * uniforms.chunk + li / cw; r < r1; r += lanes) {
      let i = r * uniforms.nCh + c;
      ${term}
      s0 += t0;
      s1 += t1;
    }
  }
  acc[li] = s0;
  acc[${GROUP} + li] = s1;
  workgroupBarrier();
  if (li < cw && c < uniforms.nCh) {
    s0 = 0.0;
    s1 = 0.0;
    for (var j = 0; j < lanes; j++) {
      s0 += acc[j * cw + li];
      s1 += acc[${GROUP} + j * cw + li];
    }
    ${write}
  }
}`;
}

/** Per-(row, channel) terms of the partial passes, by program. */
const TERMS: Record<string, { inputs: string[]; k: 1 | 2; term: string }> = {
  sum: { inputs: ["x"], k: 1, term: "let t0 = x[i]; let t1 = 0.0;" },
  dev: { inputs: ["x", "rough"], k: 2, term: "let t0 = x[i] - rough[c]; let t1 = t0 * t0;" },
  grad: {
    inputs: ["dy", "y", "x", "mean"],
    k: 2,
    term: "let t0 = select(0.0, dy[i], y[i] > 0.0); let t1 = t0 * (x[i] - mean[c]);",
  },
};

const RSTD = `inverseSqrt(vu[c] / uniforms.unbias + ${EPS})`;
/** Per-channel epilogues of the reduce passes: extra inputs, output rows, code. */
const EPILOGUES: Record<string, { inputs: string[]; rows: number; write: string }> = {
  rough: { inputs: [], rows: 1, write: "result[c] = s0 / uniforms.count;" },
  mean: { inputs: ["rough"], rows: 1, write: "result[c] = rough[c] + s0 / uniforms.count;" },
  varUnbiased: {
    inputs: [],
    rows: 1,
    write: `let m = s0 / uniforms.count;
    result[c] = max(s1 / uniforms.count - m * m, 0.0) * uniforms.unbias;`,
  },
  dbeta: { inputs: [], rows: 1, write: "result[c] = s0;" },
  dgamma: { inputs: ["vu"], rows: 1, write: `result[c] = s1 * ${RSTD};` },
  // dx = a·g − c1 − (x − mean)·c2 with a = γ·rstd, c1 = a·Σg/R, c2 = a·rstd²·Σg(x − mean)/R.
  coef: {
    inputs: ["vu", "gamma"],
    rows: 3,
    write: `let rstd = ${RSTD};
    let a = gamma[c] * rstd;
    result[c] = a;
    result[uniforms.nCh + c] = a * s0 / uniforms.count;
    result[2 * uniforms.nCh + c] = a * rstd * rstd * s1 / uniforms.count;`,
  },
};

/** Flat elementwise programs: inputs and the body for element `index` of channel `c`. */
const FLAT: Record<string, { inputs: string[]; body: string }> = {
  normRelu: {
    inputs: ["x", "mean", "vu", "gamma", "beta"],
    body: `let s = gamma[c] * ${RSTD};
    result[index] = max((x[index] - mean[c]) * s + beta[c], 0.0);`,
  },
  dx: {
    inputs: ["dy", "y", "x", "mean", "coef"],
    body: `let g = select(0.0, dy[index], y[index] > 0.0);
    let n = uniforms.nCh;
    result[index] = coef[c] * g - coef[n + c] - (x[index] - mean[c]) * coef[2 * n + c];`,
  },
};

function uniforms(rows: number, channels: number, pl: SumPlan, count: number): WgslUniform[] {
  const i32 = (v: number): WgslUniform => ({ type: "int32", data: [v] });
  const f32 = (v: number): WgslUniform => ({ type: "float32", data: [v] });
  return [
    i32(rows),
    i32(channels),
    i32(pl.cw),
    i32(pl.chunk),
    f32(count),
    f32(count / Math.max(count - 1, 1)),
  ];
}

/** Partial pass `name` over `[R, C]` inputs → `[P, K, C]`. */
export function runPartial(
  backend: unknown,
  name: keyof typeof TERMS,
  inputs: tf.TensorInfo[],
  rows: number,
  channels: number,
): tf.TensorInfo {
  const t = TERMS[name];
  const pl = partialPlan(rows, channels);
  const write = t.k === 1
    ? "result[p * uniforms.nCh + c] = s0;"
    : "result[2 * p * uniforms.nCh + c] = s0; result[(2 * p + 1) * uniforms.nCh + c] = s1;";
  return runWgsl(
    backend,
    {
      key: `u2netBnPartial_${name}`,
      outputShape: [pl.parts, t.k, channels],
      inputs: t.inputs,
      workgroupSize: [GROUP, 1, 1],
      dispatch: [pl.tiles, pl.parts, 1],
      uniforms: UNIFORMS,
      code: sumCode(t.term, write),
    },
    inputs,
    uniforms(rows, channels, pl, rows),
  );
}

/** Reduce pass: sums `part` `[P, K, C]` over P and writes epilogue `name` (R = `count`). */
export function runReduce(
  backend: unknown,
  name: keyof typeof EPILOGUES,
  part: tf.TensorInfo,
  extra: tf.TensorInfo[],
  count: number,
): tf.TensorInfo {
  const e = EPILOGUES[name];
  const [parts, k, channels] = part.shape;
  const pl = reducePlan(parts, channels);
  const term = k === 1
    ? "let t0 = part[i]; let t1 = 0.0;"
    : "let t0 = part[2 * r * uniforms.nCh + c]; let t1 = part[(2 * r + 1) * uniforms.nCh + c];";
  return runWgsl(
    backend,
    {
      key: `u2netBnReduce${k}_${name}`,
      outputShape: e.rows === 1 ? [channels] : [e.rows, channels],
      inputs: ["part", ...e.inputs],
      workgroupSize: [GROUP, 1, 1],
      dispatch: [pl.tiles, 1, 1],
      uniforms: UNIFORMS,
      code: sumCode(term, e.write),
    },
    [part, ...extra],
    uniforms(parts, channels, pl, count),
  );
}

/** Flat pass `name`: one invocation per element of the `[N, H, W, C]` output. */
export function runFlat(
  backend: unknown,
  name: keyof typeof FLAT,
  inputs: tf.TensorInfo[],
  shape: number[],
): tf.TensorInfo {
  const f = FLAT[name];
  const channels = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / channels;
  return runWgsl(
    backend,
    {
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
    inputs,
    uniforms(rows, channels, { cw: 1, tiles: 1, chunk: 1, parts: 1 }, rows),
  );
}
