/**
 * Weight layouts of the CPU engine's kernels (`_wasm/cpu_engine.c`), from
 * HWIO conv weights `[k, k, ci, co]`.
 *
 * @module
 */

/** Output channels rounded up to the kernels' blocks of 8. */
export function padTo8(co: number): number {
  return Math.ceil(co / 8) * 8;
}

/** Direct conv weights: `[ceil(co/8)][k*k][ci][8]`, zero past `co`. */
export function packDirect(w: Float32Array, k: number, ci: number, co: number): Float32Array {
  const ncob = Math.ceil(co / 8), taps = k * k;
  const out = new Float32Array(ncob * taps * ci * 8);
  for (let cob = 0; cob < ncob; cob++) {
    for (let t = 0; t < taps; t++) {
      for (let c = 0; c < ci; c++) {
        const dst = ((cob * taps + t) * ci + c) * 8, src = (t * ci + c) * co + cob * 8;
        for (let j = 0; j < 8 && cob * 8 + j < co; j++) out[dst + j] = w[src + j];
      }
    }
  }
  return out;
}

/** The bias zero-padded to a multiple of 8. */
export function padBias(b: Float32Array): Float32Array {
  const out = new Float32Array(padTo8(b.length));
  out.set(b);
  return out;
}

/** G of Winograd F(m x m, 3x3) by output tile m (2: points 0, ±1; 4: points 0, ±1, ±2). */
const WINOGRAD_G: Record<2 | 4, number[][]> = {
  2: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  4: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
};

/**
 * Winograd F(m x m, 3x3) weights U = G g Gᵀ of a 3x3 conv, packed
 * `[(m+2)²][ceil(co/8)][ci][8]` (computed in float64, rounded once).
 */
export function packWinograd(w: Float32Array, ci: number, co: number, m: 2 | 4): Float32Array {
  const G = WINOGRAD_G[m], n = m + 2, ncob = Math.ceil(co / 8);
  const out = new Float32Array(n * n * ncob * ci * 8);
  const g = new Float64Array(9), t = new Float64Array(n * 3);
  for (let c = 0; c < ci; c++) {
    for (let o = 0; o < co; o++) {
      for (let i = 0; i < 9; i++) g[i] = w[(i * ci + c) * co + o];
      for (let r = 0; r < n; r++) { // t = G g (n x 3)
        for (let j = 0; j < 3; j++) {
          t[r * 3 + j] = G[r][0] * g[j] + G[r][1] * g[3 + j] + G[r][2] * g[6 + j];
        }
      }
      const cob = Math.floor(o / 8);
      for (let r = 0; r < n; r++) { // U = t Gᵀ (n x n)
        for (let s = 0; s < n; s++) {
          const u = t[r * 3] * G[s][0] + t[r * 3 + 1] * G[s][1] + t[r * 3 + 2] * G[s][2];
          out[(((r * n + s) * ncob + cob) * ci + c) * 8 + (o % 8)] = u;
        }
      }
    }
  }
  return out;
}
