/**
 * Closed-form alpha matting (Levin et al. 2008) as pymatting's
 * `estimate_alpha_cf` runs it: the matting Laplacian of 3x3 windows (ε =
 * 1e-7; only windows that touch an unknown pixel, centred at least one
 * pixel inside the image), split into the unknown pixels' block L_U and the
 * rest R, and L_U·x = −R·[known is foreground] solved by preconditioned
 * conjugate gradients to ‖r‖ < 1e-7·‖b‖ within 10,000 iterations, with
 * pymatting's thresholded incomplete Cholesky as the preconditioner. Rows
 * live in 25 slots, the 5x5 neighbourhood: slot = (dy + 2)·5 + dx + 2.
 *
 * @module
 */

import { ichol, icholSolve, type SparseColumns } from "./_ichol.ts";
import type { Steps } from "./_steps.ts";

const EPSILON = 1e-7;
const RTOL = 1e-7;
const MAX_ITERATIONS = 10_000;

/** Limits of {@linkcode closedFormAlpha}'s memory. */
export interface SolveLimits {
  /** Most unknown pixels (about 350 bytes each, before the factor). */
  maxUnknown: number;
  /** Most entries of the incomplete Cholesky factor (12 bytes each). */
  maxFactorEntries: number;
}

/**
 * The alpha matte of `image` (8-bit grey, RGB or RGBA: the colour is
 * `value / 255`, grey counting as RGB) for `trimap` (0 known
 * background, 255 known foreground, anything else unknown), or, where
 * pymatting raises a `ValueError` (rembg then keeps its plain cut-out) or a
 * limit is passed, why not: no known background, no known foreground, a
 * right-hand side of zero (no unknown pixel, or none coupled to the
 * foreground), the factor's failure or size, or no convergence.
 */
export function* closedFormAlpha(
  image: { width: number; height: number; channels: number; data: Uint8Array },
  trimap: Uint8Array,
  limits: SolveLimits,
): Steps<Float64Array | string> {
  const n = image.width * image.height;
  let fg = 0, bg = 0;
  for (let i = 0; i < n; i++) trimap[i] === 255 ? fg++ : trimap[i] === 0 ? bg++ : 0;
  if (!bg) return "no sure background is left after the erosion";
  if (!fg) return "no sure foreground is left after the erosion";
  const index = new Int32Array(n).fill(-1); // pixel → unknown index
  let nU = 0;
  for (let i = 0; i < n; i++) if (trimap[i] !== 255 && trimap[i] !== 0) index[i] = nU++;
  if (nU > limits.maxUnknown) {
    return `${nU} pixels are unsure, over the limit of ${limits.maxUnknown}`;
  }
  const { A, b } = yield* linearSystem(image, trimap, index, nU);
  const x = new Float64Array(nU);
  const failed = yield* conjugateGradients(A, b, x, limits.maxFactorEntries);
  return failed ?? fill(trimap, index, x);
}

/**
 * L_U (compressed) and b = −R·m. The stencil rows it is built from are
 * dropped on return, before the solve allocates its factor.
 */
function* linearSystem(
  image: { width: number; height: number; channels: number; data: Uint8Array },
  trimap: Uint8Array,
  index: Int32Array,
  nU: number,
): Steps<{ A: SparseColumns; b: Float64Array }> {
  const { width: w, height: h } = image;
  const L = yield* laplacianRows(image, index, nU);
  // Neighbour table of the unknowns (−1: outside, or known) and b = −R·m.
  const nb = new Int32Array(nU * 25).fill(-1);
  const b = new Float64Array(nU);
  for (let y = 0, u = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (index[y * w + x] < 0) continue;
      let s = 0;
      for (let dy = -2; dy <= 2; dy++) {
        const yj = y + dy;
        if (yj < 0 || yj >= h) continue;
        for (let dx = -2; dx <= 2; dx++) {
          const xj = x + dx;
          if (xj < 0 || xj >= w) continue;
          const j = yj * w + xj, slot = (dy + 2) * 5 + dx + 2;
          if (index[j] >= 0) nb[u * 25 + slot] = index[j];
          else if (trimap[j] === 255) s += L[u * 25 + slot];
        }
      }
      b[u++] = -s;
    }
  }
  return { A: columns(L, nb), b };
}

/** The matting Laplacian's rows of the unknown pixels, 25 stencil slots each. */
function* laplacianRows(
  image: { width: number; height: number; channels: number; data: Uint8Array },
  index: Int32Array,
  nU: number,
): Steps<Float64Array> {
  const { width: w, height: h, channels: C, data } = image;
  const at = C === 1 ? [0, 0, 0] : [0, 1, 2]; // grey counts as RGB
  const rgb = (px: number, d: number) => data[px * C + at[d]] / 255;
  const L = new Float64Array(nU * 25);
  const c = new Float64Array(27), px = new Int32Array(9);
  for (let y = 1; y < h - 1; y++) {
    if (y % 16 === 0) yield;
    for (let x = 1; x < w - 1; x++) {
      let unknown = false;
      for (let k = 0; k < 9; k++) {
        px[k] = (y + ((k / 3) | 0) - 1) * w + x + (k % 3) - 1;
        if (index[px[k]] >= 0) unknown = true;
      }
      if (!unknown) continue;
      for (let d = 0; d < 3; d++) {
        let s = 0;
        for (let k = 0; k < 9; k++) s += rgb(px[k], d);
        for (let k = 0; k < 9; k++) c[k * 3 + d] = rgb(px[k], d) - s / 9;
      }
      let a00 = EPSILON, a01 = 0, a02 = 0, a11 = EPSILON, a12 = 0, a22 = EPSILON;
      for (let k = 0; k < 9; k++) {
        const r = c[k * 3], g = c[k * 3 + 1], bl = c[k * 3 + 2];
        a00 += r * r, a01 += r * g, a02 += r * bl, a11 += g * g, a12 += g * bl, a22 += bl * bl;
      }
      a00 /= 9, a01 /= 9, a02 /= 9, a11 /= 9, a12 /= 9, a22 /= 9;
      // pymatting's sign convention: det is minus the determinant, so m = inverse.
      const det = a00 * a12 * a12 + a01 * a01 * a22 + a02 * a02 * a11 - a00 * a11 * a22 -
        2 * a01 * a02 * a12;
      const inv = 1 / det;
      const m00 = (a12 * a12 - a11 * a22) * inv, m01 = (a01 * a22 - a02 * a12) * inv;
      const m02 = (a02 * a11 - a01 * a12) * inv, m11 = (a02 * a02 - a00 * a22) * inv;
      const m12 = (a00 * a12 - a01 * a02) * inv, m22 = (a01 * a01 - a00 * a11) * inv;
      for (let ki = 0; ki < 9; ki++) {
        const u = index[px[ki]];
        if (u < 0) continue; // only the unknown pixels' rows are needed
        const s = c[ki * 3], t = c[ki * 3 + 1], v = c[ki * 3 + 2];
        const c0 = m00 * s + m01 * t + m02 * v, c1 = m01 * s + m11 * t + m12 * v;
        const c2 = m02 * s + m12 * t + m22 * v;
        const yi = (ki / 3) | 0, xi = ki % 3;
        for (let kj = 0; kj < 9; kj++) {
          const temp = c0 * c[kj * 3] + c1 * c[kj * 3 + 1] + c2 * c[kj * 3 + 2];
          const value = (ki === kj ? 1 : 0) - (1 + temp) / 9;
          const slot = (((kj / 3) | 0) - yi + 2) * 5 + (kj % 3) - xi + 2;
          L[u * 25 + slot] += value;
        }
      }
    }
  }
  return L;
}

/** out = L_U·p, row by row in column order (symmetric: its columns are its rows), as scipy's CSR. */
function multiply(A: SparseColumns, p: Float64Array, out: Float64Array): void {
  const { ptr, rows, values } = A;
  for (let u = 0; u < p.length; u++) {
    let s = 0;
    for (let k = ptr[u], e = ptr[u + 1]; k < e; k++) s += values[k] * p[rows[k]];
    out[u] = s;
  }
}

/** L_U in compressed sparse columns (symmetric: column u is row u), rows sorted. */
function columns(L: Float64Array, nb: Int32Array): SparseColumns {
  const n = nb.length / 25;
  const ptr = new Int32Array(n + 1);
  for (let u = 0; u < n; u++) {
    let k = 0;
    for (let slot = 0; slot < 25; slot++) if (nb[u * 25 + slot] >= 0) k++;
    ptr[u + 1] = ptr[u] + k;
  }
  const rows = new Int32Array(ptr[n]), values = new Float64Array(ptr[n]);
  const order: number[] = [];
  for (let u = 0; u < n; u++) {
    order.length = 0;
    for (let slot = 0; slot < 25; slot++) if (nb[u * 25 + slot] >= 0) order.push(slot);
    order.sort((p, q) => nb[u * 25 + p] - nb[u * 25 + q]); // narrow images reorder the stencil
    order.forEach((slot, k) => {
      rows[ptr[u] + k] = nb[u * 25 + slot];
      values[ptr[u] + k] = L[u * 25 + slot];
    });
  }
  return { n, ptr, rows, values };
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** pymatting's `cg` (x from zero), in place; why it fails, where pymatting would raise. */
function* conjugateGradients(
  A: SparseColumns,
  b: Float64Array,
  x: Float64Array,
  maxFactorEntries: number,
): Steps<string | undefined> {
  const nU = b.length;
  const normB = Math.sqrt(dot(b, b));
  // pymatting divides 0 by 0 there and never converges.
  if (!(normB > 0)) return "no unsure pixel touches the sure foreground";
  const M = yield* ichol(A, maxFactorEntries);
  if (typeof M === "string") return M;
  const r = Float64Array.from(b), Ap = new Float64Array(nU);
  const z = Float64Array.from(r);
  icholSolve(M, z);
  const p = Float64Array.from(z);
  let rz = dot(r, z);
  for (let it = 0; it < MAX_ITERATIONS; it++) {
    yield;
    multiply(A, p, Ap);
    const alpha = rz / dot(p, Ap);
    for (let i = 0; i < nU; i++) x[i] += alpha * p[i], r[i] -= alpha * Ap[i];
    if (Math.sqrt(dot(r, r)) < RTOL * normB) return undefined;
    z.set(r);
    icholSolve(M, z);
    const next = dot(r, z), beta = next / rz;
    rz = next;
    for (let i = 0; i < nU; i++) p[i] = z[i] + beta * p[i];
  }
  return `the solve did not converge in ${MAX_ITERATIONS} iterations`;
}

/** The matte: the trimap's known values, the solution on the unknowns, clipped to 0..1. */
function fill(trimap: Uint8Array, index: Int32Array, x: Float64Array): Float64Array {
  const alpha = new Float64Array(trimap.length);
  for (let i = 0; i < trimap.length; i++) {
    const v = index[i] >= 0 ? x[index[i]] : trimap[i] / 255;
    alpha[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return alpha;
}
