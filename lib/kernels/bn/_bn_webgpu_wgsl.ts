/**
 * WGSL sources of the fused train-mode BatchNorm + ReLU passes (run by
 * `bn_webgpu_kernels.ts`), with x viewed as `[R, C]` (R = N·H·W rows, C
 * channels) and the batch statistics packed as `[2, C]`: row 0 the batch
 * mean, row 1 the unbiased batch variance (what the running-stat update
 * reads; the normalisation divides it back by n/(n−1)).
 *
 * Folds are either sums (`vec2`: two per-channel sums) or Chan et al.'s
 * parallel merge of (count, mean, M2) triples (`vec3`), which with a count-1
 * item is Welford's update: numerically stable for large R and offset means,
 * with no cancellation-prone Σx² term.
 *
 * @module
 */
import { BN_EPS } from "../../net/config.ts";

/** Invocations per workgroup of every grid program. */
export const GROUP = 256;
const EPS = BN_EPS.toExponential();

/** A fold: WGSL accumulator type and the body of `u2Fold(a, b)` (a then b). */
export type Fold = readonly [string, string];

/**
 * A grid program (see `bn_webgpu_kernels.ts`): each row lane folds the
 * `item`s of its rows `r` into `s` with `fold`; then lanes 0…lanes−1 of
 * channel `c` are folded in that order and `write` stores `s` for chunk `p`.
 * `helpers`: extra WGSL functions.
 */
export function gridCode(grid: Fold, item: string, write: string, helpers = ""): string {
  const [ty, fold] = grid;
  return `var<workgroup> acc : array<${ty}, ${GROUP}>;${helpers}
fn u2Fold(a : ${ty}, b : ${ty}) -> ${ty} {
  ${fold}
}
fn main() {
  let li = i32(localIndex);
  let cw = uniforms.cw;
  let lanes = ${GROUP} / cw;
  let c = i32(workgroupId.x) * cw + li % cw;
  let p = i32(workgroupId.y);
  let r1 = min(p * uniforms.chunk + uniforms.chunk, uniforms.nRows);
  var s = ${ty}(0.0);
  if (li < lanes * cw && c < uniforms.nCh) {
    for (var r = p * uniforms.chunk + li / cw; r < r1; r += lanes) {
      s = u2Fold(s, ${item});
    }
  }
  acc[li] = s;
  workgroupBarrier();
  if (li < cw && c < uniforms.nCh) {
    s = acc[li];
    for (var j = 1; j < lanes; j++) {
      s = u2Fold(s, acc[j * cw + li]);
    }
    ${write}
  }
}`;
}

/** Two per-channel sums. */
export const SUM: Fold = ["vec2<f32>", "return a + b;"] as const;
/** Chan et al.'s merge of (count, mean, M2) `b` into `a`, in that order (Welford for count 1). */
export const CHAN: Fold = [
  "vec3<f32>",
  `if (b.x == 0.0) { return a; }
  let d = b.y - a.y;
  let f = b.x / (a.x + b.x);
  return vec3<f32>(a.x + b.x, a.y + d * f, a.z + b.z + d * d * a.x * f);`,
];

/** Packed stats `[2, C]`: row 0 the batch mean, row 1 the unbiased batch variance. */
const RSTD = `inverseSqrt(stats[uniforms.nCh + c] / uniforms.unbias + ${EPS})`;
/** Partial passes: inputs, fold, the item of row `r`, channel `c`, the 2 outputs, helpers. */
export const PARTIALS: Record<
  string,
  { inputs: string[]; grid: Fold; item: string; out: [string, string]; helpers?: string }
> = {
  // Welford's update per row, then Chan's merge of the lanes: the chunk's mean and M2.
  moments: {
    inputs: ["x"],
    grid: CHAN,
    item: "vec3<f32>(1.0, x[r * uniforms.nCh + c], 0.0)",
    out: ["s.y", "s.z"],
  },
  // Column sums of x (bias gradients of the recorded training step; Σx, 0).
  colsum: {
    inputs: ["x"],
    grid: SUM,
    item: "vec2<f32>(x[r * uniforms.nCh + c], 0.0)",
    out: ["s.x", "s.y"],
  },
  // g = dy·(y > 0): Σg and Σg·(x − mean).
  grad: {
    inputs: ["dy", "y", "x", "stats"],
    grid: SUM,
    item: "gradTerm(r * uniforms.nCh + c, c)",
    out: ["s.x", "s.y"],
    helpers: `
fn gradTerm(i : i32, c : i32) -> vec2<f32> {
  let g = select(0.0, dy[i], y[i] > 0.0);
  return vec2<f32>(g, g * (x[i] - stats[c]));
}`,
  },
};

/** Reduce passes over `[P, 2, C]` partials: fold, item of part `r`, extra inputs, output rows, code. */
export const REDUCES: Record<
  string,
  { grid: Fold; item?: string; inputs: string[]; rows: number; write: string }
> = {
  // Part r holds min(span, R − r·span) rows (the partial pass' chunks).
  stats: {
    grid: CHAN,
    item: "vec3<f32>(min(f32(uniforms.span), uniforms.count - f32(r * uniforms.span)), " +
      "part[2 * r * uniforms.nCh + c], part[(2 * r + 1) * uniforms.nCh + c])",
    inputs: [],
    rows: 2,
    write: `result[c] = s.y;
    result[uniforms.nCh + c] = max(s.z / uniforms.count, 0.0) * uniforms.unbias;`,
  },
  dbeta: { grid: SUM, inputs: [], rows: 1, write: "result[c] = s.x;" },
  // dγ at [0, C) and dβ at [span, span + C) of one range (the recorded step's
  // flat gradients, where bn.weight and bn.bias are adjacent segments).
  gradSums: {
    grid: SUM,
    inputs: ["stats"],
    rows: 2,
    write: `result[c] = s.y * ${RSTD};
    result[uniforms.span + c] = s.x;`,
  },
  dgamma: { grid: SUM, inputs: ["stats"], rows: 1, write: `result[c] = s.y * ${RSTD};` },
  // dx = a·g − c1 − (x − mean)·c2 with a = γ·rstd, c1 = a·Σg/R, c2 = a·rstd²·Σg(x − mean)/R.
  coef: {
    grid: SUM,
    inputs: ["stats", "gamma"],
    rows: 3,
    write: `let rstd = ${RSTD};
    let a = gamma[c] * rstd;
    result[c] = a;
    result[uniforms.nCh + c] = a * s.x / uniforms.count;
    result[2 * uniforms.nCh + c] = a * rstd * rstd * s.y / uniforms.count;`,
  },
};

/** Flat elementwise programs: inputs and the body for element `index` of channel `c`. */
export const FLAT: Record<string, { inputs: string[]; body: string }> = {
  normRelu: {
    inputs: ["x", "stats", "gamma", "beta"],
    body: `let s = gamma[c] * ${RSTD};
    result[index] = max((x[index] - stats[c]) * s + beta[c], 0.0);`,
  },
  // dx from dγ, dβ directly (the recorded step): a = γ·rstd,
  // dx = a·g − a·dβ/R − (x − mean)·a·rstd·dγ/R; sums as written by gradSums.
  dxSums: {
    inputs: ["dy", "y", "x", "stats", "gamma", "sums"],
    body: `let g = select(0.0, dy[index], y[index] > 0.0);
    let rstd = ${RSTD};
    let a = gamma[c] * rstd;
    result[index] = a * g - a * sums[uniforms.span + c] / uniforms.count -
      (x[index] - stats[c]) * (a * rstd * sums[c] / uniforms.count);`,
  },
  dx: {
    inputs: ["dy", "y", "x", "stats", "coef"],
    body: `let g = select(0.0, dy[index], y[index] > 0.0);
    let n = uniforms.nCh;
    result[index] = coef[c] * g - coef[n + c] - (x[index] - stats[c]) * coef[2 * n + c];`,
  },
};
