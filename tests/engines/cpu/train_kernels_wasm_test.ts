import { assert } from "../../assert.ts";
import { BN_EPS } from "../../../lib/net/config.ts";
import { Rng } from "../../../lib/data/rng.ts";
import {
  adamwConstants,
  type ConvShape,
  type TrainKernels,
} from "../../../lib/engines/cpu/train_kernels.ts";
import { createJsTrainKernels } from "../../../lib/engines/cpu/train_kernels_js.ts";
import { createWasmTrainKernels } from "../../../lib/engines/cpu/train_kernels_wasm.ts";
import { TRAIN_WASM_SOURCE_SHA256 } from "../../../lib/engines/cpu/train_wasm.ts";
import { maxAbs, maxAbsDiff } from "../../helpers.ts";

const REF: TrainKernels = createJsTrainKernels();
const TOL = 1e-5;

/** A wasm set with room for 4M floats (every case below fits); FMA unless `fma` is false. */
const wasmKernels = (fma = true): Promise<TrainKernels> => createWasmTrainKernels(1 << 22, { fma });

/** Random values in `[lo, hi)` in an array from `k`'s alloc. */
function random(k: TrainKernels, rng: Rng, len: number, lo = -1, hi = 1): Float32Array {
  const a = k.alloc(len);
  for (let i = 0; i < len; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/** Asserts `actual` matches `expected` within TOL relative to the largest |expected|. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  const diff = maxAbsDiff(actual, expected), scale = Math.max(maxAbs(expected), 1e-6);
  assert(diff <= TOL * scale, `${what}: max diff ${diff} > ${TOL} · ${scale}`);
}

const CONV_CASES: ConvShape[] = [
  { n: 1, h: 7, w: 5, ca: 3, cb: 0, co: 4, k: 3, dil: 1 },
  { n: 2, h: 9, w: 6, ca: 2, cb: 3, co: 5, k: 3, dil: 2 },
  { n: 1, h: 11, w: 13, ca: 4, cb: 2, co: 3, k: 3, dil: 4 },
  { n: 1, h: 19, w: 17, ca: 8, cb: 8, co: 12, k: 3, dil: 8 },
  { n: 2, h: 5, w: 7, ca: 3, cb: 2, co: 4, k: 1, dil: 1 },
  { n: 2, h: 6, w: 9, ca: 16, cb: 0, co: 1, k: 3, dil: 1 },
  { n: 1, h: 7, w: 6, ca: 1, cb: 0, co: 17, k: 3, dil: 2 },
  { n: 2, h: 8, w: 8, ca: 13, cb: 11, co: 16, k: 3, dil: 1 },
  { n: 1, h: 5, w: 11, ca: 9, cb: 7, co: 9, k: 1, dil: 1 },
  { n: 1, h: 1, w: 7, ca: 2, cb: 0, co: 3, k: 3, dil: 2 },
  { n: 1, h: 9, w: 10, ca: 37, cb: 6, co: 1, k: 3, dil: 2 },
  { n: 2, h: 5, w: 6, ca: 5, cb: 1, co: 1, k: 1, dil: 1 },
  { n: 1, h: 12, w: 11, ca: 64, cb: 0, co: 1, k: 3, dil: 8 },
  // Packed weights past the module's scratch and past CACHE_BYTES on a small map: the
  // conv and the input gradient run block by block (threads split the blocks).
  { n: 1, h: 3, w: 4, ca: 600, cb: 500, co: 150, k: 3, dil: 1 },
];

/*
 * Shapes the wasm kernels run as Winograd F(2x2, 3x3) (train_winograd.c's
 * wg_pays picks it for the forward and for both parts of the input
 * gradient): dilations 1, 2, 4, 8, odd sizes, N > 1, with and without b;
 * 128 -> 160 needs two output-channel groups of U. Same TOL as the direct
 * convs: Winograd's differences from them measured ≤ 1.3e-6 (relative to
 * the largest output) at these channel counts.
 */
const WINO_CASES: ConvShape[] = [
  { n: 2, h: 9, w: 7, ca: 16, cb: 0, co: 16, k: 3, dil: 1 },
  { n: 3, h: 10, w: 13, ca: 8, cb: 8, co: 12, k: 3, dil: 2 },
  { n: 2, h: 27, w: 21, ca: 16, cb: 4, co: 20, k: 3, dil: 4 },
  { n: 2, h: 41, w: 37, ca: 16, cb: 0, co: 16, k: 3, dil: 8 },
  { n: 2, h: 12, w: 12, ca: 64, cb: 64, co: 64, k: 3, dil: 1 },
  { n: 1, h: 16, w: 15, ca: 128, cb: 0, co: 160, k: 3, dil: 1 },
  { n: 2, h: 6, w: 6, ca: 4, cb: 0, co: 4, k: 3, dil: 1 },
  // Few tiles, several output-channel groups of U (forward and input gradient):
  // threads split the groups.
  { n: 2, h: 4, w: 4, ca: 256, cb: 256, co: 192, k: 3, dil: 1 },
];

function label(s: ConvShape): string {
  return `${s.n}x${s.h}x${s.w} ${s.ca}+${s.cb}->${s.co} k${s.k} dil${s.dil}`;
}

for (const fma of [true, false]) {
  Deno.test(`wasm conv() matches the JS reference with and without b and bias, dilated and odd (fma ${fma})`, async () => {
    const W = await wasmKernels(fma), rng = new Rng(5);
    for (const s of CONV_CASES) {
      const pix = s.n * s.h * s.w, ci = s.ca + s.cb;
      const a = random(W, rng, pix * s.ca), b = s.cb ? random(W, rng, pix * s.cb) : null;
      const w = random(W, rng, s.k * s.k * ci * s.co);
      for (const bias of [null, random(W, rng, s.co)]) {
        const out = W.alloc(pix * s.co).fill(7), want = REF.alloc(pix * s.co);
        W.conv(out, a, b, w, bias, s);
        REF.conv(want, a.slice(), b?.slice() ?? null, w.slice(), bias?.slice() ?? null, s);
        assertClose(out, want, `conv ${label(s)} bias ${bias !== null}`);
      }
    }
  });

  Deno.test(`wasm convInputGrad() and convFilterGrad() match the JS reference (fma ${fma})`, async () => {
    const W = await wasmKernels(fma), rng = new Rng(6);
    for (const s of CONV_CASES) {
      const pix = s.n * s.h * s.w, ci = s.ca + s.cb;
      const a = random(W, rng, pix * s.ca), b = s.cb ? random(W, rng, pix * s.cb) : null;
      const w = random(W, rng, s.k * s.k * ci * s.co), dy = random(W, rng, pix * s.co);
      const da = W.alloc(pix * s.ca).fill(7), db = b ? W.alloc(pix * s.cb).fill(7) : null;
      W.convInputGrad(da, db, dy, w, s);
      const daWant = REF.alloc(pix * s.ca), dbWant = b ? REF.alloc(pix * s.cb) : null;
      REF.convInputGrad(daWant, dbWant, dy.slice(), w.slice(), s);
      assertClose(da, daWant, `convInputGrad da ${label(s)}`);
      if (db && dbWant) assertClose(db, dbWant, `convInputGrad db ${label(s)}`);
      const dw = W.alloc(w.length).fill(7), dbias = W.alloc(s.co).fill(7);
      const dwWant = REF.alloc(w.length), dbiasWant = REF.alloc(s.co);
      W.convFilterGrad(dw, dbias, a, b, dy, s);
      REF.convFilterGrad(dwWant, dbiasWant, a.slice(), b?.slice() ?? null, dy.slice(), s);
      assertClose(dw, dwWant, `convFilterGrad dw ${label(s)}`);
      assertClose(dbias, dbiasWant, `convFilterGrad dbias ${label(s)}`);
      dw.fill(7);
      W.convFilterGrad(dw, null, a, b, dy, s);
      assertClose(dw, dwWant, `convFilterGrad dw without dbias ${label(s)}`);
    }
  });

  Deno.test(`wasm conv() and convInputGrad() as Winograd match the JS reference at dilations 1-8, odd sizes, N > 1 (fma ${fma})`, async () => {
    const W = await wasmKernels(fma), rng = new Rng(12);
    for (const s of WINO_CASES) {
      const pix = s.n * s.h * s.w, ci = s.ca + s.cb;
      const a = random(W, rng, pix * s.ca), b = s.cb ? random(W, rng, pix * s.cb) : null;
      const w = random(W, rng, 9 * ci * s.co), dy = random(W, rng, pix * s.co);
      for (const bias of [null, random(W, rng, s.co)]) {
        const out = W.alloc(pix * s.co).fill(7), want = REF.alloc(pix * s.co);
        W.conv(out, a, b, w, bias, s);
        REF.conv(want, a.slice(), b?.slice() ?? null, w.slice(), bias?.slice() ?? null, s);
        assertClose(out, want, `conv ${label(s)} bias ${bias !== null}`);
      }
      const da = W.alloc(pix * s.ca).fill(7), db = b ? W.alloc(pix * s.cb).fill(7) : null;
      W.convInputGrad(da, db, dy, w, s);
      const daWant = REF.alloc(pix * s.ca), dbWant = b ? REF.alloc(pix * s.cb) : null;
      REF.convInputGrad(daWant, dbWant, dy.slice(), w.slice(), s);
      assertClose(da, daWant, `convInputGrad da ${label(s)}`);
      if (db && dbWant) assertClose(db, dbWant, `convInputGrad db ${label(s)}`);
    }
  });

  Deno.test(`wasm conv kernels give the same bits on every run (fma ${fma})`, async () => {
    const W = await wasmKernels(fma), rng = new Rng(7);
    const s: ConvShape = { n: 2, h: 12, w: 10, ca: 24, cb: 8, co: 16, k: 3, dil: 2 };
    const pix = s.n * s.h * s.w;
    const a = random(W, rng, pix * s.ca), b = random(W, rng, pix * s.cb);
    const w = random(W, rng, 9 * 32 * 16), dy = random(W, rng, pix * s.co);
    const run = () => {
      const out = W.alloc(pix * s.co), da = W.alloc(pix * s.ca), db = W.alloc(pix * s.cb);
      const dw = W.alloc(w.length), dbias = W.alloc(s.co);
      W.conv(out, a, b, w, null, s);
      W.convInputGrad(da, db, dy, w, s);
      W.convFilterGrad(dw, dbias, a, b, dy, s);
      return [out, da, db, dw, dbias];
    };
    const first = run(), second = run();
    first.forEach((x, i) => assert(maxAbsDiff(x, second[i]) === 0, `output ${i} differs`));
  });
}

const BN_SHAPES: [number, number][] = [[70, 3], [7, 4], [48, 6], [333, 16], [1000, 12]];

Deno.test("wasm bnReluForward() and bnReluBackward() match the JS reference", async () => {
  const W = await wasmKernels(), rng = new Rng(8);
  for (const [p, c] of BN_SHAPES) {
    // An offset mean checks the centring; random gammas include negatives.
    const x = random(W, rng, p * c, 2, 5), gamma = random(W, rng, c, -1.5, 1.5);
    const beta = random(W, rng, c, -0.5, 0.5), dy = random(W, rng, p * c);
    const y = W.alloc(p * c), yWant = REF.alloc(p * c);
    const stats = { mean: W.alloc(c), invstd: W.alloc(c), varUnbiased: W.alloc(c) };
    const want = { mean: REF.alloc(c), invstd: REF.alloc(c), varUnbiased: REF.alloc(c) };
    W.bnReluForward(y, x, gamma, beta, stats, p, c, BN_EPS);
    REF.bnReluForward(yWant, x.slice(), gamma.slice(), beta.slice(), want, p, c, BN_EPS);
    assertClose(y, yWant, `bnReluForward y ${p}x${c}`);
    assertClose(stats.mean, want.mean, `bnReluForward mean ${p}x${c}`);
    assertClose(stats.invstd, want.invstd, `bnReluForward invstd ${p}x${c}`);
    assertClose(stats.varUnbiased, want.varUnbiased, `bnReluForward varUnbiased ${p}x${c}`);
    const dx = W.alloc(p * c), dgamma = W.alloc(c), dbeta = W.alloc(c);
    const dxWant = REF.alloc(p * c), dgWant = REF.alloc(c), dbWant = REF.alloc(c);
    W.bnReluBackward(dx, dgamma, dbeta, dy, x, y, gamma, stats.mean, stats.invstd, p, c);
    REF.bnReluBackward(
      dxWant,
      dgWant,
      dbWant,
      dy.slice(),
      x.slice(),
      yWant,
      gamma.slice(),
      want.mean,
      want.invstd,
      p,
      c,
    );
    assertClose(dx, dxWant, `bnReluBackward dx ${p}x${c}`);
    assertClose(dgamma, dgWant, `bnReluBackward dgamma ${p}x${c}`);
    assertClose(dbeta, dbWant, `bnReluBackward dbeta ${p}x${c}`);
  }
});

const POOL_SHAPES: [number, number, number, number][] = [
  [1, 7, 5, 3],
  [2, 6, 8, 2],
  [1, 1, 3, 2],
  [2, 5, 1, 1],
  [2, 9, 7, 8],
  [1, 5, 6, 5],
];

Deno.test("wasm pool() and poolGrad() match the JS reference on odd sizes and ties", async () => {
  const W = await wasmKernels(), rng = new Rng(9);
  for (const [n, h, w, c] of POOL_SHAPES) {
    const oh = Math.ceil(h / 2), ow = Math.ceil(w / 2);
    // Small integers make ties, which must route to the first maximum.
    for (const ties of [false, true]) {
      const x = ties ? W.alloc(n * h * w * c) : random(W, rng, n * h * w * c);
      if (ties) { for (let i = 0; i < x.length; i++) x[i] = rng.int(0, 3); }
      const dy = random(W, rng, n * oh * ow * c);
      const y = W.alloc(n * oh * ow * c), yWant = REF.alloc(n * oh * ow * c);
      W.pool(y, x, n, h, w, c);
      REF.pool(yWant, x.slice(), n, h, w, c);
      assertClose(y, yWant, `pool ${[n, h, w, c]} ties ${ties}`);
      const dx = W.alloc(n * h * w * c).fill(7), dxWant = REF.alloc(n * h * w * c);
      W.poolGrad(dx, dy, x, n, h, w, c);
      REF.poolGrad(dxWant, dy.slice(), x.slice(), n, h, w, c);
      assertClose(dx, dxWant, `poolGrad ${[n, h, w, c]} ties ${ties}`);
    }
  }
});

const RESIZE_CASES: [[number, number, number, number], [number, number]][] = [
  [[2, 5, 7, 3], [11, 13]],
  [[2, 13, 11, 3], [4, 5]],
  [[1, 7, 5, 2], [3, 9]],
  [[1, 1, 3, 2], [5, 1]],
  [[1, 4, 4, 8], [32, 32]],
  [[1, 10, 10, 16], [20, 20]],
];

Deno.test("wasm resize() and resizeGrad() match the JS reference up, down and odd", async () => {
  const W = await wasmKernels(), rng = new Rng(10);
  for (const [[n, h, w, c], [oh, ow]] of RESIZE_CASES) {
    const x = random(W, rng, n * h * w * c), dy = random(W, rng, n * oh * ow * c);
    const y = W.alloc(n * oh * ow * c), yWant = REF.alloc(n * oh * ow * c);
    W.resize(y, x, n, h, w, c, oh, ow);
    REF.resize(yWant, x.slice(), n, h, w, c, oh, ow);
    assertClose(y, yWant, `resize ${[n, h, w, c]} -> ${oh}x${ow}`);
    const dx = W.alloc(n * h * w * c).fill(7), dxWant = REF.alloc(n * h * w * c);
    W.resizeGrad(dx, dy, n, h, w, c, oh, ow);
    REF.resizeGrad(dxWant, dy.slice(), n, h, w, c, oh, ow);
    assertClose(dx, dxWant, `resizeGrad ${[n, h, w, c]} -> ${oh}x${ow}`);
  }
});

Deno.test("wasm conv kernels do nothing when the batch is empty, on two threads", async () => {
  // Shapes of every conv path (direct by rows, direct block by block, Winograd).
  const W = await createWasmTrainKernels(1 << 24, { threads: 2, splitWork: 0 });
  try {
    for (const s of [CONV_CASES[CONV_CASES.length - 1], CONV_CASES[0], ...WINO_CASES]) {
      const e = { ...s, n: 0 }, ci = s.ca + s.cb;
      const w = random(W, new Rng(3), 9 * ci * s.co), bias = W.alloc(s.co), dw = W.alloc(w.length);
      const none = () => W.alloc(0);
      W.conv(none(), none(), s.cb ? none() : null, w, bias, e);
      W.convInputGrad(none(), s.cb ? none() : null, none(), w, e);
      W.convFilterGrad(dw, bias, none(), s.cb ? none() : null, none(), e);
      assert(
        dw.every((v) => v === 0) && bias.every((v) => v === 0),
        `${label(e)}: gradients not 0`,
      );
    }
  } finally {
    W.dispose?.();
  }
});

Deno.test("wasm accumulate() adds src into the first len values of dst", async () => {
  const W = await wasmKernels(), rng = new Rng(11);
  for (const len of [7, 16, 33]) {
    const dst = random(W, rng, 40), src = random(W, rng, 40), want = dst.slice();
    for (let i = 0; i < len; i++) want[i] = Math.fround(want[i] + src[i]);
    W.accumulate(dst, src, len);
    assert(maxAbsDiff(dst, want) === 0, `accumulate ${len} differs`);
  }
});

Deno.test("wasm adamw() matches the JS reference bit for bit on any thread count and length", async () => {
  for (const threads of [1, 3]) {
    const k = await createWasmTrainKernels(1 << 16, { threads, splitWork: 0 });
    try {
      for (const [len, t] of [[1, 1], [7, 2], [4099, 1], [4099, 30]]) {
        const rng = new Rng(len + t);
        const p = random(k, rng, len), g = random(k, rng, len, -3, 3);
        const m = random(k, rng, len, -0.1, 0.1), v = random(k, rng, len, 0, 0.01);
        for (let i = 0; i < len; i += 5) v[i] = 0; // the denominator is eps alone
        const ref = [p, g, m, v].map((a) => Float32Array.from(a));
        const c = adamwConstants(
          { lr: 1e-3, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8 },
          t,
        );
        k.adamw!(p, g, m, v, c);
        REF.adamw!(ref[0], ref[1], ref[2], ref[3], c);
        for (const [i, got] of [p, m, v].entries()) {
          const want = ref[[0, 2, 3][i]];
          const same = got.every((x, j) => Object.is(x, want[j]));
          assert(same, `${threads} threads, length ${len}, t ${t}: ${"pmv"[i]} differs`);
        }
      }
    } finally {
      k.dispose?.();
    }
  }
});

Deno.test("wasm alloc() gives zeroed views into one memory and refuses past its size", async () => {
  const W = await createWasmTrainKernels(100);
  const a = W.alloc(5), b = W.alloc(50);
  assert(
    a.every((v) => v === 0) && b.every((v) => v === 0) && W.name.startsWith("wasm"),
    "not zeroed",
  );
  assert(a.buffer === b.buffer && b.byteOffset >= a.byteOffset + 20, "not one memory");
  let threw = false;
  try {
    W.alloc(100);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assert(threw, "alloc past the size did not throw");
});

Deno.test("train_wasm.ts was built from the current cpu_train.c and train_*.c", async () => {
  // As build_train.sh hashes them: the files sorted by name, concatenated.
  const main = new URL("../../../lib/engines/cpu/_wasm/cpu_train.c", import.meta.url);
  const dir = new URL(".", main);
  const names = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name === "cpu_train.c" || /^train_.*\.c$/.test(e.name)) names.push(e.name);
  }
  names.sort();
  const parts = await Promise.all(names.map((n) => Deno.readFile(new URL(n, dir))));
  const src = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (src.set(p, at), at + p.length), 0);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", src));
  const hex = Array.from(hash, (x) => x.toString(16).padStart(2, "0")).join("");
  assert(hex === TRAIN_WASM_SOURCE_SHA256, "rebuild with lib/engines/cpu/_wasm/build_train.sh");
});

/** Every kernel on the cases above (inputs from one seed), each output copied. */
function runEveryKernel(W: TrainKernels): Float32Array[] {
  const rng = new Rng(21), outs: Float32Array[] = [];
  for (const s of [...CONV_CASES, ...WINO_CASES]) {
    const pix = s.n * s.h * s.w, ci = s.ca + s.cb;
    const a = random(W, rng, pix * s.ca), b = s.cb ? random(W, rng, pix * s.cb) : null;
    const w = random(W, rng, s.k * s.k * ci * s.co), dy = random(W, rng, pix * s.co);
    const bias = random(W, rng, s.co);
    const out = W.alloc(pix * s.co), da = W.alloc(pix * s.ca), db = b ? W.alloc(pix * s.cb) : null;
    const dw = W.alloc(w.length), dbias = W.alloc(s.co);
    W.conv(out, a, b, w, bias, s);
    W.convInputGrad(da, db, dy, w, s);
    W.convFilterGrad(dw, dbias, a, b, dy, s);
    outs.push(out, da, dw, dbias, ...(db ? [db] : []));
  }
  for (const [p, c] of [...BN_SHAPES, [96, 64]]) {
    const x = random(W, rng, p * c, 2, 5), gamma = random(W, rng, c, -1.5, 1.5);
    const beta = random(W, rng, c, -0.5, 0.5), dy = random(W, rng, p * c);
    const y = W.alloc(p * c), dx = W.alloc(p * c), dgamma = W.alloc(c), dbeta = W.alloc(c);
    const stats = { mean: W.alloc(c), invstd: W.alloc(c), varUnbiased: W.alloc(c) };
    W.bnReluForward(y, x, gamma, beta, stats, p, c, BN_EPS);
    W.bnReluBackward(dx, dgamma, dbeta, dy, x, y, gamma, stats.mean, stats.invstd, p, c);
    outs.push(y, stats.mean, stats.invstd, stats.varUnbiased, dx, dgamma, dbeta);
  }
  for (const [n, h, w, c] of POOL_SHAPES) {
    const oh = Math.ceil(h / 2), ow = Math.ceil(w / 2);
    const x = random(W, rng, n * h * w * c), dy = random(W, rng, n * oh * ow * c);
    const y = W.alloc(n * oh * ow * c), dx = W.alloc(n * h * w * c);
    W.pool(y, x, n, h, w, c);
    W.poolGrad(dx, dy, x, n, h, w, c);
    outs.push(y, dx);
  }
  for (const [[n, h, w, c], [oh, ow]] of RESIZE_CASES) {
    const x = random(W, rng, n * h * w * c), dy = random(W, rng, n * oh * ow * c);
    const y = W.alloc(n * oh * ow * c), dx = W.alloc(n * h * w * c);
    W.resize(y, x, n, h, w, c, oh, ow);
    W.resizeGrad(dx, dy, n, h, w, c, oh, ow);
    outs.push(y, dx);
  }
  for (const len of [7, 33, 1000]) {
    const dst = random(W, rng, len), src = random(W, rng, len);
    W.accumulate(dst, src, len);
    outs.push(dst);
  }
  return outs.map((x) => x.slice());
}

for (const fma of [true, false]) {
  Deno.test(`wasm kernels give the same bits on 1, 2 and 3 threads, every call split (fma ${fma})`, async () => {
    let first: Float32Array[] | undefined;
    for (const threads of [1, 2, 3]) {
      const W = await createWasmTrainKernels(1 << 23, { fma, threads, splitWork: 0 });
      try {
        const outs = runEveryKernel(W);
        first ??= outs;
        outs.forEach((x, i) => {
          const same = new Uint32Array(x.buffer).every((v, j) =>
            v === new Uint32Array(first![i].buffer)[j]
          );
          assert(
            same && x.length === first![i].length,
            `output ${i} differs on ${threads} threads`,
          );
        });
      } finally {
        W.dispose?.();
      }
    }
  });
}
