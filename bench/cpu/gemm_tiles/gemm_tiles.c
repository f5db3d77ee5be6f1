/*
 * Register tiles for the Winograd GEMM of the CPU trainer (train_winograd.c
 * wg_tile), side by side in one wasm module: M = V·U for one Winograd point,
 * nt tiles x ci input channels x cop output channels. Every variant sums each
 * output's ci products in channel order with the same fused multiply-add, so
 * all give the same bits (gemm_tiles.ts checks it). Built by run.sh.
 *
 *   A    today's wg_tile: 6 tiles x 8 channels, 4 channels a step, the tile's
 *        4 channels loaded once and broadcast by shuffles
 *   A2   the same, one channel at a time (only 2 weight vectors live)
 *   A3   A2 with load-splat broadcasts instead of shuffles
 *   D    3 tiles x 8 channels (all 8 weight vectors fit in registers)
 *   C4   4 tiles x 12 channels, shuffles
 *   E43  weights pre-broadcast in memory (4 copies of each), tiles in lanes:
 *        4 channels x 3 tile quads, no broadcasts in the loop
 */
#include <wasm_simd128.h>
#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define SPL(p) wasm_v128_load32_splat(p)
#define MAC(acc, x, w) acc = wasm_f32x4_relaxed_madd(x, w, acc)
#define ZERO wasm_f32x4_splat(0.f)
#define LANE(x, i) wasm_i32x4_shuffle(x, x, i, i, i, i)
#define CAP (64 * 1024)

static float V[CAP], VT[CAP], U8[CAP], U12[CAP], UB[4 * CAP], M[CAP], MT[CAP], IN[2 * CAP];

/* Where the caller writes v [nt][ci] then u [ci][cop]; where M and Mᵀ are read. */
float* input(void) { return IN; }
float* output(void) { return M; }
float* output_t(void) { return MT; }

static inline __attribute__((always_inline)) v128_t lane(v128_t x, int l) {
  switch (l) {
    case 0: return LANE(x, 0);
    case 1: return LANE(x, 1);
    case 2: return LANE(x, 2);
    default: return LANE(x, 3);
  }
}

/* V [ci/4][nt][4] (wg_tile's), Vᵀ [ci][nt]; U in blocks of 8 and 12 channels; U pre-broadcast. */
void layout(int nt, int ci, int cop) {
  const float *v = IN, *u = IN + nt * ci;
  for (int t = 0; t < nt; t++)
    for (int c = 0; c < ci; c++) {
      V[(c / 4) * nt * 4 + t * 4 + c % 4] = v[t * ci + c];
      VT[c * nt + t] = v[t * ci + c];
    }
  for (int c = 0; c < ci; c++)
    for (int j = 0; j < cop; j++) {
      U8[(j / 8) * ci * 8 + c * 8 + j % 8] = u[c * cop + j];
      U12[(j / 12) * ci * 12 + c * 12 + j % 12] = u[c * cop + j];
      for (int l = 0; l < 4; l++) UB[(j / 4) * ci * 16 + c * 16 + (j % 4) * 4 + l] = u[c * cop + j];
    }
}

/* P tiles x 4·NV channels; X(p, l) gives the broadcast of tile p's channel c + l. */
#define TILE(NAME, P, NV, LANE_OUTER, X)                                                      \
  static inline __attribute__((always_inline)) void tile_##NAME(const float* u, int t0,      \
                                                                int ci, int nt, int cop,    \
                                                                int j0) {                   \
    v128_t acc[P][NV];                                                                      \
    for (int p = 0; p < P; p++)                                                             \
      for (int k = 0; k < NV; k++) acc[p][k] = ZERO;                                        \
    const float* v = V + t0 * 4;                                                            \
    for (int c = 0; c < ci; c += 4) {                                                       \
      if (LANE_OUTER) {                                                                     \
        for (int l = 0; l < 4; l++) {                                                       \
          v128_t w[NV];                                                                     \
          for (int k = 0; k < NV; k++) w[k] = LD(u + 4 * (NV * l + k));                     \
          for (int p = 0; p < P; p++) {                                                     \
            v128_t x = X;                                                                   \
            for (int k = 0; k < NV; k++) MAC(acc[p][k], x, w[k]);                           \
          }                                                                                 \
        }                                                                                   \
      } else {                                                                              \
        for (int p = 0; p < P; p++) {                                                       \
          v128_t x4 = LD(v + 4 * p);                                                        \
          for (int l = 0; l < 4; l++) {                                                     \
            v128_t x = lane(x4, l);                                                         \
            for (int k = 0; k < NV; k++) MAC(acc[p][k], x, LD(u + 4 * (NV * l + k)));       \
          }                                                                                 \
        }                                                                                   \
      }                                                                                     \
      u += 16 * NV;                                                                         \
      v += 4 * nt;                                                                          \
    }                                                                                       \
    for (int p = 0; p < P; p++)                                                             \
      for (int k = 0; k < NV; k++) ST(M + (t0 + p) * cop + j0 + 4 * k, acc[p][k]);          \
  }                                                                                         \
  void gemm_##NAME(int nt, int ci, int cop, int reps) {                                     \
    const float* ub = NV == 2 ? U8 : U12;                                                   \
    for (int r = 0; r < reps; r++)                                                          \
      for (int jb = 0; jb < cop / (4 * NV); jb++)                                           \
        for (int t0 = 0; t0 + P <= nt; t0 += P)                                             \
          tile_##NAME(ub + jb * ci * 4 * NV, t0, ci, nt, cop, jb * 4 * NV);                 \
  }

TILE(A, 6, 2, 0, ZERO)
TILE(A2, 6, 2, 1, lane(LD(v + 4 * p), l))
TILE(A3, 6, 2, 1, SPL(v + 4 * p + l))
TILE(D, 3, 2, 0, ZERO)
TILE(C4, 4, 3, 1, lane(LD(v + 4 * p), l))

/* Mᵀ [cop][nt]: 4 channels x 3 quads of tiles, weights pre-broadcast. */
static inline __attribute__((always_inline)) void tile_E43(const float* u, int t0, int ci,
                                                           int nt, int j0) {
  v128_t acc[4][3];
  for (int j = 0; j < 4; j++)
    for (int q = 0; q < 3; q++) acc[j][q] = ZERO;
  const float* v = VT + t0;
  for (int c = 0; c < ci; c++) {
    v128_t x0 = LD(v), x1 = LD(v + 4), x2 = LD(v + 8);
    for (int j = 0; j < 4; j++) {
      v128_t w = LD(u + 4 * j);
      MAC(acc[j][0], x0, w);
      MAC(acc[j][1], x1, w);
      MAC(acc[j][2], x2, w);
    }
    u += 16;
    v += nt;
  }
  for (int j = 0; j < 4; j++)
    for (int q = 0; q < 3; q++) ST(MT + (j0 + j) * nt + t0 + 4 * q, acc[j][q]);
}
void gemm_E43(int nt, int ci, int cop, int reps) {
  for (int r = 0; r < reps; r++)
    for (int jb = 0; jb < cop / 4; jb++)
      for (int t0 = 0; t0 + 12 <= nt; t0 += 12) tile_E43(UB + jb * ci * 16, t0, ci, nt, 4 * jb);
}

/* The FMA units' rate with no memory: 12 independent accumulators, n rounds. */
float peak(int n, float s) {
  v128_t a[12], x = wasm_f32x4_splat(s), w = wasm_f32x4_splat(0.999f);
  for (int i = 0; i < 12; i++) a[i] = wasm_f32x4_splat((float)i);
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < 12; i++) MAC(a[i], x, w);
    __asm__ volatile("" : "+r"(n));
  }
  v128_t sum = a[0];
  for (int i = 1; i < 12; i++) sum = wasm_f32x4_add(sum, a[i]);
  return wasm_f32x4_extract_lane(sum, 0);
}
