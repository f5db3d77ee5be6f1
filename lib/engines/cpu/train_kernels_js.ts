/**
 * The plain-JS reference {@linkcode TrainKernels}: straightforward loops over
 * Float32Array, clarity first. Every sum accumulates in JS doubles (float64)
 * and is rounded to float32 once, when stored; the bilinear weights are
 * `bilinearTaps` (`lib/net/bilinear_taps.ts`), as the tfjs reference's.
 *
 * @module
 */
import type { ConvShape, TrainKernels } from "./train_kernels.ts";
import { bilinearTaps } from "../../net/bilinear_taps.ts";
import { adamwUpdate } from "./_cpu_train_math.ts";

/** The inputs `a ‖ b` as `[array, first channel, channels]` parts. */
function parts(a: Float32Array, b: Float32Array | null, s: ConvShape) {
  const out: [Float32Array, number, number][] = [[a, 0, s.ca]];
  if (b && s.cb > 0) out.push([b, s.ca, s.cb]);
  return out;
}

/**
 * Calls `fn(outPixel, inPixel, tap)` for every (output pixel, kernel tap)
 * pair whose input pixel lies inside the map.
 */
function forTaps(s: ConvShape, fn: (q: number, p: number, tap: number) => void): void {
  const r = (s.k - 1) / 2;
  for (let n = 0; n < s.n; n++) {
    for (let y = 0; y < s.h; y++) {
      for (let x = 0; x < s.w; x++) {
        const q = (n * s.h + y) * s.w + x;
        for (let ky = 0; ky < s.k; ky++) {
          const iy = y + (ky - r) * s.dil;
          if (iy < 0 || iy >= s.h) continue;
          for (let kx = 0; kx < s.k; kx++) {
            const ix = x + (kx - r) * s.dil;
            if (ix < 0 || ix >= s.w) continue;
            fn(q, (n * s.h + iy) * s.w + ix, ky * s.k + kx);
          }
        }
      }
    }
  }
}

/** Per input index: the `[output index, weight]` pairs that read it (the adjoint of `bilinearTaps`). */
function adjoint1d(inSize: number, outSize: number): [number, number][][] {
  const out: [number, number][][] = Array.from({ length: inSize }, () => []);
  bilinearTaps(inSize, outSize).forEach(([i0, i1, l0, l1], o) => {
    out[i0].push([o, l0]);
    out[i1].push([o, l1]);
  });
  return out;
}

/** Creates the plain-JS reference kernels. */
export function createJsTrainKernels(): TrainKernels {
  return {
    name: "js",
    alloc: (floats) => new Float32Array(floats),

    conv(out, a, b, w, bias, s) {
      const ci = s.ca + s.cb, co = s.co, acc = new Float64Array(s.n * s.h * s.w * co);
      for (let q = 0; q < acc.length; q++) acc[q] = bias ? bias[q % co] : 0;
      const srcs = parts(a, b, s);
      forTaps(s, (q, p, tap) => {
        for (const [src, c0, cs] of srcs) {
          for (let c = 0; c < cs; c++) {
            const v = src[p * cs + c], wo = (tap * ci + c0 + c) * co;
            for (let o = 0; o < co; o++) acc[q * co + o] += v * w[wo + o];
          }
        }
      });
      out.set(acc);
    },

    convInputGrad(da, db, dy, w, s) {
      // dIn[p, c] = Σ over the (q, tap) pairs reading p of Σ_o dy[q, o] · w[tap, c, o].
      const ci = s.ca + s.cb, co = s.co, pix = s.n * s.h * s.w;
      const acc = new Float64Array(pix * ci);
      forTaps(s, (q, p, tap) => {
        for (let c = 0; c < ci; c++) {
          const wo = (tap * ci + c) * co;
          let sum = 0;
          for (let o = 0; o < co; o++) sum += dy[q * co + o] * w[wo + o];
          acc[p * ci + c] += sum;
        }
      });
      const grads: [Float32Array | null, number, number][] = [[da, 0, s.ca], [db, s.ca, s.cb]];
      for (const [g, c0, cs] of grads) {
        if (!g || cs === 0) continue;
        for (let p = 0; p < pix; p++) {
          for (let c = 0; c < cs; c++) g[p * cs + c] = acc[p * ci + c0 + c];
        }
      }
    },

    convFilterGrad(dw, dbias, a, b, dy, s) {
      const ci = s.ca + s.cb, co = s.co, acc = new Float64Array(s.k * s.k * ci * co);
      const srcs = parts(a, b, s);
      forTaps(s, (q, p, tap) => {
        for (const [src, c0, cs] of srcs) {
          for (let c = 0; c < cs; c++) {
            const v = src[p * cs + c], wo = (tap * ci + c0 + c) * co;
            for (let o = 0; o < co; o++) acc[wo + o] += v * dy[q * co + o];
          }
        }
      });
      dw.set(acc);
      if (!dbias) return;
      const sums = new Float64Array(co), pix = s.n * s.h * s.w;
      for (let q = 0; q < pix; q++) for (let o = 0; o < co; o++) sums[o] += dy[q * co + o];
      dbias.set(sums);
    },

    bnReluForward(y, x, gamma, beta, stats, p, c, eps) {
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let i = 0; i < p; i++) sum += x[i * c + ch];
        const mean = sum / p;
        let sq = 0;
        for (let i = 0; i < p; i++) sq += (x[i * c + ch] - mean) ** 2;
        const variance = sq / p, invstd = 1 / Math.sqrt(variance + eps);
        stats.mean[ch] = mean;
        stats.invstd[ch] = invstd;
        stats.varUnbiased[ch] = variance * p / Math.max(p - 1, 1);
        const scale = invstd * gamma[ch];
        for (let i = 0; i < p; i++) {
          y[i * c + ch] = Math.max(0, (x[i * c + ch] - mean) * scale + beta[ch]);
        }
      }
    },

    bnReluBackward(dx, dgamma, dbeta, dy, x, y, gamma, mean, invstd, p, c) {
      for (let ch = 0; ch < c; ch++) {
        let sg = 0, sgx = 0;
        for (let i = 0; i < p; i++) {
          const g = y[i * c + ch] > 0 ? dy[i * c + ch] : 0;
          sg += g;
          sgx += g * (x[i * c + ch] - mean[ch]) * invstd[ch];
        }
        dbeta[ch] = sg;
        dgamma[ch] = sgx;
        const k = gamma[ch] * invstd[ch] / p;
        for (let i = 0; i < p; i++) {
          const g = y[i * c + ch] > 0 ? dy[i * c + ch] : 0;
          const xhat = (x[i * c + ch] - mean[ch]) * invstd[ch];
          dx[i * c + ch] = k * (p * g - sg - xhat * sgx);
        }
      }
    },

    pool(out, x, n, h, w, c) {
      const oh = Math.ceil(h / 2), ow = Math.ceil(w / 2);
      forPoolWindows(n, h, w, oh, ow, (o, cells) => {
        for (let ch = 0; ch < c; ch++) {
          let m = -Infinity;
          for (const i of cells) m = Math.max(m, x[i * c + ch]);
          out[o * c + ch] = m;
        }
      });
    },

    poolGrad(dx, dy, x, n, h, w, c) {
      dx.fill(0, 0, n * h * w * c);
      const oh = Math.ceil(h / 2), ow = Math.ceil(w / 2);
      forPoolWindows(n, h, w, oh, ow, (o, cells) => {
        for (let ch = 0; ch < c; ch++) {
          let best = cells[0];
          for (const i of cells) if (x[i * c + ch] > x[best * c + ch]) best = i;
          dx[best * c + ch] += dy[o * c + ch];
        }
      });
    },

    resize(out, x, n, h, w, c, oh, ow) {
      const ty = bilinearTaps(h, oh), tx = bilinearTaps(w, ow);
      for (let b = 0; b < n; b++) {
        for (let oy = 0; oy < oh; oy++) {
          const [y0, y1, wy0, wy1] = ty[oy];
          for (let ox = 0; ox < ow; ox++) {
            const [x0, x1, wx0, wx1] = tx[ox];
            const at = (iy: number, ix: number, ch: number) => x[((b * h + iy) * w + ix) * c + ch];
            for (let ch = 0; ch < c; ch++) {
              out[((b * oh + oy) * ow + ox) * c + ch] =
                wy0 * (wx0 * at(y0, x0, ch) + wx1 * at(y0, x1, ch)) +
                wy1 * (wx0 * at(y1, x0, ch) + wx1 * at(y1, x1, ch));
            }
          }
        }
      }
    },

    resizeGrad(dx, dy, n, h, w, c, oh, ow) {
      const ay = adjoint1d(h, oh), ax = adjoint1d(w, ow), acc = new Float64Array(c);
      for (let b = 0; b < n; b++) {
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < w; ix++) {
            acc.fill(0);
            for (const [oy, wy] of ay[iy]) {
              for (const [ox, wx] of ax[ix]) {
                const o = ((b * oh + oy) * ow + ox) * c;
                for (let ch = 0; ch < c; ch++) acc[ch] += wy * wx * dy[o + ch];
              }
            }
            dx.set(acc, ((b * h + iy) * w + ix) * c);
          }
        }
      }
    },

    accumulate(dst, src, len) {
      for (let i = 0; i < len; i++) dst[i] += src[i];
    },
    adamw(p, g, m, v, c) {
      adamwUpdate(p, g, { m, v }, c);
    },
  };
}

/**
 * Calls `fn(outPixel, inPixels)` for each 2x2 stride-2 ceil-mode window; the
 * in-map pixels come in row-major order.
 */
function forPoolWindows(
  n: number,
  h: number,
  w: number,
  oh: number,
  ow: number,
  fn: (o: number, cells: number[]) => void,
): void {
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const cells: number[] = [];
        for (let y = 2 * oy; y < Math.min(2 * oy + 2, h); y++) {
          for (let x = 2 * ox; x < Math.min(2 * ox + 2, w); x++) cells.push((b * h + y) * w + x);
        }
        fn((b * oh + oy) * ow + ox, cells);
      }
    }
  }
}

/** The plain-JS reference kernels (one shared set: they hold no state). */
export const JS_TRAIN_KERNELS: TrainKernels = createJsTrainKernels();
