/*
 * The CPU training step's kernels (wasm SIMD128), driven by
 * ../_train_kernels_wasm.ts; semantics in ../_train_kernels.ts. Maps are NHWC
 * float32 over `P = n·h·w` pixels; pointers are byte offsets into the
 * memory, 0 for "none". Build: ./build_train.sh (clang + wasm-ld).
 * Every multiply-add goes through MAC: mul + add in the plain build (results
 * depend on the inputs only), relaxed-SIMD fused multiply-add in the U2_FMA
 * build (fused where the CPU has FMA, so results may differ between machines).
 * A fixed order throughout: the same bits on every run.
 * Threads: every exported kernel takes trailing (part, parts) and does part
 * `part` of `parts` of its work (output rows, channel ranges, Winograd
 * tile blocks or BatchNorm pixel blocks), each value computed exactly as
 * with one part: the same bits for any `parts`. Scratch a part writes is its
 * own (indexed by part), or a block's (BatchNorm's partial sums).
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
 * the conv sums PX pixels × BW = 4·NV output channels (the filter gradient's
 * FC × FO tiles are defined with it). */
#define PX 4
#define NV 4
#define BW (4 * NV)
/* The most channels a conv input (ca + cb, or co for the input gradient) may have. */
#define MAXC 8192
/* The most parts a call may be split into (threads). */
#define MAXPARTS 16

/* Floats of each part's packed weights: blocks of BW output channels, [k·k][cin][BW] each. */
#define PACKED (9 * MAXC * BW)

static float zeros[MAXC] __attribute__((aligned(16)));
/*
 * The parts' packed weights, PACKED floats each (as many blocks as fit):
 * in the heap (set_packed), not static data, so that an instance commits
 * memory only for the parts it runs.
 */
static float* packed;
extern unsigned char __heap_base;

/** First free byte after the module's own data. */
__attribute__((export_name("heap_base"))) int heap_base(void) { return (int)&__heap_base; }

/** The most channels a conv input may have. */
__attribute__((export_name("max_channels"))) int max_channels(void) { return MAXC; }

/** Floats of one part's packed weights (the caller reserves them per part, 16-byte aligned). */
__attribute__((export_name("packed_floats"))) int packed_floats(void) { return PACKED; }

/** Where the parts' packed weights start (once, before any kernel runs; parts ≤ MAXPARTS). */
__attribute__((export_name("set_packed"))) void set_packed(float* p) { packed = p; }

static void fill(float* p, long len, float v) {
  for (long i = 0; i < len; i++) p[i] = v;
}

/* Units [*lo, *hi) of part `part` of `parts` of n units (contiguous, in order). */
static void share(long n, int part, int parts, long* lo, long* hi) {
  *lo = n * part / parts;
  *hi = n * (part + 1) / parts;
}

/* Channels [*lo, *hi) of part `part` of c channels, in blocks of `unit` (the last may be short). */
static void share_channels(int c, int unit, int part, int parts, int* lo, int* hi) {
  long u_lo, u_hi;
  share((c + unit - 1) / unit, part, parts, &u_lo, &u_hi);
  *lo = (int)u_lo * unit;
  *hi = (int)u_hi * unit < c ? (int)u_hi * unit : c;
}

/* The lane i of x in every lane. */
#define LANE(x, i) wasm_i32x4_shuffle(x, x, i, i, i, i)

/*
 * acc[p] += Σ_c src[p][c] · w[c][0..BW) for the PX pixels, in channel order;
 * returns the weights past them. Four channels a pixel are loaded at once
 * and broadcast by shuffles (1.15-1.3x the speed of a load-splat each in
 * V8, measured), the rest one by one.
 */
static inline const float* taps(v128_t acc[PX][NV], const float* const* src, int n,
                                const float* w) {
  int c = 0;
  for (; c + 4 <= n; c += 4) {
    for (int p = 0; p < PX; p++) {
      v128_t x4 = LD(src[p] + c);
      v128_t x0 = LANE(x4, 0), x1 = LANE(x4, 1), x2 = LANE(x4, 2), x3 = LANE(x4, 3);
      for (int v = 0; v < NV; v++) MAC(acc[p][v], x0, LD(w + 4 * v));
      for (int v = 0; v < NV; v++) MAC(acc[p][v], x1, LD(w + BW + 4 * v));
      for (int v = 0; v < NV; v++) MAC(acc[p][v], x2, LD(w + 2 * BW + 4 * v));
      for (int v = 0; v < NV; v++) MAC(acc[p][v], x3, LD(w + 3 * BW + 4 * v));
    }
    w += 4 * BW;
  }
  for (; c < n; c++) {
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
 * Bytes of packed weights (a chunk of blocks) or of input rows that conv_blocks
 * counts on staying in a core's cache (L2 is 1-2 MiB a core on today's x64).
 */
#define CACHE_BYTES (1 << 20)

/*
 * out (oc channels) = bias + conv(a ‖ b) with the weights pack(w, block,
 * dst) writes block by block into this part's `packed`. Two orders, each
 * output (row, block) computed alike (the same bits either way, any parts):
 * - rows outer (most maps): as many blocks at a time as fit, each row of the
 *   map for all of them (its output lines written once, each input row read
 *   once a chunk); part `part` of `parts` does its share of the N·H rows
 *   (packing the weights itself: a small cost against the rows').
 * - blocks outer, where the chunk's weights would not stay in cache but the
 *   map's input rows do (deep layers: few pixels, many channels): each block
 *   packed once and run over every row, so its weights are read from memory
 *   once, not once a row; part `part` of `parts` does a contiguous run of the
 *   (block, row) pairs, block-major, so that the parts take different output
 *   channels and each packs only the blocks it runs (1.1-1.35x on full's
 *   3x3- and 6x6-map convs at two threads, where every part had packed and
 *   streamed all the weights; measured with bench/cpu/kernel_ab.ts).
 */
static void conv_blocks(float* out, int oc, const float* a, int ca, const float* b, int cb,
                        const float* bias, int N, int H, int W, int k, int dil,
                        void (*pack)(const void*, int, float*), const void* ctx, int part,
                        int parts) {
  long block = (long)k * k * (ca + cb) * BW, rows = (long)N * H, r_lo, r_hi;
  int nb = (oc + BW - 1) / BW, fit = (int)(PACKED / block);
  float* pk = packed + (long)part * PACKED;
  long chunk_bytes = (long)(nb < fit ? nb : fit) * block * 4;
  long input_bytes = rows * W * (ca + cb) * 4;
  if (rows == 0) return;
  if (chunk_bytes > CACHE_BYTES && input_bytes <= CACHE_BYTES) {
    long u_lo, u_hi;
    share((long)nb * rows, part, parts, &u_lo, &u_hi);
    for (long g = u_lo / rows; g < nb && g * rows < u_hi; g++) {
      int ob = (int)g * BW, nco = oc - ob < BW ? oc - ob : BW;
      pack(ctx, (int)g, pk);
      long lo = u_lo > g * rows ? u_lo - g * rows : 0;
      long hi = u_hi < (g + 1) * rows ? u_hi - g * rows : rows;
      for (long r = lo; r < hi; r++) {
        int img = (int)(r / H), y = (int)(r % H);
        conv_row(out, oc, ob, nco, a, ca, b, cb, bias + ob, pk, (long)img * H * W, y, H, W, k,
                 dil);
      }
    }
    return;
  }
  share(rows, part, parts, &r_lo, &r_hi);
  for (int g0 = 0; g0 < nb && r_lo < r_hi; g0 += fit) {
    int g1 = g0 + fit < nb ? g0 + fit : nb;
    for (int g = g0; g < g1; g++) pack(ctx, g, pk + (g - g0) * block);
    for (long r = r_lo; r < r_hi; r++) {
      int img = (int)(r / H), y = (int)(r % H);
      for (int g = g0; g < g1; g++) {
        int ob = g * BW, nco = oc - ob < BW ? oc - ob : BW;
        conv_row(out, oc, ob, nco, a, ca, b, cb, bias + ob, pk + (g - g0) * block,
                 (long)img * H * W, y, H, W, k, dil);
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
                     int N, int H, int W, int ca, int cb, int k, int dil, int part, int parts) {
  int cin = ca + cb, r = (k - 1) / 2;
  long r_lo, r_hi;
  share((long)N * H, part, parts, &r_lo, &r_hi);
  for (long row = r_lo; row < r_hi; row++) {
    long base = row / H * H * W;
    int y = (int)(row % H);
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

/*
 * d[p][j] = Σ_t dy[p - tap t] · w[t][c0 + j] for the channels j in
 * [j0, j0 + 4·V) (one output channel: dy has one channel a pixel).
 */
static inline __attribute__((always_inline)) void input_grad_one_block(
    float* d, int nc, int c0, int j0, const float* dy, const float* w, long r_lo, long r_hi,
    int H, int W, int cin, int k, int dil, int V) {
  int r = (k - 1) / 2;
  for (long row = r_lo; row < r_hi; row++) {
    long base = row / H * H * W;
    int y = (int)(row % H);
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

/*
 * The input gradient for one output channel, channels [c0, c0 + nc) (see
 * input_grad_part); part `part` of `parts` of the N·H rows.
 */
static void input_grad_one(float* d, int nc, int c0, const float* dy, const float* w, int N,
                           int H, int W, int cin, int k, int dil, int part, int parts) {
  int j = 0, r = (k - 1) / 2;
  long lo, hi;
  share((long)N * H, part, parts, &lo, &hi);
  for (; j + 32 <= nc; j += 32) {
    input_grad_one_block(d, nc, c0, j, dy, w, lo, hi, H, W, cin, k, dil, 8);
  }
  for (; j + 4 <= nc; j += 4) {
    input_grad_one_block(d, nc, c0, j, dy, w, lo, hi, H, W, cin, k, dil, 1);
  }
  if (j == nc) return;
  for (long p = lo * W; p < hi * W; p++) {
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

/* Each part's per-channel bias (padded to whole blocks) for conv_blocks. */
static float bias_pad[MAXPARTS][MAXC + BW] __attribute__((aligned(16)));

#include "train_winograd.c"

/* out = bias + conv(a ‖ b, w HWIO [k][k][ca+cb][co]). */
__attribute__((export_name("conv")))
void conv(float* out, const float* a, const float* b, const float* w, const float* bias, int N,
          int H, int W, int ca, int cb, int co, int k, int dil, int part, int parts) {
  if (k == 3) { /* Winograd F(2x2) where it pays (train_winograd.c) */
    WgWeights g = {w, 0, (long)(ca + cb) * co, co, 1, 0};
    if (wg_conv(out, 0, co, co, a, ca, b, cb, bias, &g, N, H, W, dil, part, parts)) return;
  }
  if (co == 1) {
    conv_one(out, a, b, w, bias ? bias[0] : 0.f, N, H, W, ca, cb, k, dil, part, parts);
    return;
  }
  float* bp = bias_pad[part];
  for (int j = 0; j < co + BW; j++) bp[j] = bias && j < co ? bias[j] : 0.f;
  struct pack_ctx q = {w, k * k, ca + cb, co, 0, 0};
  conv_blocks(out, co, a, ca, b, cb, bp, N, H, W, k, dil, pack_conv, &q, part, parts);
}

/*
 * The input gradient of `conv` for the `nc` channels [c0, c0 + nc) of its
 * input, written to d (nc channels a pixel): the conv of dy with the kernel
 * flipped and its in/out channels swapped.
 */
static void input_grad_part(float* d, int nc, int c0, const float* dy, const float* w, int N,
                            int H, int W, int cin, int co, int k, int dil, int part, int parts) {
  if (k == 3) { /* Winograd F(2x2) of the flipped kernel where it pays (train_winograd.c) */
    WgWeights g = {w, (long)c0 * co, (long)cin * co, 1, co, 1};
    if (wg_conv(d, 0, nc, nc, dy, co, 0, 0, 0, &g, N, H, W, dil, part, parts)) return;
  }
  if (co == 1) {
    input_grad_one(d, nc, c0, dy, w, N, H, W, cin, k, dil, part, parts);
    return;
  }
  float* bp = bias_pad[part];
  for (int j = 0; j < nc + BW; j++) bp[j] = 0.f;
  struct pack_ctx q = {w, k * k, cin, co, c0, nc};
  conv_blocks(d, nc, dy, co, 0, 0, bp, N, H, W, k, dil, pack_flipped, &q, part, parts);
}

__attribute__((export_name("conv_input_grad")))
void conv_input_grad(float* da, float* db, const float* dy, const float* w, int N, int H, int W,
                     int ca, int cb, int co, int k, int dil, int part, int parts) {
  if (k == 3 && cb) { /* both inputs' gradients in one Winograd conv: dy transformed once */
    WgWeights g = {w, 0, (long)(ca + cb) * co, 1, co, 1};
    if (wg_conv(da, db, ca, ca + cb, dy, co, 0, 0, 0, &g, N, H, W, dil, part, parts)) return;
  }
  input_grad_part(da, ca, 0, dy, w, N, H, W, ca + cb, co, k, dil, part, parts);
  if (cb) input_grad_part(db, cb, ca, dy, w, N, H, W, ca + cb, co, k, dil, part, parts);
}

/*
 * The filter gradient as a GEMM over pixels: dw[t] = Σ_p src_t[p] ⊗ dy[p],
 * src_t the input shifted by tap t (1x1 convs; 3x3 ones by Winograd, below,
 * on the same register tiles). The pixels go in panels (FG_PX of them:
 * whole rows, or a row's segments where a row is longer), the same for any
 * split; per panel, dy and the taps' source rows are packed in blocks of FO
 * output / FC input channels, pixel-major ([block][pixel][FO or FC]), and
 * register tiles of FC × FO sums run over a tap's pixels of the panel, then
 * add into dw: each value sums its panels in order, each panel in pixel
 * order, whatever the channel blocks and ranges.
 */
#define FC 4
#define FO 8
#define FG_PX 256
/* The most channels of a and b (and of dy) packed at a time. */
#define FG_CH 128

/* A panel: rows [y0, y0 + R), columns [x0, x0 + L) of the image at pixel `base`. */
typedef struct {
  long base; /* the image's first pixel */
  int H, W, y0, R, x0, L;
} fg_panel;

/*
 * Packs dy's channels [o0, o1) of the panel into g: [(o - o0) / FO][pixel][FO],
 * zeros past o1 in the last block.
 */
static void fg_pack_dy(float* g, const float* dy, int co, int o0, int o1, const fg_panel* q) {
  int np = q->R * q->L;
  for (int ob = o0; ob < o1; ob += FO) {
    int n = o1 - ob < FO ? o1 - ob : FO;
    float* d = g + (long)(ob - o0) / FO * np * FO;
    for (int rr = 0; rr < q->R; rr++) {
      const float* s = dy + (q->base + (long)(q->y0 + rr) * q->W + q->x0) * co + ob;
      for (int x = 0; x < q->L; x++, s += co, d += FO) {
        if (n == FO) {
          for (int v = 0; v < FO / 4; v++) ST(d + 4 * v, LD(s + 4 * v));
        } else {
          for (int j = 0; j < FO; j++) d[j] = j < n ? s[j] : 0.f;
        }
      }
    }
  }
}

/*
 * Packs channels [c0, c1) of a ‖ b at rows y0 + rr + dy0 (those in the image)
 * and columns [cs, cs + pw) into s: [(c - c0) / FC][rr][col][FC], zeros past
 * c1 in the last block.
 */
static void fg_pack_src(float* s, const float* a, int ca, const float* b, int cb, int c0,
                        int c1, const fg_panel* q, int dy0, int cs, int pw) {
  for (int cbk = c0; cbk < c1; cbk += FC) {
    float* d0 = s + (long)(cbk - c0) / FC * q->R * pw * FC;
    for (int rr = 0; rr < q->R; rr++) {
      int iy = q->y0 + rr + dy0;
      if (iy < 0 || iy >= q->H) continue;
      long px = q->base + (long)iy * q->W + cs;
      float* d = d0 + (long)rr * pw * FC;
      if (cbk + FC <= c1 && (cbk + FC <= ca || cbk >= ca)) {
        const float* p = cbk < ca ? a + px * ca + cbk : b + px * cb + cbk - ca;
        int st = cbk < ca ? ca : cb;
        for (int x = 0; x < pw; x++, p += st, d += FC) ST(d, LD(p));
      } else {
        for (int x = 0; x < pw; x++, d += FC) {
          for (int j = 0; j < FC; j++) {
            int c = cbk + j;
            d[j] = c >= c1 ? 0.f : c < ca ? a[(px + x) * ca + c] : b[(px + x) * cb + c - ca];
          }
        }
      }
    }
  }
}

/*
 * One pixel's FC × FO products into acc: the FC inputs as one load and lane
 * splats (loads cost a bounds check each in V8), the FO gradients as FO/4 loads.
 */
#define FG_STEP(acc, sp, gp)                                                         \
  do {                                                                               \
    v128_t sv_ = LD(sp), gv_[FO / 4];                                                \
    for (int v = 0; v < FO / 4; v++) gv_[v] = LD((gp) + 4 * v);                      \
    v128_t x0_ = wasm_i32x4_shuffle(sv_, sv_, 0, 0, 0, 0);                           \
    for (int v = 0; v < FO / 4; v++) MAC(acc[0][v], x0_, gv_[v]);                   \
    v128_t x1_ = wasm_i32x4_shuffle(sv_, sv_, 1, 1, 1, 1);                           \
    for (int v = 0; v < FO / 4; v++) MAC(acc[1][v], x1_, gv_[v]);                   \
    v128_t x2_ = wasm_i32x4_shuffle(sv_, sv_, 2, 2, 2, 2);                           \
    for (int v = 0; v < FO / 4; v++) MAC(acc[2][v], x2_, gv_[v]);                   \
    v128_t x3_ = wasm_i32x4_shuffle(sv_, sv_, 3, 3, 3, 3);                           \
    for (int v = 0; v < FO / 4; v++) MAC(acc[3][v], x3_, gv_[v]);                   \
  } while (0)

/*
 * dw[i][j] (i < nci rows of co, j < nco) += Σ over rows [r_lo, r_hi) and
 * columns [x_lo, x_hi) of s[row][x][i] · g[row][x][j]: FC × FO sums in registers.
 */
static inline __attribute__((always_inline)) void fg_tile(float* dw, int co, int nci, int nco,
                                                          const float* s, int srow,
                                                          const float* g, int grow, int r_lo,
                                                          int r_hi, int x_lo, int x_hi) {
  v128_t acc[FC][FO / 4];
  for (int i = 0; i < FC; i++) {
    for (int v = 0; v < FO / 4; v++) acc[i][v] = ZERO;
  }
  for (int rr = r_lo; rr < r_hi; rr++) {
    const float* sp = s + (long)rr * srow + x_lo * FC;
    const float* gp = g + (long)rr * grow + x_lo * FO;
    for (int x = x_lo; x < x_hi; x++, sp += FC, gp += FO) FG_STEP(acc, sp, gp);
  }
  for (int i = 0; i < nci; i++) {
    float* o = dw + (long)i * co;
    if (nco == FO) {
      for (int v = 0; v < FO / 4; v++) ST(o + 4 * v, ADD(LD(o + 4 * v), acc[i][v]));
    } else {
      float t[FO] __attribute__((aligned(16)));
      for (int v = 0; v < FO / 4; v++) ST(t + 4 * v, acc[i][v]);
      for (int j = 0; j < nco; j++) o[j] += t[j];
    }
  }
}

/*
 * One panel's share of dw: input channels [c0, c1), output channels [o0, o1)
 * (dy packed in g), taps' source rows packed into s (kstep taps along x at a
 * time: 3 share one packing with its halo, or 1 where that would not fit).
 */
static void fg_panel_grad(float* dw, float* s, const float* g, const float* a, int ca,
                          const float* b, int cb, int cin, int co, int c0, int c1, int o0,
                          int o1, const fg_panel* q, int k, int dil, int kstep) {
  int r = (k - 1) / 2, np = q->R * q->L;
  for (int ky = 0; ky < k; ky++) {
    int dy0 = (ky - r) * dil;
    /* Rows of the panel whose source row is in the image. */
    int r_lo = -dy0 - q->y0 > 0 ? -dy0 - q->y0 : 0;
    int r_hi = q->H - dy0 - q->y0 < q->R ? q->H - dy0 - q->y0 : q->R;
    if (r_lo >= r_hi) continue;
    for (int kx0 = 0; kx0 < k; kx0 += kstep) {
      /* Source columns of taps kx0 .. kx0 + kstep - 1, within the image. */
      int cs = q->x0 + (kx0 - r) * dil, ce = q->x0 + q->L + (kx0 + kstep - 1 - r) * dil;
      if (cs < 0) cs = 0;
      if (ce > q->W) ce = q->W;
      if (cs >= ce) continue;
      int pw = ce - cs;
      fg_pack_src(s, a, ca, b, cb, c0, c1, q, dy0, cs, pw);
      for (int kx = kx0; kx < kx0 + kstep; kx++) {
        int sx = (kx - r) * dil;
        /* Panel columns whose source column is in the image. */
        int x_lo = -sx - q->x0 > 0 ? -sx - q->x0 : 0;
        int x_hi = q->W - sx - q->x0 < q->L ? q->W - sx - q->x0 : q->L;
        if (x_lo >= x_hi) continue;
        /* Packed column of panel column x: x + q->x0 + sx - cs (≥ 0 where valid). */
        int off = q->x0 + sx - cs;
        float* dwt = dw + (long)(ky * k + kx) * cin * co;
        for (int c = c0; c < c1; c += FC) {
          const float* sb = s + (long)(c - c0) / FC * q->R * pw * FC + off * FC;
          int nci = c1 - c < FC ? c1 - c : FC;
          for (int ob = o0; ob < o1; ob += FO) {
            const float* gb = g + (long)(ob - o0) / FO * np * FO;
            int nco = o1 - ob < FO ? o1 - ob : FO;
            fg_tile(dwt + (long)c * co + ob, co, nci, nco, sb, pw * FC, gb, q->L * FO, r_lo,
                    r_hi, x_lo, x_hi);
          }
        }
      }
    }
  }
}

/* dw[t][c][0] += Σ_x src[x + sx][c] · dy[x] for 4·V channels c (one output channel). */
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

/* One output channel (the side outputs): dw rows [c_lo, c_hi) of one tap along one row. */
static void filter_row1(float* dwt, const float* src, int cs, int c_lo, int c_hi,
                        const float* dy, int x_lo, int x_hi, int sx) {
  int c = c_lo;
  for (; c + 32 <= c_hi; c += 32) frow1(dwt, c, src, cs, dy, x_lo, x_hi, sx, 8);
  for (; c + 4 <= c_hi; c += 4) frow1(dwt, c, src, cs, dy, x_lo, x_hi, sx, 1);
  for (; c < c_hi; c++) {
    v128_t t = ZERO;
    for (int x = x_lo; x < x_hi; x++) MAC(t, SPL(src + (long)(x + sx) * cs + c), SPL(dy + x));
    dwt[c] += wasm_f32x4_extract_lane(t, 0);
  }
}

/*
 * The 3x3 filter gradient as Winograd F(3x3, 2x2) (fewer multiply-adds: 16
 * per 2x2 pixels instead of 36): per tile of 2x2 dy pixels (of one dilation
 * phase: pixels d apart) and the 4x4 inputs around them (zeros outside the
 * image), U = A·g·Aᵀ and V = Bᵀ·s·B; M[ξ] = Σ_tiles V[ξ] ⊗ U[ξ] (16 GEMMs
 * over the tiles, the register tiles above), then dw = Gᵀ·M·G. The tiles go
 * in a fixed order (image, phase, rows, columns) in panels of FGW_T, the
 * same for any split.
 */
#define FGW_T 64
/* Its scratch (M, V, U), in the part's packed-weights area. */
_Static_assert(16 * FG_CH * FG_CH + 16 * FGW_T * 2 * FG_CH <= PACKED,
               "filter-gradient scratch past a part's packed area");

/* The 4 channels [c, c + 4) of a ‖ b at pixel px (zeros past c1). */
static inline v128_t fgw_ld(const float* a, int ca, const float* b, int cb, int c, int c1,
                            long px) {
  if (c + 4 <= c1 && c + 4 <= ca) return LD(a + px * ca + c);
  if (c + 4 <= c1 && c >= ca) return LD(b + px * cb + c - ca);
  float t[4] __attribute__((aligned(16)));
  for (int j = 0; j < 4; j++) {
    int cj = c + j;
    t[j] = cj >= c1 ? 0.f : cj < ca ? a[px * ca + cj] : b[px * cb + cj - ca];
  }
  return LD(t);
}

/* The 1-D input transform Bᵀ·d of 4 vectors, in place. */
static inline void fgw_bt(v128_t* d, int st) {
  v128_t d0 = d[0], d1 = d[st], d2 = d[2 * st], d3 = d[3 * st];
  d[0] = SUB(d0, d2);
  d[st] = ADD(d1, d2);
  d[2 * st] = SUB(d2, d1);
  d[3 * st] = SUB(d1, d3);
}

/* The 1-D gradient transform A·g: 2 vectors to 4. */
static inline void fgw_a(v128_t* u, int st, v128_t g0, v128_t g1) {
  u[0] = g0;
  u[st] = ADD(g0, g1);
  u[2 * st] = SUB(g0, g1);
  u[3 * st] = SUB(ZERO, g1);
}

/*
 * One panel of nt tiles (origins ty[i], tx[i] in image `base`): V into v
 * ([cblk][ξ][tile][FC]) for channels [c0, c1), U into u ([oblk][ξ][tile][FO])
 * for [o0, o1), then M (m: [ξ][ccp][ocp]) += the 16 GEMMs.
 */
static void fgw_panel(float* m, float* v, float* u, const long* tb, const int* ty, const int* tx,
                      int nt, const float* a, int ca, const float* b, int cb, const float* dy,
                      int co, int c0, int c1, int o0, int o1, int ccp, int ocp, int H, int W,
                      int dil) {
  for (int c = c0; c < c1; c += FC) {
    float* vb = v + (long)(c - c0) / FC * 16 * nt * FC;
    /* Whether the 4 channels are all of a or all of b: then inner tiles load directly. */
    int whole = c + 4 <= c1 && (c + 4 <= ca || c >= ca), st = c < ca ? ca : cb;
    const float* src = c < ca ? a + c : b + c - ca;
    for (int i = 0; i < nt; i++) {
      v128_t d[16];
      int y0 = ty[i] - dil, x0 = tx[i] - dil;
      if (whole && y0 >= 0 && x0 >= 0 && y0 + 3 * dil < H && x0 + 3 * dil < W) {
        const float* s0 = src + (tb[i] + (long)y0 * W + x0) * st;
        long ys = (long)dil * W * st, xs = (long)dil * st;
        for (int p = 0; p < 4; p++) {
          for (int q = 0; q < 4; q++) d[p * 4 + q] = LD(s0 + p * ys + q * xs);
        }
      } else {
        for (int p = 0; p < 4; p++) {
          int y = y0 + p * dil;
          for (int q = 0; q < 4; q++) {
            int x = x0 + q * dil;
            d[p * 4 + q] = y < 0 || y >= H || x < 0 || x >= W
                               ? ZERO
                               : fgw_ld(a, ca, b, cb, c, c1, tb[i] + (long)y * W + x);
          }
        }
      }
      for (int p = 0; p < 4; p++) fgw_bt(d + p * 4, 1);
      for (int q = 0; q < 4; q++) fgw_bt(d + q, 4);
      for (int x = 0; x < 16; x++) ST(vb + ((long)x * nt + i) * FC, d[x]);
    }
  }
  for (int ob = o0; ob < o1; ob += FO) {
    float* ub = u + (long)(ob - o0) / FO * 16 * nt * FO;
    int n = o1 - ob < FO ? o1 - ob : FO;
    for (int i = 0; i < nt; i++) {
      for (int h = 0; h < FO / 4; h++) {
        v128_t g[4], t[16];
        for (int e = 0; e < 4; e++) {
          int y = ty[i] + (e >> 1) * dil, x = tx[i] + (e & 1) * dil;
          const float* p = dy + (tb[i] + (long)y * W + x) * co + ob + 4 * h;
          if (y >= H || x >= W || 4 * h >= n) {
            g[e] = ZERO;
          } else if (4 * h + 4 <= n) {
            g[e] = LD(p);
          } else {
            float s[4] __attribute__((aligned(16)));
            for (int j = 0; j < 4; j++) s[j] = 4 * h + j < n ? p[j] : 0.f;
            g[e] = LD(s);
          }
        }
        /* Rows (dy's 2 rows to 4), then columns. */
        fgw_a(t, 4, g[0], g[2]);
        fgw_a(t + 1, 4, g[1], g[3]);
        for (int p = 0; p < 4; p++) fgw_a(t + p * 4, 1, t[p * 4], t[p * 4 + 1]);
        for (int x = 0; x < 16; x++) ST(ub + ((long)x * nt + i) * FO + 4 * h, t[x]);
      }
    }
  }
  for (int x = 0; x < 16; x++) {
    for (int c = c0; c < c1; c += FC) {
      const float* sb = v + ((long)(c - c0) / FC * 16 + x) * nt * FC;
      for (int ob = o0; ob < o1; ob += FO) {
        const float* gb = u + ((long)(ob - o0) / FO * 16 + x) * nt * FO;
        fg_tile(m + ((long)x * ccp + c - c0) * ocp + ob - o0, ocp, FC, FO, sb, 0, gb, 0, 0, 1,
                0, nt);
      }
    }
  }
}

/* dw[t][c][o] for c in [c0, c1), o in [o0, o1) = Gᵀ·M·G (4x4 to 3x3). */
static void fgw_out(float* dw, const float* m, int cin, int co, int c0, int c1, int o0, int o1,
                    int ccp, int ocp) {
  v128_t half = wasm_f32x4_splat(0.5f);
  for (int c = c0; c < c1; c++) {
    for (int o = o0; o < o1; o += 4) {
      v128_t mx[16], t[12], z[9];
      for (int x = 0; x < 16; x++) mx[x] = LD(m + ((long)x * ccp + c - c0) * ocp + o - o0);
      /* Gᵀ rows: z0 = m0 + (m1 + m2)/2, z1 = (m1 - m2)/2, z2 = (m1 + m2)/2 + m3. */
      for (int q = 0; q < 4; q++) {
        v128_t s = MUL(ADD(mx[4 + q], mx[8 + q]), half);
        t[q] = ADD(mx[q], s);
        t[4 + q] = MUL(SUB(mx[4 + q], mx[8 + q]), half);
        t[8 + q] = ADD(s, mx[12 + q]);
      }
      for (int p = 0; p < 3; p++) {
        v128_t s = MUL(ADD(t[p * 4 + 1], t[p * 4 + 2]), half);
        z[p * 3] = ADD(t[p * 4], s);
        z[p * 3 + 1] = MUL(SUB(t[p * 4 + 1], t[p * 4 + 2]), half);
        z[p * 3 + 2] = ADD(s, t[p * 4 + 3]);
      }
      int n = o1 - o < 4 ? o1 - o : 4;
      for (int k = 0; k < 9; k++) {
        float* d = dw + ((long)k * cin + c) * co + o;
        if (n == 4) {
          ST(d, z[k]);
        } else {
          float s[4] __attribute__((aligned(16)));
          ST(s, z[k]);
          for (int j = 0; j < n; j++) d[j] = s[j];
        }
      }
    }
  }
}

/* This part's block of dw ([c_lo, c_hi) x [o_lo, o_hi)) by Winograd, k = 3. */
static void fgw_grad(float* dw, const float* a, int ca, const float* b, int cb, const float* dy,
                     int N, int H, int W, int co, int dil, int c_lo, int c_hi, int o_lo, int o_hi,
                     int part) {
  int cin = ca + cb;
  int cc = c_hi - c_lo < FG_CH ? c_hi - c_lo : FG_CH;
  int oc = o_hi - o_lo < FG_CH ? o_hi - o_lo : FG_CH;
  int ccp = (cc + FC - 1) / FC * FC, ocp = (oc + FO - 1) / FO * FO;
  float* m = packed + (long)part * PACKED;
  float* v = m + 16L * ccp * ocp;
  float* u = v + 16L * FGW_T * ccp;
  long tb[FGW_T];
  int ty[FGW_T], tx[FGW_T];
  for (int o0 = o_lo; o0 < o_hi; o0 += oc) {
    int o1 = o0 + oc < o_hi ? o0 + oc : o_hi;
    for (int c0 = c_lo; c0 < c_hi; c0 += cc) {
      int c1 = c0 + cc < c_hi ? c0 + cc : c_hi;
      fill(m, 16L * ccp * ocp, 0.f);
      int nt = 0;
      for (int img = 0; img < N; img++) {
        for (int py = 0; py < dil && py < H; py++) {
          for (int px = 0; px < dil && px < W; px++) {
            for (int y = py; y < H; y += 2 * dil) {
              for (int x = px; x < W; x += 2 * dil) {
                tb[nt] = (long)img * H * W;
                ty[nt] = y;
                tx[nt] = x;
                if (++nt == FGW_T) {
                  fgw_panel(m, v, u, tb, ty, tx, nt, a, ca, b, cb, dy, co, c0, c1, o0, o1, ccp,
                            ocp, H, W, dil);
                  nt = 0;
                }
              }
            }
          }
        }
      }
      if (nt) {
        fgw_panel(m, v, u, tb, ty, tx, nt, a, ca, b, cb, dy, co, c0, c1, o0, o1, ccp, ocp, H, W,
                  dil);
      }
      fgw_out(dw, m, cin, co, c0, c1, o0, o1, ccp, ocp);
    }
  }
}

/*
 * dw (HWIO) = Σ_p (a ‖ b)[p + tap] ⊗ dy[p]; dbias[co] = Σ_p dy[p, co] when
 * given. Part `part` of `parts` does a block of dw: its share of the input
 * channels (FC at a time), or of the output channels (FO at a time) where
 * there are fewer input channel blocks than parts; and its share of dbias (4
 * channels at a time). The panels and each value's order of sums are the same
 * for any split. One output channel (the side outputs) goes row by row,
 * input channels in vectors; other 3x3 convs by Winograd (fgw_grad), 1x1
 * ones as a GEMM over pixel panels.
 */
__attribute__((export_name("conv_filter_grad")))
void conv_filter_grad(float* dw, float* dbias, const float* a, const float* b, const float* dy,
                      int N, int H, int W, int ca, int cb, int co, int k, int dil, int part,
                      int parts) {
  int cin = ca + cb, r = (k - 1) / 2, taps = k * k;
  int c_lo = 0, c_hi = cin, o_lo = 0, o_hi = co;
  if (co == 1 || (cin + FC - 1) / FC >= parts) {
    share_channels(cin, FC, part, parts, &c_lo, &c_hi);
  } else {
    share_channels(co, FO, part, parts, &o_lo, &o_hi);
  }
  if (dbias) {
    int b_lo, b_hi;
    share_channels(co, 4, part, parts, &b_lo, &b_hi);
    fill(dbias + b_lo, b_hi - b_lo, 0.f);
    for (long row = 0; row < (long)N * H && b_lo < b_hi; row++) {
      const float* g = dy + row * W * co;
      int ob = b_lo;
      for (; ob + 4 <= b_hi; ob += 4) {
        v128_t s = ZERO;
        for (int x = 0; x < W; x++) s = ADD(s, LD(g + (long)x * co + ob));
        ST(dbias + ob, ADD(LD(dbias + ob), s));
      }
      for (; ob < b_hi; ob++) {
        float s = 0.f;
        for (int x = 0; x < W; x++) s += g[(long)x * co + ob];
        dbias[ob] += s;
      }
    }
  }
  if (c_lo >= c_hi || o_lo >= o_hi) return;
  for (int t = 0; t < taps; t++) {
    for (int c = c_lo; c < c_hi; c++) fill(dw + ((long)t * cin + c) * co + o_lo, o_hi - o_lo, 0.f);
  }
  if (co == 1) {
    /* This part's channels of a and of b. */
    int a_lo = c_lo, a_hi = c_hi < ca ? c_hi : ca;
    int b_lo = (c_lo > ca ? c_lo : ca) - ca, b_hi = c_hi - ca;
    for (long row = 0; row < (long)N * H; row++) {
      int y = (int)(row % H);
      const float* g = dy + row * W;
      for (int ky = 0; ky < k; ky++) {
        int iy = y + (ky - r) * dil;
        if (iy < 0 || iy >= H) continue;
        long src = row + (long)(ky - r) * dil;
        for (int kx = 0; kx < k; kx++) {
          int sx = (kx - r) * dil;
          int x_lo = sx < 0 ? -sx : 0, x_hi = sx > 0 ? W - sx : W;
          if (x_lo >= x_hi) continue;
          float* dwt = dw + (long)(ky * k + kx) * cin;
          if (a_lo < a_hi) filter_row1(dwt, a + src * W * ca, ca, a_lo, a_hi, g, x_lo, x_hi, sx);
          if (b_lo < b_hi) {
            filter_row1(dwt + ca, b + src * W * cb, cb, b_lo, b_hi, g, x_lo, x_hi, sx);
          }
        }
      }
    }
    return;
  }
  if (k == 3) {
    fgw_grad(dw, a, ca, b, cb, dy, N, H, W, co, dil, c_lo, c_hi, o_lo, o_hi, part);
    return;
  }
  /* Panels of FG_PX pixels: whole rows (R of them), or segments of L columns. */
  fg_panel q;
  q.H = H;
  q.W = W;
  int L = W < FG_PX ? W : FG_PX, R = W < FG_PX ? FG_PX / W : 1;
  if (R > H) R = H;
  /* Channel chunks packed at a time; the taps along x share a packing where it fits. */
  int cc = c_hi - c_lo < FG_CH ? c_hi - c_lo : FG_CH;
  int oc = o_hi - o_lo < FG_CH ? o_hi - o_lo : FG_CH;
  long ccp = (cc + FC - 1) / FC * FC, ocp = (oc + FO - 1) / FO * FO;
  long halo = L + 2L * r * dil < W ? L + 2L * r * dil : W;
  int kstep = (long)R * halo * ccp + (long)R * L * ocp <= PACKED ? k : 1;
  float* g = packed + (long)part * PACKED;
  float* s = g + (long)R * L * ocp;
  for (int o0 = o_lo; o0 < o_hi; o0 += oc) {
    int o1 = o0 + oc < o_hi ? o0 + oc : o_hi;
    for (int c0 = c_lo; c0 < c_hi; c0 += cc) {
      int c1 = c0 + cc < c_hi ? c0 + cc : c_hi;
      for (int img = 0; img < N; img++) {
        q.base = (long)img * H * W;
        for (q.y0 = 0; q.y0 < H; q.y0 += R) {
          q.R = H - q.y0 < R ? H - q.y0 : R;
          for (q.x0 = 0; q.x0 < W; q.x0 += L) {
            q.L = W - q.x0 < L ? W - q.x0 : L;
            fg_pack_dy(g, dy, co, o0, o1, &q);
            fg_panel_grad(dw, s, g, a, ca, b, cb, cin, co, c0, c1, o0, o1, &q, k, dil, kstep);
          }
        }
      }
    }
  }
}

/*
 * Train-mode BatchNorm + ReLU, split over fixed blocks of pixels (two
 * threads on channel ranges would share every cache line of an NHWC map):
 * each pass sums its blocks' pixels per channel, in order, into the block's
 * partial sums (double); the next call adds a channel's partial sums in
 * block order. A block's pixels depend on the shape only, so the sums do
 * not depend on `parts`. Calls (one barrier each): forward bn_sum, bn_sqdev,
 * bn_apply; backward bn_grad_sums, bn_grad_apply.
 *
 * Scratch in the packed-weights area (no conv runs between the calls): the
 * blocks' partial sums, shared, from part 0's area at BN_LOCAL (a block's
 * written by the part that sums it); each part's per-channel floats
 * (BN_LOCAL of them) at the start of its own area.
 */
/* Floats of x a block holds (about; 16 KB). */
#define BN_BLOCK 4096
/* The most blocks × channels (each a pair of doubles in the shared scratch). */
#define BN_LIMIT (32 * MAXC)
/* Per-part floats: mean, scale, dbeta, dgamma, MAXC each. */
#define BN_LOCAL (4 * MAXC)
_Static_assert(BN_LOCAL + 4 * BN_LIMIT <= PACKED, "BatchNorm scratch past a part's packed area");

/* Blocks of P pixels of C channels (shape only), *bp pixels each (the last may be short). */
static long bn_blocks(long P, int C, long* bp) {
  long nb = (P * C + BN_BLOCK - 1) / BN_BLOCK, lim = BN_LIMIT / C;
  if (nb > lim) nb = lim;
  if (nb > P) nb = P;
  if (nb < 1) nb = 1;
  *bp = (P + nb - 1) / nb;
  if (*bp < 1) return 0;
  return (P + *bp - 1) / *bp;
}

/* The blocks' partial sums: [nb][C] doubles, then the second [nb][C]. */
static double* bn_partials(void) { return (double*)(packed + BN_LOCAL); }

/* Σ over the blocks, in order, of channel c's partial sums. */
static double bn_total(const double* s, long nb, int C, int c) {
  double t = 0.0;
  for (long b = 0; b < nb; b++) t += s[b * C + c];
  return t;
}

/* Mean (float) per channel from the first partial sums, into m. */
static void bn_mean(float* m, long nb, long P, int C) {
  const double* s = bn_partials();
  for (int c = 0; c < C; c++) m[c] = (float)(bn_total(s, nb, C, c) / P);
}

/*
 * A block's per-channel sums over pixels [pa, p1) for 4·G channels from c,
 * kept in registers (G·2 f64x2 accumulators; the channels' sums in pixel
 * order, as the in-memory sums they replace, so the same bits): kind 0 Σ x,
 * 1 Σ (x − mean)², 2 Σ g and Σ g·xhat (g = dy where y > 0) into s and s2.
 * Accumulating in memory chained every pixel's add through a store and a
 * load of the sum (measured: about 2x slower a pass).
 */
#define BN_PROMOTE(v) wasm_f64x2_promote_low_f32x4(v)
#define BN_HIGH(v) wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1))
static inline __attribute__((always_inline)) void bn_block_sums(
    int kind, int G, double* s, double* s2, const float* x, const float* dy, const float* y,
    const float* mean, const float* invstd, long pa, long p1, int C, int c) {
  v128_t a[8], b[8], z = ZERO, zd = wasm_f64x2_splat(0.0);
  for (int i = 0; i < 2 * G; i++) a[i] = b[i] = zd;
  for (long p = pa; p < p1; p++) {
    long o = p * C + c;
    for (int g = 0; g < G; g++) {
      v128_t v = LD(x + o + 4 * g), w = v;
      if (kind == 1) {
        v128_t d = SUB(v, LD(mean + c + 4 * g));
        v = MUL(d, d);
      } else if (kind == 2) {
        v = wasm_v128_and(LD(dy + o + 4 * g), wasm_f32x4_gt(LD(y + o + 4 * g), z));
        w = MUL(v, MUL(SUB(w, LD(mean + c + 4 * g)), LD(invstd + c + 4 * g)));
        b[2 * g] = wasm_f64x2_add(b[2 * g], BN_PROMOTE(w));
        b[2 * g + 1] = wasm_f64x2_add(b[2 * g + 1], BN_HIGH(w));
      }
      a[2 * g] = wasm_f64x2_add(a[2 * g], BN_PROMOTE(v));
      a[2 * g + 1] = wasm_f64x2_add(a[2 * g + 1], BN_HIGH(v));
    }
  }
  for (int i = 0; i < 2 * G; i++) {
    ST(s + c + 2 * i, a[i]);
    if (kind == 2) ST(s2 + c + 2 * i, b[i]);
  }
}

/* Σ over p pixels of f(x[p][c..c+4)) into sums (double), per 4 channels. */
static inline void add_d(double* s, v128_t v) {
  ST(s, wasm_f64x2_add(LD(s), wasm_f64x2_promote_low_f32x4(v)));
  ST(s + 2, wasm_f64x2_add(LD(s + 2), wasm_f64x2_promote_low_f32x4(
                                          wasm_i32x4_shuffle(v, v, 2, 3, 0, 1))));
}

/*
 * All channels of a block (C a multiple of 4). Up to 16 channels the sums
 * stay in registers (two sums: 8 channels a pass over the block, which is in
 * L1; measured 1.1-1.4x); wider maps stream each pixel's channels through
 * in-memory sums, where reading the map is the cost (register groups of 16
 * channels measured no faster at 32 channels, 8-14% slower at 64).
 */
static void bn_block(int kind, double* s, double* s2, const float* x, const float* dy,
                     const float* y, const float* mean, const float* invstd, long pa, long p1,
                     int C) {
  if (C <= 16) {
    if (kind == 2) {
      int c = 0;
      for (; c + 8 <= C; c += 8) bn_block_sums(2, 2, s, s2, x, dy, y, mean, invstd, pa, p1, C, c);
      if (c < C) bn_block_sums(2, 1, s, s2, x, dy, y, mean, invstd, pa, p1, C, c);
    } else if (C == 16) {
      bn_block_sums(kind, 4, s, 0, x, 0, 0, mean, 0, pa, p1, C, 0);
    } else {
      for (int c = 0; c < C; c += 4) bn_block_sums(kind, 1, s, 0, x, 0, 0, mean, 0, pa, p1, C, c);
    }
    return;
  }
  v128_t z = ZERO;
  for (int c = 0; c < C; c++) s[c] = 0.0;
  if (kind == 2) for (int c = 0; c < C; c++) s2[c] = 0.0;
  for (long p = pa; p < p1; p++) {
    long o = p * C;
    for (int c = 0; c < C; c += 4) {
      if (kind == 0) {
        add_d(s + c, LD(x + o + c));
      } else if (kind == 1) {
        v128_t d = SUB(LD(x + o + c), LD(mean + c));
        add_d(s + c, MUL(d, d));
      } else {
        v128_t g = wasm_v128_and(LD(dy + o + c), wasm_f32x4_gt(LD(y + o + c), z));
        v128_t xh = MUL(SUB(LD(x + o + c), LD(mean + c)), LD(invstd + c));
        add_d(s + c, g);
        add_d(s2 + c, MUL(g, xh));
      }
    }
  }
}

/* Forward call 1: per block, Σ x per channel. */
__attribute__((export_name("bn_sum")))
void bn_sum(const float* x, int P, int C, int part, int parts) {
  long bp, nb = bn_blocks(P, C, &bp), b0, b1;
  share(nb, part, parts, &b0, &b1);
  int vec = (C & 3) == 0;
  for (long b = b0; b < b1; b++) {
    double* s = bn_partials() + b * C;
    long p1 = (b + 1) * bp < P ? (b + 1) * bp : P;
    if (vec) {
      bn_block(0, s, 0, x, 0, 0, 0, 0, b * bp, p1, C);
      continue;
    }
    for (int c = 0; c < C; c++) s[c] = 0.0;
    for (long p = b * bp; p < p1; p++) {
      const float* xp = x + p * C;
      for (int c = 0; c < C; c++) s[c] += xp[c];
    }
  }
}

/* Forward call 2: per block, Σ (x - mean)² per channel (mean from call 1). */
__attribute__((export_name("bn_sqdev")))
void bn_sqdev(const float* x, int P, int C, int part, int parts) {
  long bp, nb = bn_blocks(P, C, &bp), b0, b1;
  share(nb, part, parts, &b0, &b1);
  if (b0 >= b1) return;
  float* mean = packed + (long)part * PACKED;
  bn_mean(mean, nb, P, C);
  int vec = (C & 3) == 0;
  for (long b = b0; b < b1; b++) {
    double* s = bn_partials() + (nb + b) * C;
    long p1 = (b + 1) * bp < P ? (b + 1) * bp : P;
    if (vec) {
      bn_block(1, s, 0, x, 0, 0, mean, 0, b * bp, p1, C);
      continue;
    }
    for (int c = 0; c < C; c++) s[c] = 0.0;
    for (long p = b * bp; p < p1; p++) {
      const float* xp = x + p * C;
      for (int c = 0; c < C; c++) {
        float d = xp[c] - mean[c];
        s[c] += d * d;
      }
    }
  }
}

/* Forward call 3: mean[c], invstd[c], var_unbiased[c] out; y = ReLU(BatchNorm(x)). */
__attribute__((export_name("bn_apply")))
void bn_apply(float* y, const float* x, const float* gamma, const float* beta, float* mean_out,
              float* invstd_out, float* var_unbiased, int P, int C, float eps, int part,
              int parts) {
  long bp, nb = bn_blocks(P, C, &bp), b0, b1;
  float* mean = packed + (long)part * PACKED;
  float* scale = mean + MAXC;
  bn_mean(mean, nb, P, C);
  const double* s2 = bn_partials() + nb * C;
  int c0, c1;
  share_channels(C, 1, part, parts, &c0, &c1);
  for (int c = 0; c < C; c++) {
    double var = bn_total(s2, nb, C, c) / P;
    float is = (float)(1.0 / __builtin_sqrt((double)(float)var + (double)eps));
    scale[c] = is * gamma[c];
    if (c >= c0 && c < c1) {
      mean_out[c] = mean[c];
      invstd_out[c] = is;
      var_unbiased[c] = (float)(var * P / (P > 1 ? P - 1 : 1));
    }
  }
  share(nb, part, parts, &b0, &b1);
  int vec = (C & 3) == 0;
  v128_t z = ZERO;
  long p0 = b0 * bp, p1 = b1 * bp < P ? b1 * bp : P;
  for (long p = p0; p < p1; p++) {
    const float* xp = x + p * C;
    float* yp = y + p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) {
        v128_t v = ADD(MUL(SUB(LD(xp + c), LD(mean + c)), LD(scale + c)), LD(beta + c));
        ST(yp + c, wasm_f32x4_max(v, z));
      }
    } else {
      for (int c = 0; c < C; c++) {
        float v = (xp[c] - mean[c]) * scale[c] + beta[c];
        yp[c] = v > 0.f ? v : 0.f;
      }
    }
  }
}

/* Backward call 1 (see ../_train_kernels.ts): per block, Σ g and Σ g·xhat per channel. */
__attribute__((export_name("bn_grad_sums")))
void bn_grad_sums(const float* dy, const float* x, const float* y, const float* mean,
                  const float* invstd, int P, int C, int part, int parts) {
  long bp, nb = bn_blocks(P, C, &bp), b0, b1;
  share(nb, part, parts, &b0, &b1);
  int vec = (C & 3) == 0;
  for (long b = b0; b < b1; b++) {
    double* sa = bn_partials() + b * C;
    double* sb = bn_partials() + (nb + b) * C;
    long p1 = (b + 1) * bp < P ? (b + 1) * bp : P;
    if (vec) {
      bn_block(2, sa, sb, x, dy, y, mean, invstd, b * bp, p1, C);
      continue;
    }
    for (int c = 0; c < C; c++) sa[c] = sb[c] = 0.0;
    for (long p = b * bp; p < p1; p++) {
      long o = p * C;
      for (int c = 0; c < C; c++) {
        float g = y[o + c] > 0.f ? dy[o + c] : 0.f;
        float xh = (x[o + c] - mean[c]) * invstd[c];
        sa[c] += g;
        sb[c] += g * xh;
      }
    }
  }
}

/* Backward call 2: dgamma, dbeta (from call 1's sums) and dx. */
__attribute__((export_name("bn_grad_apply")))
void bn_grad_apply(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                   const float* y, const float* gamma, const float* mean, const float* invstd,
                   int P, int C, int part, int parts) {
  long bp, nb = bn_blocks(P, C, &bp), b0, b1;
  float* scale = packed + (long)part * PACKED + MAXC;
  float* db = scale + MAXC;
  float* dg = db + MAXC;
  const double* s = bn_partials();
  float fp = (float)P;
  int c0, c1;
  share_channels(C, 1, part, parts, &c0, &c1);
  for (int c = 0; c < C; c++) {
    db[c] = (float)bn_total(s, nb, C, c);
    dg[c] = (float)bn_total(s + nb * C, nb, C, c);
    scale[c] = gamma[c] * invstd[c] / fp;
    if (c >= c0 && c < c1) {
      dbeta[c] = db[c];
      dgamma[c] = dg[c];
    }
  }
  share(nb, part, parts, &b0, &b1);
  int vec = (C & 3) == 0;
  v128_t z = ZERO, vp = wasm_f32x4_splat(fp);
  long p0 = b0 * bp, p1 = b1 * bp < P ? b1 * bp : P;
  for (long p = p0; p < p1; p++) {
    long o = p * C;
    if (vec) {
      for (int c = 0; c < C; c += 4) {
        v128_t g = wasm_v128_and(LD(dy + o + c), wasm_f32x4_gt(LD(y + o + c), z));
        v128_t xh = MUL(SUB(LD(x + o + c), LD(mean + c)), LD(invstd + c));
        v128_t t = SUB(SUB(MUL(vp, g), LD(db + c)), MUL(xh, LD(dg + c)));
        ST(dx + o + c, MUL(LD(scale + c), t));
      }
    } else {
      for (int c = 0; c < C; c++) {
        float g = y[o + c] > 0.f ? dy[o + c] : 0.f;
        float xh = (x[o + c] - mean[c]) * invstd[c];
        dx[o + c] = scale[c] * (fp * g - db[c] - xh * dg[c]);
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

/* 2x2 max pool, stride 2, ceil mode; part `part` of `parts` of the N·oh output rows. */
__attribute__((export_name("pool")))
void pool(float* out, const float* in, int N, int H, int W, int C, int part, int parts) {
  int oh = (H + 1) / 2, ow = (W + 1) / 2;
  long lo, hi;
  share((long)N * oh, part, parts, &lo, &hi);
  for (long row = lo; row < hi; row++) {
    int img = (int)(row / oh), y = (int)(row % oh);
    long base = (long)img * H * W;
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

/*
 * The pool's input gradient: each dy to its window's first maximum
 * (row-major); part `part` of `parts` of the N·oh output rows (their windows'
 * input rows are theirs alone).
 */
__attribute__((export_name("pool_grad")))
void pool_grad(float* dx, const float* dy, const float* x, int N, int H, int W, int C, int part,
               int parts) {
  int oh = (H + 1) / 2, ow = (W + 1) / 2;
  long lo, hi;
  share((long)N * oh, part, parts, &lo, &hi);
  for (long row = lo; row < hi; row++) {
    int img = (int)(row / oh), y = (int)(row % oh);
    long base = (long)img * H * W;
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

/* out[oy, ox] = Σ Ah[oy, y] · Aw[ox, x] · x[y, x]; part `part` of `parts` of the N·OH rows. */
__attribute__((export_name("resize")))
void resize(float* out, const float* in, int N, int H, int W, int C, int OH, int OW, int part,
            int parts) {
  long lo, hi;
  share((long)N * OH, part, parts, &lo, &hi);
  for (long row = lo; row < hi; row++) {
    int img = (int)(row / OH), oy = (int)(row % OH);
    const float* src = in + (long)img * H * W * C;
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

/* dst[0..C) += s · src[0..C). */
static inline void axpy(float* dst, const float* src, float s, int C) {
  v128_t vs = wasm_f32x4_splat(s);
  int c = 0;
  for (; c + 4 <= C; c += 4) ST(dst + c, ADD(LD(dst + c), MUL(vs, LD(src + c))));
  for (; c < C; c++) dst[c] += s * src[c];
}

/*
 * The resize's adjoint: dx = Ahᵀ · dy · Aw, scattered output pixel by output
 * pixel. Part `part` of `parts` owns a share of the N·H rows of dx and adds
 * only the taps that land in them, in the same order as one part.
 */
__attribute__((export_name("resize_grad")))
void resize_grad(float* dx, const float* dy, int N, int H, int W, int C, int OH, int OW, int part,
                 int parts) {
  long lo, hi;
  share((long)N * H, part, parts, &lo, &hi);
  fill(dx + lo * W * C, (hi - lo) * W * C, 0.f);
  for (int img = (int)(lo / H); img < N && (long)img * H < hi; img++) {
    float* d = dx + (long)img * H * W * C;
    long first = (long)img * H;
    for (int oy = 0; oy < OH; oy++) {
      int y0, y1;
      float ly;
      source(oy, H, OH, &y0, &y1, &ly);
      int has0 = first + y0 >= lo && first + y0 < hi, has1 = first + y1 >= lo && first + y1 < hi;
      if (!has0 && !has1) continue;
      float my = 1.f - ly;
      for (int ox = 0; ox < OW; ox++) {
        int x0, x1;
        float lx;
        source(ox, W, OW, &x0, &x1, &lx);
        float mx = 1.f - lx;
        const float* g = dy + (((long)img * OH + oy) * OW + ox) * C;
        if (has0) {
          axpy(d + ((long)y0 * W + x0) * C, g, my * mx, C);
          axpy(d + ((long)y0 * W + x1) * C, g, my * lx, C);
        }
        if (has1) {
          axpy(d + ((long)y1 * W + x0) * C, g, ly * mx, C);
          axpy(d + ((long)y1 * W + x1) * C, g, ly * lx, C);
        }
      }
    }
  }
}

/* dst[i] += src[i] for i < len; part `part` of `parts` of the values (4 at a time). */
__attribute__((export_name("accumulate")))
void accumulate(float* dst, const float* src, int len, int part, int parts) {
  int i, hi;
  share_channels(len, 4, part, parts, &i, &hi);
  for (; i + 4 <= hi; i += 4) ST(dst + i, ADD(LD(dst + i), LD(src + i)));
  for (; i < hi; i++) dst[i] += src[i];
}

/*
 * One AdamW step over n values, every operation rounded to float32 as
 * AdamW's tfjs ops and the JS reference (`adamwUpdate`) do, never fused:
 * m ← m·b1 + g·c1, v ← v·b2 + g²·c2, p ← p·decay − m·step / (√v / bc2 + eps).
 * Part `part` of `parts` of the values (4 at a time): the same bits for any split.
 */
__attribute__((export_name("adamw")))
void adamw(float* p, const float* g, float* m, float* v, int n, float decay, float step, float bc2,
           float b1, float b2, float c1, float c2, float eps, int part, int parts) {
  int i, hi;
  share_channels(n, 4, part, parts, &i, &hi);
  v128_t vd = wasm_f32x4_splat(decay), vs = wasm_f32x4_splat(step), vb = wasm_f32x4_splat(bc2);
  v128_t v1 = wasm_f32x4_splat(b1), v2 = wasm_f32x4_splat(b2), w1 = wasm_f32x4_splat(c1);
  v128_t w2 = wasm_f32x4_splat(c2), ve = wasm_f32x4_splat(eps);
  for (; i + 4 <= hi; i += 4) {
    v128_t gi = LD(g + i);
    v128_t mi = ADD(MUL(LD(m + i), v1), MUL(gi, w1));
    v128_t vi = ADD(MUL(LD(v + i), v2), MUL(MUL(gi, gi), w2));
    ST(m + i, mi);
    ST(v + i, vi);
    v128_t denom = ADD(wasm_f32x4_div(wasm_f32x4_sqrt(vi), vb), ve);
    ST(p + i, SUB(MUL(LD(p + i), vd), wasm_f32x4_div(MUL(mi, vs), denom)));
  }
  for (; i < hi; i++) {
    float gi = g[i];
    float mi = m[i] * b1 + gi * c1;
    float vi = v[i] * b2 + gi * gi * c2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - mi * step / (__builtin_sqrtf(vi) / bc2 + eps);
  }
}
