/**
 * The host math of the CPU training step (`cpu_trainer.ts`) that is not a
 * kernel: channel concat and split, the criterion (sum over the logit maps
 * of the mean BCE with logits, `lib/train/loss.ts`) and its gradient, the
 * BN running-stat update and AdamW's update in `lib/optim/adamw.ts`'s
 * float32 order.
 *
 * @module
 */

/** A concat part: its map and channels. */
export interface ConcatPart {
  map: Float32Array;
  c: number;
}

/** `out[p, :] = part0[p, :] ‖ part1[p, :] ‖ …` over `p` pixels of `c` channels in all. */
export function concatForward(
  out: Float32Array,
  parts: readonly ConcatPart[],
  p: number,
  c: number,
): void {
  let off = 0;
  for (const { map, c: pc } of parts) {
    for (let i = 0; i < p; i++) {
      for (let j = 0; j < pc; j++) out[i * c + off + j] = map[i * pc + j];
    }
    off += pc;
  }
}

/** `dx[p, j] = dy[p, off + j]` for `j < pc` (one part's share of a concat's gradient). */
export function concatBackward(
  dx: Float32Array,
  dy: Float32Array,
  off: number,
  pc: number,
  p: number,
  c: number,
): void {
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < pc; j++) dx[i * pc + j] = dy[i * c + off + j];
  }
}

/**
 * The criterion: `Σ_k mean(bce(logits[k], mask))` with PyTorch's stable
 * BCE with logits `(1 − y)·x + m + log(exp(−m) + exp(−x − m))`,
 * `m = max(−x, 0)` (sums in float64).
 */
export function bceLoss(logits: readonly Float32Array[], mask: Float32Array): number {
  const count = mask.length;
  let total = 0;
  for (const x of logits) {
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const v = x[i], y = mask[i], m = v < 0 ? -v : 0;
      sum += (1 - y) * v + m + Math.log(Math.exp(-m) + Math.exp(-v - m));
    }
    total += sum / count;
  }
  return total;
}

/** A mean BCE term's gradient: `g[i] = (sigmoid(x[i]) − y[i]) / count`. */
export function bceGrad(g: Float32Array, x: Float32Array, mask: Float32Array): void {
  const count = mask.length;
  for (let i = 0; i < count; i++) g[i] = (1 / (1 + Math.exp(-x[i])) - mask[i]) / count;
}

/** PyTorch's running-stat update in float32: `r ← r·(1 − m) + s·m`. */
export function runningUpdate(r: Float32Array, s: Float32Array, momentum: number): void {
  const f = Math.fround, keep = f(1 - momentum), take = f(momentum);
  for (let i = 0; i < r.length; i++) r[i] = f(r[i] * keep) + f(s[i] * take);
}

/** The scalars of one AdamW step of a group (float64, as `AdamW` computes them). */
export interface AdamWScalars {
  /** Learning rate. */
  lr: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** β1, β2. */
  betas: readonly [number, number];
  /** ε. */
  eps: number;
}

/** The float32 constants of one AdamW step `t` (from 1), as `AdamW`'s tfjs ops round them. */
export interface AdamWStepConstants {
  /** `1 − lr·weightDecay`: the decoupled weight decay's factor. */
  decay: number;
  /** `lr / (1 − β1^t)`. */
  stepSize: number;
  /** `√(1 − β2^t)`. */
  bc2: number;
  /** β1. */
  b1: number;
  /** β2. */
  b2: number;
  /** `1 − β1`. */
  c1: number;
  /** `1 − β2`. */
  c2: number;
  /** ε. */
  eps: number;
}

/**
 * The constants of AdamW step `t` (from 1) of a group with scalars `s`.
 *
 * @example
 * ```ts
 * const c = adamwConstants({ lr: 1e-3, weightDecay: 1e-4, betas: [0.9, 0.999], eps: 1e-8 }, 1);
 * console.log(c.stepSize); // ≈ 0.01 (1e-3 / (1 - 0.9))
 * ```
 */
export function adamwConstants(s: AdamWScalars, t: number): AdamWStepConstants {
  const f = Math.fround;
  const [b1, b2] = s.betas;
  return {
    decay: f(1 - s.lr * s.weightDecay),
    stepSize: f(s.lr / (1 - b1 ** t)),
    bc2: f(Math.sqrt(1 - b2 ** t)),
    b1: f(b1),
    b2: f(b2),
    c1: f(1 - b1),
    c2: f(1 - b2),
    eps: f(s.eps),
  };
}

/**
 * One AdamW step on `p` with gradient `g` and moments `m`, `v`, with the
 * float32 rounding of `AdamW`'s tfjs ops (decay, moments,
 * `denom = sqrt(v)/sqrt(1 − β2^t) + eps`, `p ← decayed − m·stepSize/denom`).
 */
export function adamwUpdate(
  p: Float32Array,
  g: Float32Array,
  mv: { m: Float32Array; v: Float32Array },
  k: AdamWStepConstants,
): void {
  const f = Math.fround;
  const { decay, stepSize, bc2, b1, b2, c1, c2, eps } = k;
  const { m, v } = mv;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const decayed = f(p[i] * decay);
    const mi = f(f(m[i] * b1) + f(gi * c1));
    const vi = f(f(v[i] * b2) + f(f(gi * gi) * c2));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(f(Math.sqrt(vi)) / bc2) + eps);
    p[i] = f(decayed - f(f(mi * stepSize) / denom));
  }
}
