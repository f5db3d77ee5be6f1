/*
 * U2-Net's CPU inference kernels (wasm SIMD128), driven by cpu_engine.ts.
 * Maps are NHWC float32 for one image. Build: ./build.sh (clang-19 + wasm-ld),
 * twice: plain, mul + add throughout, so that results do not depend on the
 * CPU; and with -mrelaxed-simd -DU2_FMA, where the convs' multiply-adds
 * (MAC) are relaxed SIMD's madd, fused on CPUs with FMA (results then
 * depend on the CPU, never on the thread count). Every kernel does part
 * `part` of `parts` of its work (rows or Winograd blocks), so that threads
 * sharing the memory can split a call; each thread has its own stack and
 * scratch.
 */
#include <wasm_simd128.h>

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define SPL(p) wasm_v128_load32_splat(p)
/* The lane i of x in every lane. */
#define LANE(x, i) wasm_i32x4_shuffle(x, x, i, i, i, i)
/* acc[0..1] += Σ_l x4[l] · w[8l .. 8l+8) for the 4 lanes l in order: one
 * load of 4 channels broadcast by shuffles (gemm_tile, direct_taps). */
#define MAC4X8(acc, x4_, w)                                                 \
  do {                                                                      \
    v128_t x_ = (x4_);                                                      \
    v128_t l0_ = LANE(x_, 0), l1_ = LANE(x_, 1), l2_ = LANE(x_, 2), l3_ = LANE(x_, 3); \
    MAC((acc)[0], l0_, LD(w));                                              \
    MAC((acc)[1], l0_, LD((w) + 4));                                        \
    MAC((acc)[0], l1_, LD((w) + 8));                                        \
    MAC((acc)[1], l1_, LD((w) + 12));                                       \
    MAC((acc)[0], l2_, LD((w) + 16));                                       \
    MAC((acc)[1], l2_, LD((w) + 20));                                       \
    MAC((acc)[0], l3_, LD((w) + 24));                                       \
    MAC((acc)[1], l3_, LD((w) + 28));                                       \
  } while (0)
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul
/* MADD(a, b, c) = a·b + c, NMADD(a, b, c) = c - a·b: fused in the FMA build,
 * else exactly the mul + add (sub) they replace. */
#ifdef U2_FMA
#define MADD wasm_f32x4_relaxed_madd
#define NMADD wasm_f32x4_relaxed_nmadd
#else
#define MADD(a, b, c) ADD(c, MUL(a, b))
#define NMADD(a, b, c) SUB(c, MUL(a, b))
#endif
#define MAC(acc, x, w) acc = MADD(x, w, acc)
#define PX 4
/* Floats between the Winograd points' blocks in the scratch, so that the
 * 16 or 36 rows a transform touches do not share cache sets (the blocks'
 * sizes are often powers of two). */
#define PAD 16

static float zeros[8192] __attribute__((aligned(16)));
extern unsigned char __heap_base;

/** First free byte after the module's own data. */
__attribute__((export_name("heap_base"))) int heap_base(void) { return (int)&__heap_base; }

/* Rows [*lo, *hi) of part `part` of `parts` of n rows. */
static void share(int n, int part, int parts, int* lo, int* hi) {
  *lo = (int)((long)n * part / parts);
  *hi = (int)((long)n * (part + 1) / parts);
}

static v128_t finish(v128_t r, int relu) {
  return relu ? wasm_f32x4_max(r, wasm_f32x4_splat(0.f)) : r;
}

/* Stores 8 channels of one pixel: bias was the accumulators' start. */
static void store8(float* out, const float* res, long o, v128_t r0, v128_t r1, int nco, int relu) {
  r0 = finish(r0, relu);
  r1 = finish(r1, relu);
  if (nco == 8) {
    if (res) { r0 = ADD(r0, LD(res + o)); r1 = ADD(r1, LD(res + o + 4)); }
    ST(out + o, r0);
    ST(out + o + 4, r1);
    return;
  }
  float t[8] __attribute__((aligned(16)));
  ST(t, r0);
  ST(t + 4, r1);
  for (int j = 0; j < nco; j++) out[o + j] = t[j] + (res ? res[o + j] : 0.f);
}

/*
 * acc[p] += Σ_c src[p][c] · w[c][0..8) for the PX pixels, over n channels;
 * returns the weights past them.
 */
static inline const float* direct_taps(v128_t acc[PX][2], const float* const* src, int n,
                                       const float* w) {
  int c = 0;
  for (; c + 4 <= n; c += 4) { /* 4 channels a load, broadcast by shuffles (see gemm_tile) */
    for (int p = 0; p < PX; p++) {
      MAC4X8(acc[p], LD(src[p] + c), w);
    }
    w += 32;
  }
  for (; c < n; c++) {
    v128_t w0 = LD(w), w1 = LD(w + 4);
    w += 8;
    for (int p = 0; p < PX; p++) {
      v128_t xv = SPL(src[p] + c);
      MAC(acc[p][0], xv, w0);
      MAC(acc[p][1], xv, w1);
    }
  }
  return w;
}

/*
 * Direct conv: out = relu?(conv(a ‖ b) + bias) (+ res). Weights packed
 * [ceil(co/8)][k*k][ca+cb][8], bias padded to a multiple of 8.
 */
__attribute__((export_name("conv_direct")))
void conv_direct(float* out, const float* a, const float* b, const float* res, const float* wp,
                 const float* bias, int H, int W, int ca, int cb, int co, int k, int dil,
                 int relu, int pad, int part, int parts) {
  int ci = ca + cb, taps = k * k, y_lo, y_hi;
  share(H, part, parts, &y_lo, &y_hi);
  for (int cob = 0; cob < co; cob += 8) {
    const float* wb = wp + (long)(cob / 8) * taps * ci * 8;
    v128_t b0 = LD(bias + cob), b1 = LD(bias + cob + 4);
    int nco = co - cob < 8 ? co - cob : 8;
    for (int y = y_lo; y < y_hi; y++) {
      for (int x0 = 0; x0 < W; x0 += PX) {
        int np = W - x0 < PX ? W - x0 : PX;
        v128_t acc[PX][2];
        for (int p = 0; p < PX; p++) { acc[p][0] = b0; acc[p][1] = b1; }
        for (int ky = 0; ky < k; ky++) {
          int iy = y + ky * dil - pad;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < k; kx++) {
            const float* w = wb + (ky * k + kx) * ci * 8;
            const float* pa[PX];
            const float* pb[PX];
            for (int p = 0; p < PX; p++) {
              int ix = x0 + p + kx * dil - pad;
              int ok = p < np && ix >= 0 && ix < W;
              long off = (long)iy * W + ix;
              pa[p] = ok ? a + off * ca : zeros;
              pb[p] = ok ? b + off * cb : zeros;
            }
            w = direct_taps(acc, pa, ca, w);
            direct_taps(acc, pb, cb, w);
          }
        }
        for (int p = 0; p < np; p++) {
          store8(out, res, ((long)y * W + x0 + p) * co + cob, acc[p][0], acc[p][1], nco, relu);
        }
      }
    }
  }
}

/*
 * A conv to one channel (the side outputs): weights [k*k][c], c a multiple
 * of 4; bias[0]. PX pixels at a time, each its own accumulator (chains of
 * multiply-adds that do not wait on each other), summed in the same order
 * as one pixel alone; a tap outside the map reads zeros.
 */
__attribute__((export_name("conv_one")))
void conv_one(float* out, const float* a, const float* w, const float* bias, int H, int W, int c,
              int k, int dil, int pad, int part, int parts) {
  int y_lo, y_hi;
  share(H, part, parts, &y_lo, &y_hi);
  for (int y = y_lo; y < y_hi; y++) {
    for (int x0 = 0; x0 < W; x0 += PX) {
      int np = W - x0 < PX ? W - x0 : PX;
      v128_t acc[PX];
      for (int p = 0; p < PX; p++) acc[p] = wasm_f32x4_splat(0.f);
      for (int ky = 0; ky < k; ky++) {
        int iy = y + ky * dil - pad;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < k; kx++) {
          const float* pp[PX];
          for (int p = 0; p < PX; p++) {
            int ix = x0 + p + kx * dil - pad;
            pp[p] = p < np && ix >= 0 && ix < W ? a + ((long)iy * W + ix) * c : zeros;
          }
          const float* q = w + (ky * k + kx) * c;
          for (int i = 0; i < c; i += 4) {
            v128_t wv = LD(q + i);
            for (int p = 0; p < PX; p++) MAC(acc[p], LD(pp[p] + i), wv);
          }
        }
      }
      for (int p = 0; p < np; p++) {
        out[(long)y * W + x0 + p] = bias[0] + wasm_f32x4_extract_lane(acc[p], 0) +
          wasm_f32x4_extract_lane(acc[p], 1) + wasm_f32x4_extract_lane(acc[p], 2) +
          wasm_f32x4_extract_lane(acc[p], 3);
      }
    }
  }
}

/*
 * 2x2 max pool, stride 2, ceil mode; any c (4 channels at a time when c is
 * a multiple of 4, else one by one: a 4-wide store would write into the next
 * pixel, and past the map's end into the buffer after it).
 */
__attribute__((export_name("pool")))
void pool(float* out, const float* in, int H, int W, int c, int part, int parts) {
  int oh = (H + 1) / 2, ow = (W + 1) / 2, y_lo, y_hi;
  share(oh, part, parts, &y_lo, &y_hi);
  for (int y = y_lo; y < y_hi; y++) {
    for (int x = 0; x < ow; x++) {
      float* o = out + ((long)y * ow + x) * c;
      int y1 = 2 * y + 1 < H ? 2 * y + 1 : 2 * y, x1 = 2 * x + 1 < W ? 2 * x + 1 : 2 * x;
      const float* p00 = in + ((long)(2 * y) * W + 2 * x) * c;
      const float* p01 = in + ((long)(2 * y) * W + x1) * c;
      const float* p10 = in + ((long)y1 * W + 2 * x) * c;
      const float* p11 = in + ((long)y1 * W + x1) * c;
      if ((c & 3) == 0) {
        for (int i = 0; i < c; i += 4) {
          ST(o + i, wasm_f32x4_max(wasm_f32x4_max(LD(p00 + i), LD(p01 + i)),
                                   wasm_f32x4_max(LD(p10 + i), LD(p11 + i))));
        }
      } else {
        for (int i = 0; i < c; i++) {
          float m0 = p00[i] > p01[i] ? p00[i] : p01[i], m1 = p10[i] > p11[i] ? p10[i] : p11[i];
          o[i] = m0 > m1 ? m0 : m1;
        }
      }
    }
  }
}

/* Bilinear resize, half-pixel centres (align_corners=False), as the engine's WGSL. */
__attribute__((export_name("resize")))
void resize(float* out, const float* in, int H, int W, int c, int oh, int ow, float sy, float sx,
            int part, int parts) {
  int y_lo, y_hi;
  share(oh, part, parts, &y_lo, &y_hi);
  for (int y = y_lo; y < y_hi; y++) {
    float fy = sy * ((float)y + 0.5f) - 0.5f;
    if (fy < 0.f) fy = 0.f;
    int y0 = (int)fy;
    if (y0 > H - 1) y0 = H - 1;
    int y1 = y0 + 1 < H ? y0 + 1 : H - 1;
    float ly = fy - (float)y0;
    for (int x = 0; x < ow; x++) {
      float fx = sx * ((float)x + 0.5f) - 0.5f;
      if (fx < 0.f) fx = 0.f;
      int x0 = (int)fx;
      if (x0 > W - 1) x0 = W - 1;
      int x1 = x0 + 1 < W ? x0 + 1 : W - 1;
      float lx = fx - (float)x0;
      const float* r0 = in + (long)y0 * W * c;
      const float* r1 = in + (long)y1 * W * c;
      float* o = out + ((long)y * ow + x) * c;
      if ((c & 3) == 0) {
        v128_t vlx = wasm_f32x4_splat(lx), vly = wasm_f32x4_splat(ly);
        v128_t mlx = wasm_f32x4_splat(1.f - lx), mly = wasm_f32x4_splat(1.f - ly);
        for (int i = 0; i < c; i += 4) {
          v128_t top = ADD(MUL(LD(r0 + x0 * c + i), mlx), MUL(LD(r0 + x1 * c + i), vlx));
          v128_t bot = ADD(MUL(LD(r1 + x0 * c + i), mlx), MUL(LD(r1 + x1 * c + i), vlx));
          ST(o + i, ADD(MUL(top, mly), MUL(bot, vly)));
        }
      } else {
        for (int i = 0; i < c; i++) {
          float top = r0[x0 * c + i] * (1.f - lx) + r0[x1 * c + i] * lx;
          float bot = r1[x0 * c + i] * (1.f - lx) + r1[x1 * c + i] * lx;
          o[i] = top * (1.f - ly) + bot * ly;
        }
      }
    }
  }
}

/*
 * M rows [t0, t0+P) of point ξ, channels [8·cob, 8·cob+8): a register tile
 * of P tiles x 8 channels, over ci (a multiple of 4) inputs. V's point is
 * laid out [ci/4][rows][4] (tile t's channels c..c+3 at (c/4·rows + t)·4),
 * so that the P tiles' broadcasts are constant offsets from one pointer.
 */
static inline __attribute__((always_inline)) void gemm_tile(const float* vx, float* mx,
                                                            const float* u, int t0, int ci,
                                                            int rows, int cop, int P) {
  v128_t acc[8][2];
  for (int p = 0; p < P; p++) acc[p][0] = acc[p][1] = wasm_f32x4_splat(0.f);
  const float* v = vx + t0 * 4;
  for (int c = 0; c < ci; c += 4) {
    for (int p = 0; p < P; p++) {
      /* One load of the tile's 4 channels, broadcast by shuffles: 1.2-1.3x
       * the speed of 4 load-splats in V8 (measured; the same sums in the
       * same order). */
      MAC4X8(acc[p], LD(v + 4 * p), u);
    }
    u += 32;
    v += 4 * rows;
  }
  for (int p = 0; p < P; p++) {
    float* m = mx + (long)(t0 + p) * cop;
    ST(m, acc[p][0]);
    ST(m + 4, acc[p][1]);
  }
}

/* Tiles per register tile of the products (at most 8): 6 x 8 channels
 * keep 12 accumulators (V8 has 16 xmm registers on x64); on the 320² convs
 * 5-10% faster than 4, 5 and 7 about as fast as 6 (-DGEMM_PX=n to try). */
#ifndef GEMM_PX
#define GEMM_PX 6
#endif

/*
 * M[ξ][t][0..8·ncob) = V[ξ][t][0..ci) · U[ξ] for the `npts` points ξ and the
 * first `nt` tiles (rounded up to 4; rows past `nt` are scratch). Point ξ's
 * rows start at V + ξ·vs ([ci/4][rows][4], see gemm_tile) and M + ξ·ms.
 */
static void gemm_block(const float* V, float* M, const float* U, int npts, int nt, int rows,
                       long vs, long ms, int ci, int ncob) {
  int cop = ncob * 8;
  nt = (nt + 3) & ~3; /* rows past nt are scratch: whole register tiles of 4 */
  for (int xi = 0; xi < npts; xi++) {
    const float* vx = V + xi * vs;
    for (int cob = 0; cob < ncob; cob++) {
      const float* u0 = U + ((long)xi * ncob + cob) * ci * 8;
      float* mx = M + xi * ms + cob * 8;
      int t0 = 0;
      for (; nt - t0 >= GEMM_PX; t0 += GEMM_PX) gemm_tile(vx, mx, u0, t0, ci, rows, cop, GEMM_PX);
      switch (nt - t0) { /* the rest, 1 to GEMM_PX - 1 tiles */
        case 1: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 1); break;
        case 2: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 2); break;
        case 3: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 3); break;
        case 4: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 4); break;
        case 5: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 5); break;
        case 6: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 6); break;
        case 7: gemm_tile(vx, mx, u0, t0, ci, rows, cop, 7); break;
      }
    }
  }
}

/* Most tiles per Winograd block. */
#define MAX_TILES 256

/* A Winograd conv's arguments, shared by its blocks. */
typedef struct {
  float* out;
  const float *a, *b, *res, *U, *bias;
  int H, W, ca, cb, co, dil, relu, ci, ncob, cop;
  int rows; /* tiles per block (nt_max): V's rows per 4 channels */
  float *V, *M;
  long vs, ms; /* floats from one point's rows to the next, in V and M */
} Wino;

/* One block of `nt` tiles; tile t's top-left output is (yb[t], xb[t]). */
typedef void (*WinoBlock)(const Wino* w, const int* yb, const int* xb, int nt);

/*
 * Runs a 3x3 conv of any dilation d as Winograd F(m x m, 3x3): the output
 * splits into d x d phases (y ≡ ry, x ≡ rx mod d), each a dilation-1 conv
 * on its subsampled grid, cut into m x m tiles; the tiles of every phase
 * and row are taken in blocks of up to nt_max (so the small, dilated maps
 * still fill a block and read U once per block); part `part` of `parts`
 * does its share of the blocks, one contiguous run (neighbouring tiles share
 * input rows).
 */
static void wino_run(float* out, const float* a, const float* b, const float* res, const float* U,
                     const float* bias, int H, int W, int ca, int cb, int co, int dil, int relu,
                     float* scratch, int nt_max, int part, int parts, int m, WinoBlock block) {
  int pts = (m + 2) * (m + 2);
  Wino w = {out, a, b, res, U, bias, H, W, ca, cb, co, dil, relu, ca + cb, (co + 7) / 8};
  w.cop = w.ncob * 8;
  if (nt_max > MAX_TILES) nt_max = MAX_TILES;
  w.rows = nt_max;
  w.vs = (long)nt_max * w.ci + PAD;
  w.ms = (long)nt_max * w.cop + PAD;
  w.V = scratch;
  w.M = scratch + pts * w.vs;
  int yb[MAX_TILES], xb[MAX_TILES], n = 0, blk = 0;
  long tiles = 0; /* this part's blocks: a contiguous run [b_lo, b_hi) of the ceil(tiles / nt_max) */
  for (int ry = 0; ry < dil && ry < H; ry++) {
    for (int rx = 0; rx < dil && rx < W; rx++) {
      tiles += (long)(((H - ry + dil - 1) / dil + m - 1) / m) * (((W - rx + dil - 1) / dil + m - 1) / m);
    }
  }
  int b_lo, b_hi;
  share((int)((tiles + nt_max - 1) / nt_max), part, parts, &b_lo, &b_hi);
  for (int ry = 0; ry < dil && ry < H; ry++) {
    int tyn = ((H - ry + dil - 1) / dil + m - 1) / m;
    for (int rx = 0; rx < dil && rx < W; rx++) {
      int txn = ((W - rx + dil - 1) / dil + m - 1) / m;
      for (int ty = 0; ty < tyn; ty++) {
        for (int tx = 0; tx < txn; tx++) {
          yb[n] = ry + dil * m * ty;
          xb[n] = rx + dil * m * tx;
          if (++n == nt_max) {
            if (blk >= b_lo && blk < b_hi) block(&w, yb, xb, n);
            blk++;
            n = 0;
          }
        }
      }
    }
  }
  if (n && blk >= b_lo && blk < b_hi) block(&w, yb, xb, n);
}

/*
 * Pointers to pixel (y, x) of tile (y0, x0)'s n x n input patch in a and in
 * b (channel 0); outside the map, both point to zeros (every channel 0), so
 * that the transforms load without a test.
 */
static void patch(const Wino* w, int y0, int x0, int n, const float** pa, const float** pb) {
  for (int i = 0; i < n; i++) {
    int y = y0 + w->dil * (i - 1);
    for (int j = 0; j < n; j++) {
      int x = x0 + w->dil * (j - 1);
      int in = y >= 0 && y < w->H && x >= 0 && x < w->W;
      long p = (long)y * w->W + x;
      pa[i * n + j] = in ? w->a + p * w->ca : zeros;
      pb[i * n + j] = in ? w->b + p * w->cb : zeros;
    }
  }
}

/* Stores output (y, x) channels c..c+3: + bias, ReLU, + res. */
static void store_out(const Wino* w, int y, int x, int c, v128_t v, v128_t bias) {
  long off = ((long)y * w->W + x) * w->co + c;
  v = finish(ADD(v, bias), w->relu);
  if (w->res) v = ADD(v, LD(w->res + off));
  ST(w->out + off, v);
}

/* F(2x2, 3x3): V = Bᵀ d B, M = V·U, out = Aᵀ M A. */
static void wino2_block(const Wino* w, const int* yb, const int* xb, int nt) {
  const float *pa[16], *pb[16];
  for (int t = 0; t < nt; t++) {
    patch(w, yb[t], xb[t], 4, pa, pb);
    for (int c = 0; c < w->ci; c += 4) {
      const float* const* pp = c < w->ca ? pa : pb;
      int cc = c < w->ca ? c : c - w->ca;
      v128_t d[4][4], e[4][4];
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) d[i][j] = LD(pp[i * 4 + j] + cc);
      }
      for (int j = 0; j < 4; j++) {
        e[0][j] = SUB(d[0][j], d[2][j]);
        e[1][j] = ADD(d[1][j], d[2][j]);
        e[2][j] = SUB(d[2][j], d[1][j]);
        e[3][j] = SUB(d[1][j], d[3][j]);
      }
      for (int i = 0; i < 4; i++) {
        float* v = w->V + i * 4 * w->vs + (long)((c >> 2) * w->rows + t) * 4;
        ST(v, SUB(e[i][0], e[i][2]));
        ST(v + w->vs, ADD(e[i][1], e[i][2]));
        ST(v + 2 * w->vs, SUB(e[i][2], e[i][1]));
        ST(v + 3 * w->vs, SUB(e[i][1], e[i][3]));
      }
    }
  }
  gemm_block(w->V, w->M, w->U, 16, nt, w->rows, w->vs, w->ms, w->ci, w->ncob);
  for (int t = 0; t < nt; t++) {
    for (int c = 0; c < w->co; c += 4) {
      v128_t m[4][4], r[2][4];
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) m[i][j] = LD(w->M + (i * 4 + j) * w->ms + (long)t * w->cop + c);
      }
      for (int j = 0; j < 4; j++) {
        r[0][j] = ADD(ADD(m[0][j], m[1][j]), m[2][j]);
        r[1][j] = SUB(SUB(m[1][j], m[2][j]), m[3][j]);
      }
      v128_t bv = LD(w->bias + c);
      for (int i = 0; i < 2; i++) {
        int y = yb[t] + w->dil * i;
        if (y >= w->H) break;
        v128_t o0 = ADD(ADD(r[i][0], r[i][1]), r[i][2]);
        v128_t o1 = SUB(SUB(r[i][1], r[i][2]), r[i][3]);
        store_out(w, y, xb[t], c, o0, bv);
        if (xb[t] + w->dil < w->W) store_out(w, y, xb[t] + w->dil, c, o1, bv);
      }
    }
  }
}

/* Bᵀ's first and last rows on (x0, x2, x4): 4·x0 - 5·x2 + x4. */
#ifdef U2_FMA
#define IN_EDGE(x0, x2, x4) MADD(four, x0, NMADD(five, x2, x4))
#else
#define IN_EDGE(x0, x2, x4) ADD(SUB(MUL(four, x0), MUL(five, x2)), x4)
#endif

/* F(4x4, 3x3), points 0, ±1, ±2: V = Bᵀ d B, M = V·U, out = Aᵀ M A. */
static void wino4_block(const Wino* w, const int* yb, const int* xb, int nt) {
  v128_t four = wasm_f32x4_splat(4.f), five = wasm_f32x4_splat(5.f), two = wasm_f32x4_splat(2.f);
  v128_t eight = wasm_f32x4_splat(8.f);
  const float *pa[36], *pb[36];
  for (int t = 0; t < nt; t++) {
    patch(w, yb[t], xb[t], 6, pa, pb);
    for (int c = 0; c < w->ci; c += 4) {
      const float* const* pp = c < w->ca ? pa : pb;
      int cc = c < w->ca ? c : c - w->ca;
      v128_t e[6][6];
      for (int i = 0; i < 6; i++) { /* rows: e[i] = d[i] B */
        v128_t d[6];
        for (int j = 0; j < 6; j++) d[j] = LD(pp[i * 6 + j] + cc);
        v128_t p = NMADD(four, d[2], d[4]), q = NMADD(four, d[1], d[3]);
        v128_t r = SUB(d[4], d[2]), s = MUL(two, SUB(d[3], d[1]));
        e[i][0] = IN_EDGE(d[0], d[2], d[4]);
        e[i][1] = ADD(p, q);
        e[i][2] = SUB(p, q);
        e[i][3] = ADD(r, s);
        e[i][4] = SUB(r, s);
        e[i][5] = IN_EDGE(d[1], d[3], d[5]);
      }
      long st = w->vs;
      float* v0 = w->V + (long)((c >> 2) * w->rows + t) * 4;
      for (int j = 0; j < 6; j++) { /* columns: Bᵀ e */
        v128_t p = NMADD(four, e[2][j], e[4][j]), q = NMADD(four, e[1][j], e[3][j]);
        v128_t r = SUB(e[4][j], e[2][j]), s = MUL(two, SUB(e[3][j], e[1][j]));
        ST(v0 + (0 * 6 + j) * st, IN_EDGE(e[0][j], e[2][j], e[4][j]));
        ST(v0 + (1 * 6 + j) * st, ADD(p, q));
        ST(v0 + (2 * 6 + j) * st, SUB(p, q));
        ST(v0 + (3 * 6 + j) * st, ADD(r, s));
        ST(v0 + (4 * 6 + j) * st, SUB(r, s));
        ST(v0 + (5 * 6 + j) * st, IN_EDGE(e[1][j], e[3][j], e[5][j]));
      }
    }
  }
  gemm_block(w->V, w->M, w->U, 36, nt, w->rows, w->vs, w->ms, w->ci, w->ncob);
  for (int t = 0; t < nt; t++) {
    for (int c = 0; c < w->co; c += 4) {
      v128_t r[4][6];
      for (int j = 0; j < 6; j++) { /* columns: Aᵀ m */
        v128_t m[6];
        for (int i = 0; i < 6; i++) m[i] = LD(w->M + (i * 6 + j) * w->ms + (long)t * w->cop + c);
        v128_t p = ADD(m[1], m[2]), q = SUB(m[1], m[2]);
        v128_t u = ADD(m[3], m[4]), s = SUB(m[3], m[4]);
        r[0][j] = ADD(ADD(m[0], p), u);
        r[1][j] = MADD(two, s, q);
        r[2][j] = MADD(four, u, p);
        r[3][j] = ADD(MADD(eight, s, q), m[5]);
      }
      v128_t bv = LD(w->bias + c);
      for (int i = 0; i < 4; i++) { /* rows: r A */
        int y = yb[t] + w->dil * i;
        if (y >= w->H) break;
        v128_t* m = r[i];
        v128_t p = ADD(m[1], m[2]), q = SUB(m[1], m[2]);
        v128_t u = ADD(m[3], m[4]), s = SUB(m[3], m[4]);
        v128_t o[4];
        o[0] = ADD(ADD(m[0], p), u);
        o[1] = MADD(two, s, q);
        o[2] = MADD(four, u, p);
        o[3] = ADD(MADD(eight, s, q), m[5]);
        for (int j = 0; j < 4; j++) {
          int x = xb[t] + w->dil * j;
          if (x >= w->W) break;
          store_out(w, y, x, c, o[j], bv);
        }
      }
    }
  }
}

/*
 * Winograd F(2x2, 3x3) conv: out = relu?(conv(a ‖ b) + bias) (+ res), 2.25x
 * fewer multiplications than direct. U = G g Gᵀ, packed
 * [16][ceil(co/8)][ca+cb][8] by the host; ca, cb and co multiples of 4.
 * Scratch: 16·(nt_max·(ca+cb) + PAD) floats of V, then
 * 16·(nt_max·ceil(co/8)·8 + PAD) of M (nt_max a multiple of 4, at most MAX_TILES).
 */
__attribute__((export_name("conv_wino")))
void conv_wino(float* out, const float* a, const float* b, const float* res, const float* U,
               const float* bias, int H, int W, int ca, int cb, int co, int dil, int relu,
               float* scratch, int nt_max, int part, int parts) {
  wino_run(out, a, b, res, U, bias, H, W, ca, cb, co, dil, relu, scratch, nt_max, part, parts, 2,
           wino2_block);
}

/*
 * Winograd F(4x4, 3x3) conv (4x fewer multiplications than direct), as
 * conv_wino with U packed [36][ceil(co/8)][ca+cb][8] and 36 points' scratch.
 */
__attribute__((export_name("conv_wino4")))
void conv_wino4(float* out, const float* a, const float* b, const float* res, const float* U,
                const float* bias, int H, int W, int ca, int cb, int co, int dil, int relu,
                float* scratch, int nt_max, int part, int parts) {
  wino_run(out, a, b, res, U, bias, H, W, ca, cb, co, dil, relu, scratch, nt_max, part, parts, 4,
           wino4_block);
}
