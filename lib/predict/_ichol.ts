/**
 * pymatting's thresholded incomplete Cholesky preconditioner (`ichol`,
 * discard threshold 1e-4, the diagonal keeping what is discarded, diagonal
 * shifts 0, 1e-4, ... when a pivot is not positive), ported from its numba
 * kernel: left-looking, columns in compressed sparse column form, the
 * columns that reach row j found through linked lists.
 *
 * @module
 */

import type { Steps } from "./_steps.ts";

const DISCARD = 1e-4;
const SHIFTS = [0, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1, 10, 100, 1e3, 1e4, 1e5];

/** A symmetric matrix's columns (row indices sorted), compressed sparse column form. */
export interface SparseColumns {
  n: number;
  /** Column j's entries are `[ptr[j], ptr[j + 1])`. */
  ptr: Int32Array;
  rows: Int32Array;
  values: Float64Array;
}

/**
 * The factor's columns, or why there is none (as pymatting's `ValueError`s):
 * no shift gives positive pivots, or the factor needs more than `maxNonZeros`
 * entries (pymatting's `max_nnz`, there 250 M).
 */
export function* ichol(A: SparseColumns, maxNonZeros: number): Steps<SparseColumns | string> {
  for (const shift of SHIFTS) {
    const L = yield* factor(A, shift, maxNonZeros);
    if (L !== undefined) return L;
  }
  return "no diagonal shift made the incomplete Cholesky factor positive definite";
}

/** One try at a shift: the factor, `undefined` at a non-positive pivot, or the size error. */
function* factor(
  A: SparseColumns,
  shift: number,
  maxNonZeros: number,
): Steps<SparseColumns | string | undefined> {
  const { n, ptr: Ap, rows: Ar, values: Av } = A;
  let cap = Math.max(16, Av.length * 2);
  let Lv = new Float64Array(cap), Lr = new Int32Array(cap);
  const Lp = new Int32Array(n + 1);
  const s = new Int32Array(n), t = new Int32Array(n), l = new Int32Array(n).fill(-1);
  const a = new Float64Array(n), used = new Uint8Array(n), c = new Int32Array(n);
  const d = new Float64Array(n).fill(shift);
  for (let j = 0; j < n; j++) {
    for (let idx = Ap[j]; idx < Ap[j + 1]; idx++) {
      if (Ar[idx] === j) d[j] += Av[idx], t[j] = idx + 1;
    }
  }
  let nnz = 0, cn = 0;
  for (let j = 0; j < n; j++) {
    if (j % 2048 === 0) yield;
    for (let idx = t[j]; idx < Ap[j + 1]; idx++) {
      const i = Ar[idx], v = Av[idx];
      if (v !== 0 && i > j) {
        a[i] += v;
        if (!used[i]) used[i] = 1, c[cn++] = i;
      }
    }
    let k = l[j];
    while (k !== -1) {
      let k0 = s[k];
      const k1 = Lp[k + 1], k2 = l[k], ljk = Lv[k0];
      k0++;
      if (k0 < k1) {
        s[k] = k0;
        const i0 = Lr[k0];
        l[k] = l[i0];
        l[i0] = k;
        for (let idx = k0; idx < k1; idx++) {
          const i = Lr[idx];
          a[i] -= Lv[idx] * ljk;
          if (!used[i]) used[i] = 1, c[cn++] = i;
        }
      }
      k = k2;
    }
    if (!(d[j] > 0)) return undefined;
    if (nnz + 1 + cn > maxNonZeros) {
      return `the incomplete Cholesky factor needs over ${maxNonZeros} entries`;
    }
    if (nnz + 1 + cn > cap) {
      cap = Math.min(maxNonZeros, Math.max(cap * 2, nnz + 1 + cn));
      const v2 = new Float64Array(cap), r2 = new Int32Array(cap);
      v2.set(Lv.subarray(0, nnz)), r2.set(Lr.subarray(0, nnz));
      Lv = v2, Lr = r2;
    }
    d[j] = Math.sqrt(d[j]);
    Lv[nnz] = d[j], Lr[nnz++] = j;
    s[j] = nnz;
    const col = c.subarray(0, cn).sort();
    for (const i of col) {
      const lij = a[i] / d[j];
      d[i] -= lij * lij;
      if (Math.abs(lij) > DISCARD && Math.abs(a[i]) > 0) Lv[nnz] = lij, Lr[nnz++] = i;
      a[i] = 0, used[i] = 0;
    }
    cn = 0;
    Lp[j + 1] = nnz;
    if (Lp[j] + 1 < Lp[j + 1]) {
      const i = Lr[Lp[j] + 1];
      l[j] = l[i];
      l[i] = j;
    }
  }
  return { n, ptr: Lp, rows: Lr.subarray(0, nnz), values: Lv.subarray(0, nnz) };
}

/** x ← (L·Lᵀ)⁻¹ x, in place. */
export function icholSolve(L: SparseColumns, x: Float64Array): void {
  const { n, ptr, rows, values } = L;
  for (let j = 0; j < n; j++) {
    const v = x[j] / values[ptr[j]];
    x[j] = v;
    for (let k = ptr[j] + 1; k < ptr[j + 1]; k++) x[rows[k]] -= values[k] * v;
  }
  for (let i = n - 1; i >= 0; i--) {
    let v = x[i];
    for (let k = ptr[i] + 1; k < ptr[i + 1]; k++) v -= values[k] * x[rows[k]];
    x[i] = v / values[ptr[i]];
  }
}
