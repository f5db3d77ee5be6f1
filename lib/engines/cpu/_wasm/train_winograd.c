/*
 * Winograd F(2x2, 3x3) for the training step's 3x3 convs (forward and input
 * gradient), included by cpu_train.c (its macros, MAC, `zeros`, `packed`). Learnt
 * from cpu_engine.c's wino2_block, for N images and inputs a ‖ b read in
 * place: the output splits into d x d phases (y ≡ ry, x ≡ rx mod d), each a
 * dilation-1 conv on its subsampled grid cut into 2 x 2 tiles; the tiles of
 * every image, phase and row are taken in blocks of `nt` (a function of the
 * shape only), and part `part` of `parts` does a contiguous run of the
 * (output-channel group, block) pairs, each tile computed exactly as with
 * one part: the same bits for any `parts`. Per block: V = Bᵀ d B (adds only), M = V·U (the products: 16 per
 * tile and channel pair, against 36 direct), out = Aᵀ M A (adds only).
 * U = G g Gᵀ is computed in float32 on every call (the weights change every
 * step) into this part's scratch, for as many 16-channel output blocks as
 * fit (more groups re-transform the inputs). Accuracy: fewer terms a sum
 * than the direct conv, so its error against float64 is lower (measured:
 * train_grad_accuracy_test.ts).
 */

/* Floats between the points' rows in V and M, so that the 16 rows a
 * transform touches do not share cache sets (sizes are often powers of two). */
#define WG_PAD 16
/* The output channels a product sums at once (2 vectors) and the tiles
 * (WG_PX): 6 x 8 keeps 12 accumulators, 2 weights and a broadcast in V8's
 * 16 xmm registers on x64 (4 x 16 spilled), as cpu_engine.c's gemm_tile. */
#define WG_CB 8
#define WG_PX 6
#define WG_LANE(x, i) wasm_i32x4_shuffle(x, x, i, i, i, i)
/* V and M floats a point (nt·ci ≤ WG_ROW, nt·cop ≤ WG_ROW); U floats. Twice
 * 8192 and 256K made full's 1,024-channel convs 1.2x faster (twice the output
 * channels a group: half the re-transforms of the input; measured). */
#define WG_ROW 16384
#define WG_UMAX (512 * 1024)
/* The most output channels a group of a split output (both inputs' gradients
 * at once): 128 was 1.25x slower than 2 x 64 on 4 x 128² 64+64 -> 64's input
 * gradient (measured), so wide ones run as before, a group an input, and
 * narrow ones (16+16) transform dy once for both. */
#define WG_COP 64
/* The most tiles a block. */
#define WG_NT 64
/* The most input channels (one 16-channel output block's U must fit). */
#define WG_MAXCI (WG_UMAX / (16 * WG_CB))

/* Scratch: U, then V and M (16 rows each), in the part's packed-weights area
 * of cpu_train.c (PACKED floats from packed + part·PACKED), which the
 * direct conv it replaces would have used: no memory of its own. */
#define WG_VM (16 * (WG_ROW + WG_PAD))
_Static_assert(WG_UMAX + 2 * WG_VM <= PACKED, "Winograd scratch past a part's packed area");

/*
 * Weight element g(t, i, j) = w[base + tap(t)·ts + i·is + j·js], tap(t) =
 * t, or 8 - t when flipped: input channel i of the Winograd conv, output
 * channel j.
 */
typedef struct {
  const float* w;
  long base, ts, is, js;
  int flip;
} WgWeights;

/* A Winograd conv's arguments, shared by its blocks. */
typedef struct {
  float *out, *out2; /* output channels [0, oc1) and [oc1, oc) */
  int oc1;
  const float *a, *b, *bias;
  int oc, ca, cb, ci, H, W, dil;
  int ob, cop;    /* this group's first output channel, its width (a multiple of WG_CB) */
  const float* U; /* [16][cop / WG_CB][ci][WG_CB] */
  float *V, *M;   /* [16][ci/4][rows][4], [16][rows][cop], points WG_PAD apart */
  long vs, ms;
  int rows;       /* tiles a block holds (nt) */
} WgConv;

/*
 * U[ξ][cob][i][j] = (G g Gᵀ)[ξ] for output channels [ob, ob + cop) (0 past
 * oc), 4 output channels a vector (oc is a multiple of 4).
 */
static void wg_transform_weights(float* U, const WgWeights* g, int ci, int oc, int ob, int cop) {
  long ps = (long)(cop / WG_CB) * ci * WG_CB; /* floats a point */
  v128_t half = wasm_f32x4_splat(0.5f);
  for (int i = 0; i < ci; i++) {
    for (int jj = 0; jj < cop; jj += 4) {
      int j = ob + jj;
      v128_t k[9], t[4][3];
      for (int s = 0; s < 9; s++) {
        const float* p = g->w + g->base + (g->flip ? 8 - s : s) * g->ts + (long)i * g->is + (long)j * g->js;
        if (j >= oc) {
          k[s] = ZERO;
        } else if (g->js == 1) {
          k[s] = LD(p);
        } else {
          long js = g->js;
          k[s] = wasm_f32x4_make(p[0], p[js], p[2 * js], p[3 * js]);
        }
      }
      for (int c = 0; c < 3; c++) { /* t = G k */
        t[0][c] = k[c];
        t[1][c] = MUL(half, ADD(ADD(k[c], k[6 + c]), k[3 + c]));
        t[2][c] = MUL(half, SUB(ADD(k[c], k[6 + c]), k[3 + c]));
        t[3][c] = k[6 + c];
      }
      float* o = U + ((long)(jj / WG_CB) * ci + i) * WG_CB + jj % WG_CB;
      for (int r = 0; r < 4; r++) { /* U = t Gᵀ */
        ST(o + (r * 4 + 0) * ps, t[r][0]);
        ST(o + (r * 4 + 1) * ps, MUL(half, ADD(ADD(t[r][0], t[r][2]), t[r][1])));
        ST(o + (r * 4 + 2) * ps, MUL(half, SUB(ADD(t[r][0], t[r][2]), t[r][1])));
        ST(o + (r * 4 + 3) * ps, t[r][2]);
      }
    }
  }
}

/*
 * M rows [t0, t0 + P) of point ξ, channels [8·cob, 8·cob + 8): a register
 * tile of P tiles x 8 channels over ci (a multiple of 4) inputs. V's point
 * is laid out [ci/4][rows][4], so that the P tiles' broadcasts are constant
 * offsets from one pointer. Each output sums its ci products in channel
 * order, whatever P: the tiling never changes the bits.
 */
static inline __attribute__((always_inline)) void wg_tile(const float* vx, float* mx,
                                                          const float* u, int t0, int ci, int rows,
                                                          int cop, int P) {
  v128_t acc[WG_PX][2];
  for (int p = 0; p < P; p++) acc[p][0] = acc[p][1] = ZERO;
  const float* v = vx + t0 * 4;
  for (int c = 0; c < ci; c += 4) {
    for (int p = 0; p < P; p++) {
      /* One load of the tile's 4 channels, broadcast by shuffles: 1.2-1.3x
       * the speed of 4 load-splats in V8 (measured, 6 x 8 and 4 x 12). */
      v128_t x4 = LD(v + 4 * p);
      v128_t x0 = WG_LANE(x4, 0), x1 = WG_LANE(x4, 1), x2 = WG_LANE(x4, 2), x3 = WG_LANE(x4, 3);
      MAC(acc[p][0], x0, LD(u));
      MAC(acc[p][1], x0, LD(u + 4));
      MAC(acc[p][0], x1, LD(u + 8));
      MAC(acc[p][1], x1, LD(u + 12));
      MAC(acc[p][0], x2, LD(u + 16));
      MAC(acc[p][1], x2, LD(u + 20));
      MAC(acc[p][0], x3, LD(u + 24));
      MAC(acc[p][1], x3, LD(u + 28));
    }
    u += 4 * WG_CB;
    v += 4 * rows;
  }
  for (int p = 0; p < P; p++) {
    float* m = mx + (long)(t0 + p) * cop;
    ST(m, acc[p][0]);
    ST(m + 4, acc[p][1]);
  }
}

/* M[ξ][t][0..cop) = V[ξ][t][0..ci) · U[ξ] for the 16 points and the first nt tiles. */
static void wg_gemm(const WgConv* w, int nt) {
  int ncob = w->cop / WG_CB, ci = w->ci, rows = w->rows;
  for (int xi = 0; xi < 16; xi++) {
    const float* vx = w->V + xi * w->vs;
    for (int cob = 0; cob < ncob; cob++) {
      const float* u0 = w->U + ((long)xi * ncob + cob) * ci * WG_CB;
      float* mx = w->M + xi * w->ms + cob * WG_CB;
      int t0 = 0;
      for (; nt - t0 >= WG_PX; t0 += WG_PX) wg_tile(vx, mx, u0, t0, ci, rows, w->cop, WG_PX);
      switch (nt - t0) { /* the rest, 1 to WG_PX - 1 tiles */
        case 1: wg_tile(vx, mx, u0, t0, ci, rows, w->cop, 1); break;
        case 2: wg_tile(vx, mx, u0, t0, ci, rows, w->cop, 2); break;
        case 3: wg_tile(vx, mx, u0, t0, ci, rows, w->cop, 3); break;
        case 4: wg_tile(vx, mx, u0, t0, ci, rows, w->cop, 4); break;
        case 5: wg_tile(vx, mx, u0, t0, ci, rows, w->cop, 5); break;
      }
    }
  }
}

/* One block of nt tiles; tile t's top-left output is pixel (yb[t], xb[t]) of image im[t]. */
static void wg_block(const WgConv* w, const int* im, const int* yb, const int* xb, int nt) {
  const float *pa[16], *pb[16];
  int H = w->H, W = w->W, d = w->dil;
  for (int t = 0; t < nt; t++) {
    long base = (long)im[t] * H * W;
    for (int i = 0; i < 4; i++) {
      int y = yb[t] + d * (i - 1);
      for (int j = 0; j < 4; j++) {
        int x = xb[t] + d * (j - 1);
        int in = y >= 0 && y < H && x >= 0 && x < W;
        long p = base + (long)y * W + x;
        pa[i * 4 + j] = in ? w->a + p * w->ca : zeros;
        pb[i * 4 + j] = in && w->cb ? w->b + p * w->cb : zeros;
      }
    }
    for (int c = 0; c < w->ci; c += 4) {
      const float* const* pp = c < w->ca ? pa : pb;
      int cc = c < w->ca ? c : c - w->ca;
      v128_t dv[4][4], e[4][4];
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) dv[i][j] = LD(pp[i * 4 + j] + cc);
      }
      for (int j = 0; j < 4; j++) {
        e[0][j] = SUB(dv[0][j], dv[2][j]);
        e[1][j] = ADD(dv[1][j], dv[2][j]);
        e[2][j] = SUB(dv[2][j], dv[1][j]);
        e[3][j] = SUB(dv[1][j], dv[3][j]);
      }
      for (int i = 0; i < 4; i++) {
        float* v = w->V + i * 4 * w->vs + ((long)(c / 4) * w->rows + t) * 4;
        ST(v, SUB(e[i][0], e[i][2]));
        ST(v + w->vs, ADD(e[i][1], e[i][2]));
        ST(v + 2 * w->vs, SUB(e[i][2], e[i][1]));
        ST(v + 3 * w->vs, SUB(e[i][1], e[i][3]));
      }
    }
  }
  wg_gemm(w, nt);
  int nco = w->oc - w->ob < w->cop ? w->oc - w->ob : w->cop;
  for (int t = 0; t < nt; t++) {
    long base = (long)im[t] * H * W;
    int x1 = xb[t] + d < W;
    for (int c = 0; c < nco; c += 4) {
      v128_t m[4][4], r[2][4];
      for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) m[i][j] = LD(w->M + (i * 4 + j) * w->ms + (long)t * w->cop + c);
      }
      for (int j = 0; j < 4; j++) {
        r[0][j] = ADD(ADD(m[0][j], m[1][j]), m[2][j]);
        r[1][j] = SUB(SUB(m[1][j], m[2][j]), m[3][j]);
      }
      v128_t bv = LD(w->bias + w->ob + c);
      /* Channels below oc1 go to out (oc1 a pixel), the rest to out2. */
      int j = w->ob + c, first = j < w->oc1;
      long ps = first ? w->oc1 : w->oc - w->oc1;
      float* dst = first ? w->out + j : w->out2 + (j - w->oc1);
      for (int i = 0; i < 2; i++) {
        int y = yb[t] + d * i;
        if (y >= H) break;
        float* o = dst + (base + (long)y * W + xb[t]) * ps;
        ST(o, ADD(ADD(ADD(r[i][0], r[i][1]), r[i][2]), bv));
        if (x1) ST(o + (long)d * ps, ADD(SUB(SUB(r[i][1], r[i][2]), r[i][3]), bv));
      }
    }
  }
}

/* Tiles (all images and phases) of an N x H x W map with dilation d. */
static long wg_tiles(int N, int H, int W, int d) {
  long tiles = 0;
  for (int ry = 0; ry < d && ry < H; ry++) {
    for (int rx = 0; rx < d && rx < W; rx++) {
      tiles += (long)(((H - ry + d - 1) / d + 1) / 2) * (((W - rx + d - 1) / d + 1) / 2);
    }
  }
  return tiles * N;
}

/*
 * Tiles a block for ci input channels and `tiles` in all: at least 8 blocks
 * where there are enough, whole register tiles where V's rows allow
 * (nt·ci ≤ WG_ROW, nt ≤ WG_NT).
 */
static int wg_block_tiles(int ci, long tiles) {
  int cap = WG_ROW / ci;
  if (cap > WG_NT) cap = WG_NT;
  long few = (tiles + 7) / 8;
  int nt = few < cap ? (int)few : cap;
  nt = (nt + WG_PX - 1) / WG_PX * WG_PX;
  if (nt > cap) nt = cap >= WG_PX ? cap / WG_PX * WG_PX : cap;
  return nt < 1 ? 1 : nt;
}

/*
 * Whether Winograd is the faster for a shape, from rough costs in
 * multiply-adds: the direct conv skips the taps outside the map (most taps
 * of small dilated maps) and sums 4 pixels (a row's last 4 partly wasted) ×
 * 16 channels; Winograd pays 16 products a tile and channel pair, its
 * transforms (~40 a tile and channel) and U's (~16 a channel pair).
 * Constants fitted on lite's shapes at b8@48 (one thread): it picks the
 * faster of the two within noise on each.
 */
static int wg_pays(int N, int H, int W, int ci, int oc, int d) {
#ifdef WG_ALWAYS /* measurement builds */
  return 1;
#endif
#ifdef WG_NEVER
  return 0;
#endif
  long ty = 0, tx = 0;
  for (int y = 0; y < H; y++) {
    for (int k = -1; k <= 1; k++) ty += y + k * d >= 0 && y + k * d < H;
  }
  for (int x = 0; x < W; x++) {
    for (int k = -1; k <= 1; k++) tx += x + k * d >= 0 && x + k * d < W;
  }
  double ocp = (double)((oc + BW - 1) / BW * BW); /* the direct conv's blocks */
  double direct = (double)N * ty * tx * ci * ocp * ((double)((W + 3) / 4 * 4) / W);
  double tiles = (double)wg_tiles(N, H, W, d);
  double wino = tiles * (16.0 * ci * ocp + 40.0 * (ci + ocp)) + 16.0 * ci * ocp;
  return wino < direct;
}

/*
 * out ‖ out2 (oc1 and oc - oc1 channels a pixel; out2 unused when oc1 = oc)
 * = bias + conv3x3(a ‖ b) dilated d, 'same', as F(2x2, 3x3), weights g (see
 * WgWeights); part `part` of `parts` of the (output group, tile block) pairs.
 * Returns 0 (and does nothing) where the shape does not suit it: channels not
 * multiples of 4, too many, or a direct conv cheaper.
 */
static int wg_conv(float* out, float* out2, int oc1, int oc, const float* a, int ca,
                   const float* b, int cb, const float* bias, const WgWeights* g, int N, int H,
                   int W, int d, int part, int parts) {
  int ci = ca + cb;
  if (ca % 4 || cb % 4 || oc % 4 || oc1 % 4 || ci > WG_MAXCI || oc < 4 || parts > MAXPARTS) {
    return 0;
  }
  if (!wg_pays(N, H, W, ci, oc, d)) return 0;
  long tiles = wg_tiles(N, H, W, d);
  int nt = wg_block_tiles(ci, tiles);
  long nblocks = (tiles + nt - 1) / nt;
  int gmax = WG_UMAX / (16 * ci) / WG_CB * WG_CB, mmax = WG_ROW / nt / WG_CB * WG_CB;
  int cog = gmax < mmax ? gmax : mmax;
  if (out2 && cog > WG_COP) cog = WG_COP;
  /* Part `part` does a contiguous run of the (group, block) pairs, group-major:
   * where there are several groups the parts take different output channels,
   * so that each transforms only the U it uses (every part transformed all of
   * it when the parts split the blocks alone). */
  long ngroups = (oc + cog - 1) / cog, u_lo, u_hi;
  share(ngroups * nblocks, part, parts, &u_lo, &u_hi);
  WgConv w = {out, out2, oc1, a, b, bias ? bias : zeros, oc, ca, cb, ci, H, W, d};
  float* scratch = packed + (long)part * PACKED;
  w.U = scratch;
  w.V = scratch + WG_UMAX;
  w.M = scratch + WG_UMAX + WG_VM;
  w.vs = (long)nt * ci + WG_PAD;
  w.rows = nt;
  int im[WG_NT], yb[WG_NT], xb[WG_NT];
  for (long gi = u_lo / nblocks; gi < ngroups && gi * nblocks < u_hi; gi++) {
    long b_lo = u_lo > gi * nblocks ? u_lo - gi * nblocks : 0;
    long b_hi = u_hi < (gi + 1) * nblocks ? u_hi - gi * nblocks : nblocks;
    w.ob = (int)gi * cog;
    int left = (oc - w.ob + WG_CB - 1) / WG_CB * WG_CB;
    w.cop = left < cog ? left : cog;
    w.ms = (long)nt * w.cop + WG_PAD;
    wg_transform_weights(scratch, g, ci, oc, w.ob, w.cop);
    long blk = 0;
    int n = 0;
    for (int img = 0; img < N && blk < b_hi; img++) {
      for (int ry = 0; ry < d && ry < H; ry++) {
        int tyn = ((H - ry + d - 1) / d + 1) / 2;
        for (int rx = 0; rx < d && rx < W; rx++) {
          int txn = ((W - rx + d - 1) / d + 1) / 2;
          for (int ty = 0; ty < tyn; ty++) {
            for (int tx = 0; tx < txn; tx++) {
              im[n] = img;
              yb[n] = ry + 2 * d * ty;
              xb[n] = rx + 2 * d * tx;
              if (++n == nt) {
                if (blk >= b_lo && blk < b_hi) wg_block(&w, im, yb, xb, n);
                blk++;
                n = 0;
              }
            }
          }
        }
      }
    }
    if (n && blk >= b_lo && blk < b_hi) wg_block(&w, im, yb, xb, n);
  }
  return 1;
}
