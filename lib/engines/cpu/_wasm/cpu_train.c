/*
 * The CPU training step's kernels (wasm SIMD128), driven by
 * ../_train_kernels_wasm.ts; semantics in ../_train_kernels.ts. Maps are NHWC
 * float32 over `P = n·h·w` pixels; pointers are byte offsets into the
 * memory, 0 for "none". Build: ./build_train.sh (clang + wasm-ld).
 * Every multiply-add goes through MAC: mul + add in the plain build (results
 * depend on the inputs only), relaxed-SIMD fused multiply-add in the U2_FMA
 * build (fused where the CPU has FMA, so results may differ between machines).
 * A fixed order throughout: the same bits on every run.
 */
#include <wasm_simd128.h>

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define SPL(p) wasm_v128_load32_splat(p)
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul
#ifdef U2_FMA
#define MAC(acc, x, w) acc = wasm_f32x4_relaxed_madd(x, w, acc)
#else
#define MAC(acc, x, w) acc = ADD(acc, MUL(x, w))
#endif
#define ZERO wasm_f32x4_splat(0.f)
/* Register blocking (measured on lite's 64->16 layers, a few shapes tried):
 * the conv sums PX pixels × BW = 4·NV output channels; the filter gradient FR
 * input channels × 8 output channels. */
#define PX 4
#define NV 4
#define BW (4 * NV)
#define FR 4
/* The most channels a conv input (ca + cb, or co for the input gradient) may have. */
#define MAXC 8192

static float zeros[MAXC] __attribute__((aligned(16)));
/* Blocks of BW output channels' weights, [k·k][cin][BW] each (as many as fit). */
static float packed[9 * MAXC * BW] __attribute__((aligned(16)));
/* Per-channel scratch of the BatchNorm kernels. */
static float chan_a[MAXC] __attribute__((aligned(16)));
static double sum_a[MAXC] __attribute__((aligned(16)));
static double sum_b[MAXC] __attribute__((aligned(16)));
extern unsigned char __heap_base;

/** First free byte after the module's own data. */
__attribute__((export_name("heap_base"))) int heap_base(void) { return (int)&__heap_base; }

/** The most channels a conv input may have. */
__attribute__((export_name("max_channels"))) int max_channels(void) { return MAXC; }

static void fill(float* p, long len, float v) {
  for (long i = 0; i < len; i++) p[i] = v;
}

/* acc[p] += Σ_c src[p][c] · w[c][0..BW) for the PX pixels; returns the weights past them. */
static inline const float* taps(v128_t acc[PX][NV], const float* const* src, int n,
                                const float* w) {
  for (int c = 0; c < n; c++) {
    v128_t wv[NV];
    for (int v = 0; v < NV; v++) wv[v] = LD(w + 4 * v);
    w += BW;
    for (int p = 0; p < PX; p++) {
      v128_t xv = SPL(src[p] + c);
      for (int v = 0; v < NV; v++) MAC(acc[p][v], xv, wv[v]);
    }
  }
  return w;
}

/*
 * Row y of image `base` (its first pixel), channels [ob, ob + nco) (nco ≤ BW)
 * of out (oc channels a pixel) = bias + conv(a ‖ b) with one block's
 * weights pk [k·k][ca+cb][BW].
 */
static void conv_row(float* out, int oc, int ob, int nco, const float* a, int ca,
                     const float* b, int cb, const float* bias, const float* pk, long base,
                     int y, int H, int W, int k, int dil) {
  int cin = ca + cb, r = (k - 1) / 2;
  v128_t bv[NV];
  for (int v = 0; v < NV; v++) bv[v] = LD(bias + 4 * v);
  for (int x0 = 0; x0 < W; x0 += PX) {
    int np = W - x0 < PX ? W - x0 : PX;
    v128_t acc[PX][NV];
    for (int p = 0; p < PX; p++) {
      for (int v = 0; v < NV; v++) acc[p][v] = bv[v];
    }
    for (int ky = 0; ky < k; ky++) {
      int iy = y + (ky - r) * dil;
      if (iy < 0 || iy >= H) continue;
      for (int kx = 0; kx < k; kx++) {
        const float* w = pk + (ky * k + kx) * cin * BW;
        const float* pa[PX];
        const float* pb[PX];
        for (int p = 0; p < PX; p++) {
          int ix = x0 + p + (kx - r) * dil;
          int ok = p < np && ix >= 0 && ix < W;
          long off = base + (long)iy * W + ix;
          pa[p] = ok ? a + off * ca : zeros;
          pb[p] = ok && cb ? b + off * cb : zeros;
        }
        w = taps(acc, pa, ca, w);
        if (cb) taps(acc, pb, cb, w);
      }
    }
    for (int p = 0; p < np; p++) {
      float* o = out + (base + (long)y * W + x0 + p) * oc + ob;
      if (nco == BW) {
        for (int v = 0; v < NV; v++) ST(o + 4 * v, acc[p][v]);
      } else {
        float t[BW] __attribute__((aligned(16)));
        for (int v = 0; v < NV; v++) ST(t + 4 * v, acc[p][v]);
        for (int j = 0; j < nco; j++) o[j] = t[j];
      }
    }
  }
}

/*
 * out (oc channels) = bias + conv(a ‖ b) with the weights pack(w, block,
 * dst) writes block by block into `packed`: as many blocks at a time as fit,
 * each row of the map for all of them (its output lines written once).
 */
static void conv_blocks(float* out, int oc, const float* a, int ca, const float* b, int cb,
                        const float* bias, int N, int H, int W, int k, int dil,
                        void (*pack)(const void*, int, float*), const void* ctx) {
  long block = (long)k * k * (ca + cb) * BW;
  int nb = (oc + BW - 1) / BW, fit = (int)((long)sizeof(packed) / sizeof(float) / block);
  for (int g0 = 0; g0 < nb; g0 += fit) {
    int g1 = g0 + fit < nb ? g0 + fit : nb;
    for (int g = g0; g < g1; g++) pack(ctx, g, packed + (g - g0) * block);
    for (int img = 0; img < N; img++) {
      for (int y = 0; y < H; y++) {
        for (int g = g0; g < g1; g++) {
          int ob = g * BW, nco = oc - ob < BW ? oc - ob : BW;
          conv_row(out, oc, ob, nco, a, ca, b, cb, bias + ob, packed + (g - g0) * block,
                   (long)img * H * W, y, H, W, k, dil);
        }
      }
    }
  }
}

/* acc += src[c] · w[c] for the channels c < n & ~3; returns Σ of the rest. */
static inline float dot(v128_t* acc, const float* src, const float* w, int n) {
  int c = 0;
  for (; c + 4 <= n; c += 4) MAC(*acc, LD(src + c), LD(w + c));
  float s = 0.f;
  for (; c < n; c++) s += src[c] * w[c];
  return s;
}

/* conv to one output channel (the side outputs): dot products over the input channels. */
static void conv_one(float* out, const float* a, const float* b, const float* w, float bias,
                     int N, int H, int W, int ca, int cb, int k, int dil) {
  int cin = ca + cb, r = (k - 1) / 2;
  for (int img = 0; img < N; img++) {
    long base = (long)img * H * W;
    for (int y = 0; y < H; y++) {
      for (int x = 0; x < W; x++) {
        v128_t acc = ZERO;
        float s = 0.f;
        for (int ky = 0; ky < k; ky++) {
          int iy = y + (ky - r) * dil;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < k; kx++) {
            int ix = x + (kx - r) * dil;
            if (ix < 0 || ix >= W) continue;
            long off = base + (long)iy * W + ix;
            const float* wt = w + (ky * k + kx) * cin;
            s += dot(&acc, a + off * ca, wt, ca);
            if (cb) s += dot(&acc, b + off * cb, wt + ca, cb);
          }
        }
        out[base + (long)y * W + x] = bias + s + wasm_f32x4_extract_lane(acc, 0) +
                                      wasm_f32x4_extract_lane(acc, 1) +
                                      wasm_f32x4_extract_lane(acc, 2) +
                                      wasm_f32x4_extract_lane(acc, 3);
      }
    }
  }
}

/*
 * d[p][j] = Σ_t dy[p - tap t] · w[t][c0 + j] for the channels j in
 * [j0, j0 + 4·V) (one output channel: dy has one channel a pixel).
 */
static inline __attribute__((always_inline)) void input_grad_one_block(
    float* d, int nc, int c0, int j0, const float* dy, const float* w, int N, int H, int W,
    int cin, int k, int dil, int V) {
  int r = (k - 1) / 2;
  for (int img = 0; img < N; img++) {
    long base = (long)img * H * W;
    for (int y = 0; y < H; y++) {
      for (int x = 0; x < W; x++) {
        v128_t acc[8];
        for (int v = 0; v < V; v++) acc[v] = ZERO;
        for (int ky = 0; ky < k; ky++) {
          int iy = y - (ky - r) * dil;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < k; kx++) {
            int ix = x - (kx - r) * dil;
            if (ix < 0 || ix >= W) continue;
            v128_t g = SPL(dy + base + (long)iy * W + ix);
            const float* wt = w + (ky * k + kx) * cin + c0 + j0;
            for (int v = 0; v < V; v++) MAC(acc[v], g, LD(wt + 4 * v));
          }
        }
        float* o = d + (base + (long)y * W + x) * nc + j0;
        for (int v = 0; v < V; v++) ST(o + 4 * v, acc[v]);
      }
    }
  }
}

/* The input gradient for one output channel, channels [c0, c0 + nc) (see input_grad_part). */
static void input_grad_one(float* d, int nc, int c0, const float* dy, const float* w, int N,
                           int H, int W, int cin, int k, int dil) {
  int j = 0, r = (k - 1) / 2;
  for (; j + 32 <= nc; j += 32) input_grad_one_block(d, nc, c0, j, dy, w, N, H, W, cin, k, dil, 8);
  for (; j + 4 <= nc; j += 4) input_grad_one_block(d, nc, c0, j, dy, w, N, H, W, cin, k, dil, 1);
  if (j == nc) return;
  for (long p = 0; p < (long)N * H * W; p++) {
    long img = p / ((long)H * W), y = p / W % H, x = p % W, base = img * H * W;
    for (int jj = j; jj < nc; jj++) {
      float s = 0.f;
      for (int ky = 0; ky < k; ky++) {
        long iy = y - (ky - r) * dil;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < k; kx++) {
          long ix = x - (kx - r) * dil;
          if (ix < 0 || ix >= W) continue;
          s += dy[base + iy * W + ix] * w[(ky * k + kx) * cin + c0 + jj];
        }
      }
      d[p * nc + jj] = s;
    }
  }
}

/* What the weight packers read. */
struct pack_ctx {
  const float* w;
  int taps, cin, co, c0, nc;
};

/* Block g of conv's weights: [t][c][j] = w[t][c][g·BW + j]. */
static void pack_conv(const void* p, int g, float* dst) {
  const struct pack_ctx* q = p;
  int ob = g * BW;
  for (int t = 0; t < q->taps; t++) {
    for (int c = 0; c < q->cin; c++) {
      const float* src = q->w + ((long)t * q->cin + c) * q->co + ob;
      for (int j = 0; j < BW; j++) *dst++ = ob + j < q->co ? src[j] : 0.f;
    }
  }
}

/* Block g of the input gradient's weights: [t][o][j] = w[taps - 1 - t][c0 + g·BW + j][o]. */
static void pack_flipped(const void* p, int g, float* dst) {
  const struct pack_ctx* q = p;
  int jb = g * BW;
  for (int t = 0; t < q->taps; t++) {
    int ft = q->taps - 1 - t;
    for (int o = 0; o < q->co; o++) {
      for (int j = 0; j < BW; j++) {
        *dst++ = jb + j < q->nc ? q->w[((long)ft * q->cin + q->c0 + jb + j) * q->co + o] : 0.f;
      }
    }
  }
}

/* Per-channel bias (padded to whole blocks) for conv_blocks. */
static float bias_pad[MAXC + BW] __attribute__((aligned(16)));

#include "train_winograd.c"

/* out = bias + conv(a ‖ b, w HWIO [k][k][ca+cb][co]). */
__attribute__((export_name("conv")))
void conv(float* out, const float* a, const float* b, const float* w, const float* bias, int N,
          int H, int W, int ca, int cb, int co, int k, int dil) {
  if (k == 3) { /* Winograd F(2x2) where it pays (train_winograd.c) */
    WgWeights g = {w, 0, (long)(ca + cb) * co, co, 1, 0};
    if (wg_conv(out, co, a, ca, b, cb, bias, &g, N, H, W, dil, 0, 1)) return;
  }
  if (co == 1) {
    conv_one(out, a, b, w, bias ? bias[0] : 0.f, N, H, W, ca, cb, k, dil);
    return;
  }
  for (int j = 0; j < co + BW; j++) bias_pad[j] = bias && j < co ? bias[j] : 0.f;
  struct pack_ctx q = {w, k * k, ca + cb, co, 0, 0};
  conv_blocks(out, co, a, ca, b, cb, bias_pad, N, H, W, k, dil, pack_conv, &q);
}

/*
 * The input gradient of `conv` for the `nc` channels [c0, c0 + nc) of its
 * input, written to d (nc channels a pixel): the conv of dy with the kernel
 * flipped and its in/out channels swapped.
 */
static void input_grad_part(float* d, int nc, int c0, const float* dy, const float* w, int N,
                            int H, int W, int cin, int co, int k, int dil) {
  if (k == 3) { /* Winograd F(2x2) of the flipped kernel where it pays (train_winograd.c) */
    WgWeights g = {w, (long)c0 * co, (long)cin * co, 1, co, 1};
    if (wg_conv(d, nc, dy, co, 0, 0, 0, &g, N, H, W, dil, 0, 1)) return;
  }
  if (co == 1) {
    input_grad_one(d, nc, c0, dy, w, N, H, W, cin, k, dil);
    return;
  }
  for (int j = 0; j < nc + BW; j++) bias_pad[j] = 0.f;
  struct pack_ctx q = {w, k * k, cin, co, c0, nc};
  conv_blocks(d, nc, dy, co, 0, 0, bias_pad, N, H, W, k, dil, pack_flipped, &q);
}

__attribute__((export_name("conv_input_grad")))
void conv_input_grad(float* da, float* db, const float* dy, const float* w, int N, int H, int W,
                     int ca, int cb, int co, int k, int dil) {
  input_grad_part(da, ca, 0, dy, w, N, H, W, ca + cb, co, k, dil);
  if (cb) input_grad_part(db, cb, ca, dy, w, N, H, W, ca + cb, co, k, dil);
}

/*
 * dw[t][c + i][ob + j] += Σ_x src[x + sx][c + i] · dy[x][ob + j] for R rows
 * i and the 8 columns j of a block, over one row's overlap [x_lo, x_hi):
 * the sums stay in registers along the row.
 */
static inline __attribute__((always_inline)) void frow(float* dwt, int c, const float* src,
                                                       int cs, const float* dy, int co, int ob,
                                                       int x_lo, int x_hi, int sx, int R) {
  v128_t acc[FR][2];
  for (int i = 0; i < R; i++) {
    for (int v = 0; v < 2; v++) acc[i][v] = ZERO;
  }
  const float* s = src + (long)(x_lo + sx) * cs + c;
  const float* g = dy + (long)x_lo * co + ob;
  for (int x = x_lo; x < x_hi; x++) {
    v128_t gv[2];
    for (int v = 0; v < 2; v++) gv[v] = LD(g + 4 * v);
    for (int i = 0; i < R; i++) {
      v128_t xv = SPL(s + i);
      for (int v = 0; v < 2; v++) MAC(acc[i][v], xv, gv[v]);
    }
    s += cs;
    g += co;
  }
  int nco = co - ob < 8 ? co - ob : 8;
  for (int i = 0; i < R; i++) {
    float* o = dwt + (long)(c + i) * co + ob;
    if (nco == 8) {
      for (int v = 0; v < 2; v++) ST(o + 4 * v, ADD(LD(o + 4 * v), acc[i][v]));
    } else {
      float t[8] __attribute__((aligned(16)));
      for (int v = 0; v < 2; v++) ST(t + 4 * v, acc[i][v]);
      for (int j = 0; j < nco; j++) o[j] += t[j];
    }
  }
}

/* dw[t][c + j][0] += Σ_x src[x + sx][c + j] · dy[x] for 4·V channels j (one output channel). */
static inline __attribute__((always_inline)) void frow1(float* dwt, int c, const float* src,
                                                        int cs, const float* dy, int x_lo,
                                                        int x_hi, int sx, int V) {
  v128_t acc[8];
  for (int v = 0; v < V; v++) acc[v] = ZERO;
  const float* s = src + (long)(x_lo + sx) * cs + c;
  for (int x = x_lo; x < x_hi; x++) {
    v128_t g = SPL(dy + x);
    for (int v = 0; v < V; v++) MAC(acc[v], LD(s + 4 * v), g);
    s += cs;
  }
  for (int v = 0; v < V; v++) ST(dwt + c + 4 * v, ADD(LD(dwt + c + 4 * v), acc[v]));
}

/*
 * dw rows [c0, c0 + nc) of one tap (dwt) from the nc channels of src (cs a
 * pixel), in blocks of FR rows × 8 columns (16 columns measured no faster).
 */
static void filter_row(float* dwt, int c0, const float* src, int cs, int nc, const float* dy,
                       int co, int x_lo, int x_hi, int sx) {
  float* d = dwt + (long)c0 * co;
  int c = 0;
  if (co == 1) {
    /* One output channel (the side outputs): 4 input channels a vector. */
    for (; c + 32 <= nc; c += 32) frow1(d, c, src, cs, dy, x_lo, x_hi, sx, 8);
    for (; c + 4 <= nc; c += 4) frow1(d, c, src, cs, dy, x_lo, x_hi, sx, 1);
  }
  for (; c + FR <= nc; c += FR) {
    for (int ob = 0; ob < co; ob += 8) frow(d, c, src, cs, dy, co, ob, x_lo, x_hi, sx, FR);
  }
  for (; c < nc; c++) {
    for (int ob = 0; ob < co; ob += 8) frow(d, c, src, cs, dy, co, ob, x_lo, x_hi, sx, 1);
  }
}

/*
 * dw (HWIO) = Σ_p (a ‖ b)[p + tap] ⊗ dy[p]; dbias[co] = Σ_p dy[p, co] when
 * given. Row by row (each row's sums in registers, then added to dw), so the
 * rows of a, b and dy a row's taps read stay in the cache.
 */
__attribute__((export_name("conv_filter_grad")))
void conv_filter_grad(float* dw, float* dbias, const float* a, const float* b, const float* dy,
                      int N, int H, int W, int ca, int cb, int co, int k, int dil) {
  int cin = ca + cb, r = (k - 1) / 2, taps = k * k;
  fill(dw, (long)taps * cin * co, 0.f);
  if (dbias) fill(dbias, co, 0.f);
  for (int img = 0; img < N; img++) {
    long base = (long)img * H * W;
    for (int y = 0; y < H; y++) {
      const float* g = dy + (base + (long)y * W) * co;
      if (dbias) {
        int ob = 0;
        for (; ob + 4 <= co; ob += 4) {
          v128_t s = ZERO;
          for (int x = 0; x < W; x++) s = ADD(s, LD(g + (long)x * co + ob));
          ST(dbias + ob, ADD(LD(dbias + ob), s));
        }
        for (; ob < co; ob++) {
          float s = 0.f;
          for (int x = 0; x < W; x++) s += g[(long)x * co + ob];
          dbias[ob] += s;
        }
      }
      for (int ky = 0; ky < k; ky++) {
        int iy = y + (ky - r) * dil;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < k; kx++) {
          int sx = (kx - r) * dil;
          int x_lo = sx < 0 ? -sx : 0, x_hi = sx > 0 ? W - sx : W;
          if (x_lo >= x_hi) continue;
          float* dwt = dw + (long)(ky * k + kx) * cin * co;
          long row = base + (long)iy * W;
          filter_row(dwt, 0, a + row * ca, ca, ca, g, co, x_lo, x_hi, sx);
          if (cb) filter_row(dwt, ca, b + row * cb, cb, cb, g, co, x_lo, x_hi, sx);
        }
      }
    }
  }
}

/* Σ over p pixels of f(x[p][c..c+4)) into sums (double), per 4 channels. */
static inline void add_d(double* s, v128_t v) {
  ST(s, wasm_f64x2_add(LD(s), wasm_f64x2_promote_low_f32x4(v)));
  ST(s + 2, wasm_f64x2_add(LD(s + 2), wasm_f64x2_promote_low_f32x4(
                                          wasm_i32x4_shuffle(v, v, 2, 3, 0, 1))));
}

/*
 * Train-mode BatchNorm + ReLU; mean[c], invstd[c], var_unbiased[c] out.
 * Sums in double: the statistics then do not depend on the pixel count's
 * rounding.
 */
__attribute__((export_name("bn_relu_forward")))
void bn_relu_forward(float* y, const float* x, const float* gamma, const float* beta,
                     float* mean, float* invstd, float* var_unbiased, int P, int C, float eps) {
  int vec = (C & 3) == 0;
  for (int c = 0; c < C; c++) sum_a[c] = sum_b[c] = 0.0;
  for (long p = 0; p < P; p++) {
    const float* xp = x + p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) add_d(sum_a + c, LD(xp + c));
    } else {
      for (int c = 0; c < C; c++) sum_a[c] += xp[c];
    }
  }
  for (int c = 0; c < C; c++) mean[c] = (float)(sum_a[c] / P);
  for (long p = 0; p < P; p++) {
    const float* xp = x + p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) {
        v128_t d = SUB(LD(xp + c), LD(mean + c));
        add_d(sum_b + c, MUL(d, d));
      }
    } else {
      for (int c = 0; c < C; c++) {
        float d = xp[c] - mean[c];
        sum_b[c] += d * d;
      }
    }
  }
  for (int c = 0; c < C; c++) {
    double var = sum_b[c] / P;
    float is = (float)(1.0 / __builtin_sqrt((double)(float)var + (double)eps));
    invstd[c] = is;
    var_unbiased[c] = (float)(var * P / (P > 1 ? P - 1 : 1));
    chan_a[c] = is * gamma[c];
  }
  v128_t z = ZERO;
  for (long p = 0; p < P; p++) {
    const float* xp = x + p * C;
    float* yp = y + p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) {
        v128_t v = ADD(MUL(SUB(LD(xp + c), LD(mean + c)), LD(chan_a + c)), LD(beta + c));
        ST(yp + c, wasm_f32x4_max(v, z));
      }
    } else {
      for (int c = 0; c < C; c++) {
        float v = (xp[c] - mean[c]) * chan_a[c] + beta[c];
        yp[c] = v > 0.f ? v : 0.f;
      }
    }
  }
}

/* The backward of bn_relu_forward (see ../_train_kernels.ts). */
__attribute__((export_name("bn_relu_backward")))
void bn_relu_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                      const float* y, const float* gamma, const float* mean, const float* invstd,
                      int P, int C) {
  int vec = (C & 3) == 0;
  v128_t z = ZERO;
  for (int c = 0; c < C; c++) sum_a[c] = sum_b[c] = 0.0;
  for (long p = 0; p < P; p++) {
    long o = p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) {
        v128_t g = wasm_v128_and(LD(dy + o + c), wasm_f32x4_gt(LD(y + o + c), z));
        v128_t xh = MUL(SUB(LD(x + o + c), LD(mean + c)), LD(invstd + c));
        add_d(sum_a + c, g);
        add_d(sum_b + c, MUL(g, xh));
      }
    } else {
      for (int c = 0; c < C; c++) {
        float g = y[o + c] > 0.f ? dy[o + c] : 0.f;
        float xh = (x[o + c] - mean[c]) * invstd[c];
        sum_a[c] += g;
        sum_b[c] += g * xh;
      }
    }
  }
  float fp = (float)P;
  for (int c = 0; c < C; c++) {
    dbeta[c] = (float)sum_a[c];
    dgamma[c] = (float)sum_b[c];
    chan_a[c] = gamma[c] * invstd[c] / fp;
  }
  v128_t vp = wasm_f32x4_splat(fp);
  for (long p = 0; p < P; p++) {
    long o = p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) {
        v128_t g = wasm_v128_and(LD(dy + o + c), wasm_f32x4_gt(LD(y + o + c), z));
        v128_t xh = MUL(SUB(LD(x + o + c), LD(mean + c)), LD(invstd + c));
        v128_t t = SUB(SUB(MUL(vp, g), LD(dbeta + c)), MUL(xh, LD(dgamma + c)));
        ST(dx + o + c, MUL(LD(chan_a + c), t));
      }
    } else {
      for (int c = 0; c < C; c++) {
        float g = y[o + c] > 0.f ? dy[o + c] : 0.f;
        float xh = (x[o + c] - mean[c]) * invstd[c];
        dx[o + c] = chan_a[c] * (fp * g - dbeta[c] - xh * dgamma[c]);
      }
    }
  }
}

/* The four pixels of pool window (y, x), clamped into the map (a clamped one repeats). */
static void window(long base, int H, int W, int y, int x, long q[4]) {
  int y1 = 2 * y + 1 < H ? 2 * y + 1 : 2 * y, x1 = 2 * x + 1 < W ? 2 * x + 1 : 2 * x;
  q[0] = base + (long)(2 * y) * W + 2 * x;
  q[1] = base + (long)(2 * y) * W + x1;
  q[2] = base + (long)y1 * W + 2 * x;
  q[3] = base + (long)y1 * W + x1;
}

/* 2x2 max pool, stride 2, ceil mode. */
__attribute__((export_name("pool")))
void pool(float* out, const float* in, int N, int H, int W, int C) {
  int oh = (H + 1) / 2, ow = (W + 1) / 2;
  for (int img = 0; img < N; img++) {
    long base = (long)img * H * W;
    for (int y = 0; y < oh; y++) {
      for (int x = 0; x < ow; x++) {
        long q[4];
        window(base, H, W, y, x, q);
        float* o = out + (((long)img * oh + y) * ow + x) * C;
        const float *p0 = in + q[0] * C, *p1 = in + q[1] * C, *p2 = in + q[2] * C,
                    *p3 = in + q[3] * C;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          ST(o + c, wasm_f32x4_max(wasm_f32x4_max(LD(p0 + c), LD(p1 + c)),
                                   wasm_f32x4_max(LD(p2 + c), LD(p3 + c))));
        }
        for (; c < C; c++) {
          float m0 = p0[c] > p1[c] ? p0[c] : p1[c], m1 = p2[c] > p3[c] ? p2[c] : p3[c];
          o[c] = m0 > m1 ? m0 : m1;
        }
      }
    }
  }
}

/* The pool's input gradient: each dy to its window's first maximum (row-major). */
__attribute__((export_name("pool_grad")))
void pool_grad(float* dx, const float* dy, const float* x, int N, int H, int W, int C) {
  int oh = (H + 1) / 2, ow = (W + 1) / 2;
  for (int img = 0; img < N; img++) {
    long base = (long)img * H * W;
    for (int y = 0; y < oh; y++) {
      for (int xo = 0; xo < ow; xo++) {
        long q[4];
        window(base, H, W, y, xo, q);
        /* A clamped position repeats an earlier one: it is never the first maximum. */
        int has1 = q[1] != q[0], has2 = q[2] != q[0], has3 = q[3] != q[1] && q[3] != q[2];
        const float* g = dy + (((long)img * oh + y) * ow + xo) * C;
        const float *p0 = x + q[0] * C, *p1 = x + q[1] * C, *p2 = x + q[2] * C,
                    *p3 = x + q[3] * C;
        float *d0 = dx + q[0] * C, *d1 = dx + q[1] * C, *d2 = dx + q[2] * C,
              *d3 = dx + q[3] * C;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t v0 = LD(p0 + c), v1 = LD(p1 + c), v2 = LD(p2 + c), v3 = LD(p3 + c);
          v128_t m = wasm_f32x4_max(wasm_f32x4_max(v0, v1), wasm_f32x4_max(v2, v3));
          v128_t e0 = wasm_f32x4_eq(v0, m);
          v128_t taken = e0;
          v128_t e1 = wasm_v128_andnot(wasm_f32x4_eq(v1, m), taken);
          taken = wasm_v128_or(taken, e1);
          v128_t e2 = wasm_v128_andnot(wasm_f32x4_eq(v2, m), taken);
          taken = wasm_v128_or(taken, e2);
          v128_t e3 = wasm_v128_andnot(wasm_f32x4_eq(v3, m), taken);
          v128_t gv = LD(g + c);
          if (has3) ST(d3 + c, wasm_v128_and(gv, e3));
          if (has2) ST(d2 + c, wasm_v128_and(gv, e2));
          if (has1) ST(d1 + c, wasm_v128_and(gv, e1));
          ST(d0 + c, wasm_v128_and(gv, e0));
        }
        for (; c < C; c++) {
          float v[4] = {p0[c], p1[c], p2[c], p3[c]};
          int best = 0;
          if (has1 && v[1] > v[best]) best = 1;
          if (has2 && v[2] > v[best]) best = 2;
          if (has3 && v[3] > v[best]) best = 3;
          if (has3) d3[c] = best == 3 ? g[c] : 0.f;
          if (has2) d2[c] = best == 2 ? g[c] : 0.f;
          if (has1) d1[c] = best == 1 ? g[c] : 0.f;
          d0[c] = best == 0 ? g[c] : 0.f;
        }
      }
    }
  }
}

/* PyTorch's bilinear source of output o (align_corners=False), as bilinearMatrix. */
static void source(int o, int in, int out, int* i0, int* i1, float* l1) {
  float scale = (float)in / (float)out;
  float s = scale * ((float)o + 0.5f) - 0.5f;
  if (s < 0.f) s = 0.f;
  int f = (int)s;
  *i0 = f < in - 1 ? f : in - 1;
  *i1 = *i0 < in - 1 ? *i0 + 1 : *i0;
  *l1 = s - (float)*i0;
}

/* out[oy, ox] = Σ Ah[oy, y] · Aw[ox, x] · x[y, x]. */
__attribute__((export_name("resize")))
void resize(float* out, const float* in, int N, int H, int W, int C, int OH, int OW) {
  for (int img = 0; img < N; img++) {
    const float* src = in + (long)img * H * W * C;
    for (int oy = 0; oy < OH; oy++) {
      int y0, y1;
      float ly;
      source(oy, H, OH, &y0, &y1, &ly);
      const float* r0 = src + (long)y0 * W * C;
      const float* r1 = src + (long)y1 * W * C;
      for (int ox = 0; ox < OW; ox++) {
        int x0, x1;
        float lx;
        source(ox, W, OW, &x0, &x1, &lx);
        float* o = out + (((long)img * OH + oy) * OW + ox) * C;
        float mx = 1.f - lx, my = 1.f - ly;
        int c = 0;
        v128_t vlx = wasm_f32x4_splat(lx), vly = wasm_f32x4_splat(ly);
        v128_t vmx = wasm_f32x4_splat(mx), vmy = wasm_f32x4_splat(my);
        for (; c + 4 <= C; c += 4) {
          v128_t top = ADD(MUL(LD(r0 + x0 * C + c), vmx), MUL(LD(r0 + x1 * C + c), vlx));
          v128_t bot = ADD(MUL(LD(r1 + x0 * C + c), vmx), MUL(LD(r1 + x1 * C + c), vlx));
          ST(o + c, ADD(MUL(top, vmy), MUL(bot, vly)));
        }
        for (; c < C; c++) {
          float top = r0[x0 * C + c] * mx + r0[x1 * C + c] * lx;
          float bot = r1[x0 * C + c] * mx + r1[x1 * C + c] * lx;
          o[c] = top * my + bot * ly;
        }
      }
    }
  }
}

/* dst[0..C) += s · src[0..C). */
static inline void axpy(float* dst, const float* src, float s, int C) {
  v128_t vs = wasm_f32x4_splat(s);
  int c = 0;
  for (; c + 4 <= C; c += 4) ST(dst + c, ADD(LD(dst + c), MUL(vs, LD(src + c))));
  for (; c < C; c++) dst[c] += s * src[c];
}

/* The resize's adjoint: dx = Ahᵀ · dy · Aw, scattered output pixel by output pixel. */
__attribute__((export_name("resize_grad")))
void resize_grad(float* dx, const float* dy, int N, int H, int W, int C, int OH, int OW) {
  fill(dx, (long)N * H * W * C, 0.f);
  for (int img = 0; img < N; img++) {
    float* d = dx + (long)img * H * W * C;
    for (int oy = 0; oy < OH; oy++) {
      int y0, y1;
      float ly;
      source(oy, H, OH, &y0, &y1, &ly);
      float my = 1.f - ly;
      for (int ox = 0; ox < OW; ox++) {
        int x0, x1;
        float lx;
        source(ox, W, OW, &x0, &x1, &lx);
        float mx = 1.f - lx;
        const float* g = dy + (((long)img * OH + oy) * OW + ox) * C;
        axpy(d + ((long)y0 * W + x0) * C, g, my * mx, C);
        axpy(d + ((long)y0 * W + x1) * C, g, my * lx, C);
        axpy(d + ((long)y1 * W + x0) * C, g, ly * mx, C);
        axpy(d + ((long)y1 * W + x1) * C, g, ly * lx, C);
      }
    }
  }
}

/* dst[i] += src[i] for i < len. */
__attribute__((export_name("accumulate")))
void accumulate(float* dst, const float* src, int len) {
  int i = 0;
  for (; i + 4 <= len; i += 4) ST(dst + i, ADD(LD(dst + i), LD(src + i)));
  for (; i < len; i++) dst[i] += src[i];
}
