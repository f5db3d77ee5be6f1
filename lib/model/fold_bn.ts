/**
 * BatchNorm folding: every eval-mode conv → BN → ReLU becomes conv(+bias) →
 * ReLU, with `w' = w·γ/√(var+eps)` and `b' = (b − mean)·γ/√(var+eps) + β`,
 * computed in float64 and rounded once to float32.
 *
 * @module
 */
import type { RawTensor, StateDict } from "../io/raw_tensor.ts";
import { BN_EPS } from "../net/config.ts";
import { U2Net } from "./u2net.ts";

/**
 * Folds eval-mode BatchNorm (running statistics) into conv weights and biases
 * of a seed state dict. Side and fuse convs (no BN) pass through unchanged;
 * `num_batches_tracked` is dropped. Keys without BN (already folded) are kept.
 *
 * @example
 * ```ts
 * import { foldStateDict } from "./fold_bn.ts";
 * const f = (xs: number[]) => ({ dtype: "F32" as const, shape: [xs.length], data: new Float32Array(xs) });
 * const sd = new Map([
 *   ["a.conv.weight", { dtype: "F32" as const, shape: [1, 1, 1, 1], data: new Float32Array([2]) }],
 *   ["a.bn.weight", f([1])], ["a.bn.bias", f([1])],
 *   ["a.bn.running_mean", f([0])], ["a.bn.running_var", f([1 - 1e-5])],
 * ]);
 * foldStateDict(sd).get("a.conv.bias")!.data[0]; // 1
 * ```
 */
export function foldStateDict(sd: StateDict, eps: number = BN_EPS): StateDict {
  const out: StateDict = new Map();
  const get = (key: string): Float32Array => {
    const t = sd.get(key);
    if (!t || !(t.data instanceof Float32Array)) {
      throw new TypeError(`Cannot fold BatchNorm: current state dict lacks F32 "${key}"`);
    }
    return t.data;
  };
  for (const [key, t] of sd) {
    if (/\.bn\.\w+$/.test(key)) continue;
    const m = /^(.*)\.conv\.weight$/.exec(key);
    if (!m || !sd.has(`${m[1]}.bn.weight`)) {
      if (!/\.conv\.bias$/.test(key) || !sd.has(key.replace(/conv\.bias$/, "bn.weight"))) {
        out.set(key, t);
      }
      continue;
    }
    const p = m[1];
    const w = get(key);
    const o = t.shape[0];
    const gamma = get(`${p}.bn.weight`), beta = get(`${p}.bn.bias`);
    const mean = get(`${p}.bn.running_mean`), variance = get(`${p}.bn.running_var`);
    const b = sd.has(`${p}.conv.bias`) ? get(`${p}.conv.bias`) : new Float32Array(o);
    const w2 = new Float32Array(w.length);
    const b2 = new Float32Array(o);
    const per = w.length / o;
    for (let c = 0; c < o; c++) {
      const k = gamma[c] / Math.sqrt(variance[c] + eps);
      for (let j = c * per; j < (c + 1) * per; j++) w2[j] = w[j] * k;
      b2[c] = (b[c] - mean[c]) * k + beta[c];
    }
    const wt: RawTensor = { dtype: "F32", shape: [...t.shape], data: w2 };
    out.set(key, wt);
    out.set(`${p}.conv.bias`, { dtype: "F32", shape: [o], data: b2 });
  }
  return out;
}

/**
 * Returns a new folded-BN inference network (`batchNorm: false`, eval mode)
 * computing the same eval-mode output as `model` (within float32 rounding).
 * A network that is already folded is copied. The input is left untouched;
 * the caller owns (and disposes) both.
 *
 * @example
 * ```ts
 * import { foldBatchNorm } from "./fold_bn.ts";
 * import { U2Net } from "./u2net.ts";
 * const model = U2Net.create("lite");
 * const folded = await foldBatchNorm(model);
 * folded.batchNorm; // false
 * folded.dispose();
 * model.dispose();
 * ```
 */
export async function foldBatchNorm(model: U2Net): Promise<U2Net> {
  const sd = await model.stateDict();
  const folded = model.batchNorm ? foldStateDict(sd) : sd;
  const out = U2Net.create(model.config, { batchNorm: false, convBias: true });
  try {
    out.loadStateDict(folded);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out.eval();
}
