/**
 * Where the CpuTrainer's train-mode gradients lose accuracy: one step's
 * gradients against a float64 reference (the same plan on the JS kernels
 * over Float64Array), divided by tfjs-cpu's distance from that reference,
 * with kernels swapped one at a time.
 *
 *   deno run --allow-read=. --allow-env bench/cpu/grad_error.ts [--seeds 3,4,5] [--data random|synth] [--variants ...]
 *
 * Variants (each a whole step; the number printed is the median
 * per-parameter relative error over tfjs-cpu's):
 * - `wasm`: the wasm kernels, as trained; `js`: the JS kernels (float64 sums,
 *   float32 arrays);
 * - `wasm-js:K`: the wasm kernels with kernel K from the JS set (e.g. `conv`,
 *   or several: `bnReluForward+resize`);
 * - `js-wasm:K`: the JS kernels with kernel K (or several) from the wasm set;
 * - `js-tfconv`: the JS kernels with tfjs-cpu's conv order (per output, taps
 *   then channels, rounded to float32 after every add);
 * - `js-ulp:U`: the JS kernels with every conv output moved by a random
 *   relative U ulps (how far a forward perturbation alone moves the gradients).
 *
 * Network: half-width u2net_lite at 4x48x48 (the accuracy test's). Data:
 * uniform noise (the test's) or the synthetic generator's images.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { AdamW } from "../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../lib/optim/params_groups.ts";
import { criterion } from "../../lib/train/loss.ts";
import { CpuTrainer } from "../../lib/engines/cpu/cpu_trainer.ts";
import type { ConvShape, TrainKernels } from "../../lib/engines/cpu/train_kernels.ts";
import { createJsTrainKernels } from "../../lib/engines/cpu/train_kernels_js.ts";
import { createWasmTrainKernels } from "../../lib/engines/cpu/train_kernels_wasm.ts";
import { syntheticSample } from "../../lib/data/synthetic.ts";
import { HALF_LITE } from "../../tests/helpers.ts"; // the accuracy test's network

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    seeds: { type: "string", default: "3,4,5" },
    data: { type: "string", default: "random" },
    variants: {
      type: "string",
      default: "wasm,js,wasm-js:conv,js-wasm:conv,js-tfconv,js-ulp:1,js-ulp:4",
    },
  },
});
await tf.setBackend("cpu");
const [N, H, W] = [4, 48, 48];
type Kernel = keyof TrainKernels;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Images (normalised NHWC) and masks in [0, 1]. */
function batch(seed: number): [Float32Array, Float32Array] {
  const x = new Float32Array(N * H * W * 3), y = new Float32Array(N * H * W);
  if (a.data === "random") {
    const [rx, ry] = [lcg(11 + seed), lcg(12 + seed)];
    return [x.map(() => -2 + 4 * rx()), y.map(() => ry())];
  }
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  for (let i = 0; i < N; i++) {
    const { image, mask } = syntheticSample(i, { seed, size: H });
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < 3; c++) {
        x[(i * H * W + p) * 3 + c] = (image.data[p * image.channels + c] / 255 - mean[c]) / std[c];
      }
      y[i * H * W + p] = mask.data[p * mask.channels] / 255;
    }
  }
  return [x, y];
}

/** tfjs-cpu's Conv2D order: per output, taps then channels, float32 after every add. */
function tfjsOrderConv(
  out: Float32Array,
  xa: Float32Array,
  xb: Float32Array | null,
  w: Float32Array,
  bias: Float32Array | null,
  s: ConvShape,
): void {
  const ci = s.ca + s.cb, r = (s.k - 1) / 2, acc = new Float32Array(s.co);
  for (let p = 0; p < s.n * s.h * s.w; p++) {
    const [i, y, x] = [Math.floor(p / (s.h * s.w)), Math.floor(p / s.w) % s.h, p % s.w];
    acc.fill(0);
    for (let ky = 0; ky < s.k; ky++) {
      const yy = y + (ky - r) * s.dil;
      for (let kx = 0; kx < s.k && yy >= 0 && yy < s.h; kx++) {
        const xx = x + (kx - r) * s.dil;
        if (xx < 0 || xx >= s.w) continue;
        const q = (i * s.h + yy) * s.w + xx;
        for (let c = 0; c < ci; c++) {
          const v = c < s.ca ? xa[q * s.ca + c] : xb![q * s.cb + c - s.ca];
          const wo = ((ky * s.k + kx) * ci + c) * s.co;
          for (let o = 0; o < s.co; o++) acc[o] += v * w[wo + o];
        }
      }
    }
    for (let o = 0; o < s.co; o++) out[p * s.co + o] = bias ? acc[o] + bias[o] : acc[o];
  }
}

/** Median over parameters of ‖g − ref‖ / ‖ref‖. */
function medianError(g: Map<string, ArrayLike<number>>, ref: Map<string, ArrayLike<number>>) {
  const each = [...ref].map(([key, r]) => {
    const v = g.get(key)!;
    let [d, n] = [0, 0];
    for (let i = 0; i < r.length; i++) [d, n] = [d + (v[i] - r[i]) ** 2, n + r[i] ** 2];
    return Math.sqrt(d / Math.max(n, 1e-300));
  }).sort((p, q) => p - q);
  return each[each.length >> 1];
}

async function kernelsFor(variant: string, seed: number): Promise<TrainKernels> {
  const J = createJsTrainKernels();
  const [kind, arg] = variant.split(":");
  if (kind === "js") return J;
  const K = await createWasmTrainKernels(60_000_000, { fma: true });
  if (kind === "wasm") return K;
  const pick = (from: TrainKernels) =>
    Object.fromEntries(arg.split("+").map((k) => [k, from[k as Kernel]]));
  if (kind === "wasm-js") return { ...K, name: variant, ...pick(J) };
  if (kind === "js-wasm") return { ...J, alloc: K.alloc, name: variant, ...pick(K) };
  if (kind === "js-tfconv") return { ...J, name: variant, conv: tfjsOrderConv };
  if (kind === "js-ulp") {
    const rand = lcg(99 + seed), u = Number(arg) * 2 ** -24;
    const conv: TrainKernels["conv"] = (out, xa, xb, w, bias, s) => {
      J.conv(out, xa, xb, w, bias, s);
      const len = s.n * s.h * s.w * s.co;
      for (let i = 0; i < len; i++) out[i] *= 1 + u * (2 * rand() - 1);
    };
    return { ...J, name: variant, conv };
  }
  throw new RangeError(`Cannot run variant: current value is ${variant}`);
}

for (const seed of a.seeds!.split(",").map(Number)) {
  const [X, Y] = batch(seed);
  const model = U2Net.create(HALF_LITE, { seed });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 0 });
  const opts = { batch: N, height: H, width: W };
  const gradsOf = async (kernels: TrainKernels) => {
    const t = await CpuTrainer.create({ model, optimizer }, { ...opts, kernels, fma: true });
    try {
      await t.step(X, Y);
      return t.gradients();
    } finally {
      t.dispose();
    }
  };
  const f64 = (n: number) => new Float64Array(n) as unknown as Float32Array;
  const ref = await gradsOf({ ...createJsTrainKernels(), name: "f64", alloc: f64 });
  model.train();
  const named = model.namedParameters();
  const [xs, ys] = [tf.tensor4d(X, [N, H, W, 3]), tf.tensor4d(Y, [N, H, W, 1])];
  const { value, grads } = tf.variableGrads(
    () => criterion(model.forward(xs), ys),
    named.map(([, v]) => v),
  );
  const tfjs = new Map<string, Float32Array>();
  for (const [key, v] of named) tfjs.set(key, await grads[v.name].data() as Float32Array);
  tf.dispose([value, xs, ys, ...Object.values(grads)]);
  const base = medianError(tfjs, ref);
  const row: Record<string, number | string> = { seed, data: a.data!, tfjs: base };
  for (const v of a.variants!.split(",")) {
    row[v] = +(medianError(await gradsOf(await kernelsFor(v, seed)), ref) / base).toFixed(2);
  }
  console.log(JSON.stringify(row));
  optimizer.dispose();
  model.dispose();
}
