import { assert } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import {
  batchNormTrain,
  conv2d,
  maxPoolCeil,
  resizeBilinear,
} from "../../../lib/engines/tfjs/ops.ts";
import { BN_EPS } from "../../../lib/net/config.ts";
import { Rng } from "../../../lib/data/rng.ts";
import { JS_TRAIN_KERNELS } from "../../../lib/engines/cpu/train_kernels_js.ts";
import { maxAbs, maxAbsDiff, useBackend } from "../../helpers.ts";

const K = JS_TRAIN_KERNELS;
type ConvShape = Parameters<typeof K.conv>[5];
const TOL = 1e-5;

function random(rng: Rng, len: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: len }, () => rng.uniform(lo, hi));
}

/** Asserts `actual` matches `expected` within TOL relative to the largest |expected|. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  const diff = maxAbsDiff(actual, expected), scale = Math.max(maxAbs(expected), 1e-6);
  assert(diff <= TOL * scale, `${what}: max diff ${diff} > ${TOL} · ${scale}`);
}

/** Runs `fn` in a tidy, reads its tensors back and disposes them. */
async function read(fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  const ts = tf.tidy(fn);
  try {
    return await Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
  } finally {
    tf.dispose(ts);
  }
}

/** Runs a test body on the cpu backend and checks that no tensor leaked. */
function kernelTest(name: string, body: (rng: Rng) => Promise<void>): void {
  Deno.test(name, async () => {
    await useBackend("cpu");
    const before = tf.memory().numTensors;
    await body(new Rng(17));
    assert(tf.memory().numTensors === before, "tensors leaked");
  });
}

const CONV_CASES: ConvShape[] = [
  { n: 1, h: 7, w: 5, ca: 3, cb: 0, co: 4, k: 3, dil: 1 },
  { n: 2, h: 9, w: 6, ca: 2, cb: 3, co: 5, k: 3, dil: 2 },
  { n: 1, h: 11, w: 13, ca: 4, cb: 2, co: 3, k: 3, dil: 4 },
  { n: 2, h: 5, w: 7, ca: 3, cb: 2, co: 4, k: 1, dil: 1 },
  { n: 1, h: 1, w: 7, ca: 2, cb: 0, co: 3, k: 3, dil: 2 },
];

function label(s: ConvShape): string {
  return `${s.n}x${s.h}x${s.w} ${s.ca}+${s.cb}->${s.co} k${s.k} dil${s.dil}`;
}

kernelTest(
  "conv() matches ops.ts conv2d with and without b and bias when dilated and odd-sized",
  async (rng) => {
    for (const s of CONV_CASES) {
      const pix = s.n * s.h * s.w, ci = s.ca + s.cb;
      const a = random(rng, pix * s.ca), b = s.cb ? random(rng, pix * s.cb) : null;
      const w = random(rng, s.k * s.k * ci * s.co);
      for (const bias of [null, random(rng, s.co)]) {
        const out = K.alloc(pix * s.co);
        K.conv(out, a, b, w, bias, s);
        const [want] = await read(() => {
          const xa = tf.tensor4d(a, [s.n, s.h, s.w, s.ca]);
          const x = b ? tf.concat([xa, tf.tensor4d(b, [s.n, s.h, s.w, s.cb])], 3) : xa;
          const y = conv2d(x as tf.Tensor4D, tf.tensor4d(w, [s.k, s.k, ci, s.co]), s.dil);
          return [bias ? tf.add(y, tf.tensor1d(bias)) : y];
        });
        assertClose(out, want, `conv ${label(s)} bias ${bias !== null}`);
      }
    }
  },
);

kernelTest(
  "convInputGrad() and convFilterGrad() match tf.grads of sum(conv2d(x) * r)",
  async (rng) => {
    for (const s of CONV_CASES) {
      const pix = s.n * s.h * s.w, ci = s.ca + s.cb;
      const a = random(rng, pix * s.ca), b = s.cb ? random(rng, pix * s.cb) : null;
      const w = random(rng, s.k * s.k * ci * s.co), r = random(rng, pix * s.co);
      const [dxWant, dwWant, dbWant] = await read(() => {
        const xa = tf.tensor4d(a, [s.n, s.h, s.w, s.ca]);
        const x = b ? tf.concat([xa, tf.tensor4d(b, [s.n, s.h, s.w, s.cb])], 3) : xa;
        const rt = tf.tensor4d(r, [s.n, s.h, s.w, s.co]);
        const f = (xx: tf.Tensor, ww: tf.Tensor) =>
          tf.sum(tf.mul(conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, s.dil), rt));
        const [dx, dw] = tf.grads(f)([x, tf.tensor4d(w, [s.k, s.k, ci, s.co])]);
        return [dx, dw, tf.sum(rt, [0, 1, 2])];
      });
      const da = K.alloc(pix * s.ca), db = b ? K.alloc(pix * s.cb) : null;
      K.convInputGrad(da, db, r, w, s);
      const dx = new Float32Array(pix * ci);
      for (let p = 0; p < pix; p++) {
        dx.set(da.subarray(p * s.ca, (p + 1) * s.ca), p * ci);
        if (db) dx.set(db.subarray(p * s.cb, (p + 1) * s.cb), p * ci + s.ca);
      }
      assertClose(dx, dxWant, `convInputGrad ${label(s)}`);
      const dw = K.alloc(w.length), dbias = K.alloc(s.co);
      K.convFilterGrad(dw, dbias, a, b, r, s);
      assertClose(dw, dwWant, `convFilterGrad dw ${label(s)}`);
      assertClose(dbias, dbWant, `convFilterGrad dbias ${label(s)}`);
      K.convFilterGrad(dw, null, a, b, r, s);
      assertClose(dw, dwWant, `convFilterGrad dw without dbias ${label(s)}`);
    }
  },
);

const BN_SHAPES: [number, number, number, number][] = [[2, 7, 5, 3], [1, 1, 7, 4], [3, 4, 4, 6]];

kernelTest(
  "bnReluForward() and bnReluBackward() match batchNormTrain + relu and tf.grads",
  async (rng) => {
    for (const shape of BN_SHAPES) {
      const [n, h, w, c] = shape, p = n * h * w;
      // An offset mean checks the centring; random gammas include negatives.
      const x = random(rng, p * c, 2, 5), gamma = random(rng, c, -1.5, 1.5);
      const beta = random(rng, c, -0.5, 0.5), r = random(rng, p * c);
      const [yWant, meanWant, varWant, dxWant, dgWant, dbWant] = await read(() => {
        const xt = tf.tensor4d(x, shape), rt = tf.tensor4d(r, shape);
        const gt = tf.tensor1d(gamma), bt = tf.tensor1d(beta);
        const { y, stats } = batchNormTrain(xt, gt, bt);
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.relu(batchNormTrain(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D).y),
              rt,
            ),
          );
        return [tf.relu(y), stats.mean, stats.varUnbiased, ...tf.grads(f)([xt, gt, bt])];
      });
      const y = K.alloc(p * c);
      const stats = { mean: K.alloc(c), invstd: K.alloc(c), varUnbiased: K.alloc(c) };
      K.bnReluForward(y, x, gamma, beta, stats, p, c, BN_EPS);
      assertClose(y, yWant, `bnReluForward y ${shape}`);
      assertClose(stats.mean, meanWant, `bnReluForward mean ${shape}`);
      assertClose(stats.varUnbiased, varWant, `bnReluForward varUnbiased ${shape}`);
      const invstdWant = varWant.map((v) => 1 / Math.sqrt(v * Math.max(p - 1, 1) / p + BN_EPS));
      assertClose(stats.invstd, invstdWant, `bnReluForward invstd ${shape}`);
      const dx = K.alloc(p * c), dgamma = K.alloc(c), dbeta = K.alloc(c);
      K.bnReluBackward(dx, dgamma, dbeta, r, x, y, gamma, stats.mean, stats.invstd, p, c);
      assertClose(dx, dxWant, `bnReluBackward dx ${shape}`);
      assertClose(dgamma, dgWant, `bnReluBackward dgamma ${shape}`);
      assertClose(dbeta, dbWant, `bnReluBackward dbeta ${shape}`);
    }
  },
);

const POOL_SHAPES: [number, number, number, number][] = [
  [1, 7, 5, 3],
  [2, 6, 8, 2],
  [1, 1, 3, 2],
  [2, 5, 1, 1],
];

kernelTest(
  "pool() and poolGrad() match maxPoolCeil and its gradient on odd sizes and ties",
  async (rng) => {
    for (const shape of POOL_SHAPES) {
      const [n, h, w, c] = shape, oh = Math.ceil(h / 2), ow = Math.ceil(w / 2);
      // Small integers make ties, which must route to the first maximum.
      for (const ties of [false, true]) {
        const x = ties
          ? Float32Array.from({ length: n * h * w * c }, () => rng.int(0, 3))
          : random(rng, n * h * w * c);
        const r = random(rng, n * oh * ow * c);
        const [yWant, dxWant] = await read(() => {
          const xt = tf.tensor4d(x, shape), rt = tf.tensor4d(r, [n, oh, ow, c]);
          const f = (xx: tf.Tensor) => tf.sum(tf.mul(maxPoolCeil(xx as tf.Tensor4D), rt));
          return [maxPoolCeil(xt), tf.grad(f)(xt)];
        });
        const y = K.alloc(n * oh * ow * c), dx = K.alloc(n * h * w * c).fill(7);
        K.pool(y, x, n, h, w, c);
        assertClose(y, yWant, `pool ${shape} ties ${ties}`);
        K.poolGrad(dx, r, x, n, h, w, c);
        assertClose(dx, dxWant, `poolGrad ${shape} ties ${ties}`);
      }
    }
  },
);

const RESIZE_CASES: [[number, number, number, number], [number, number]][] = [
  [[2, 5, 7, 3], [11, 13]],
  [[2, 13, 11, 3], [4, 5]],
  [[1, 7, 5, 2], [3, 9]],
  [[1, 1, 3, 2], [5, 1]],
  [[1, 4, 4, 2], [32, 32]],
];

kernelTest(
  "resize() and resizeGrad() match resizeBilinear and its gradient up, down and odd",
  async (rng) => {
    for (const [shape, [oh, ow]] of RESIZE_CASES) {
      const [n, h, w, c] = shape;
      const x = random(rng, n * h * w * c), r = random(rng, n * oh * ow * c);
      const [yWant, dxWant] = await read(() => {
        const xt = tf.tensor4d(x, shape), rt = tf.tensor4d(r, [n, oh, ow, c]);
        const f = (xx: tf.Tensor) =>
          tf.sum(tf.mul(resizeBilinear(xx as tf.Tensor4D, [oh, ow]), rt));
        return [resizeBilinear(xt, [oh, ow]), tf.grad(f)(xt)];
      });
      const y = K.alloc(n * oh * ow * c), dx = K.alloc(n * h * w * c).fill(7);
      K.resize(y, x, n, h, w, c, oh, ow);
      assertClose(y, yWant, `resize ${shape} -> ${oh}x${ow}`);
      K.resizeGrad(dx, r, n, h, w, c, oh, ow);
      assertClose(dx, dxWant, `resizeGrad ${shape} -> ${oh}x${ow}`);
    }
  },
);

kernelTest("accumulate() adds src into the first len values of dst", (rng) => {
  const dst = random(rng, 10), src = random(rng, 10), want = dst.slice();
  for (let i = 0; i < 7; i++) want[i] = Math.fround(want[i] + src[i]);
  K.accumulate(dst, src, 7);
  assert(maxAbsDiff(dst, want) === 0, "accumulate differs");
  return Promise.resolve();
});

Deno.test("alloc() gives a zeroed array and the set is named js", () => {
  const a = K.alloc(5);
  assert(a.length === 5 && a.every((v) => v === 0) && K.name === "js", "alloc or name wrong");
});
