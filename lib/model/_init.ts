/**
 * PyTorch's default initialisation, drawn from a seeded host RNG so that a
 * seed gives the same network on every backend.
 *
 * @module
 */
import type { StateEntrySpec } from "../net/state_dict.ts";

/** A small, fast, seeded PRNG (mulberry32) returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fresh values for one entry: conv weights and biases U(-1/√fan_in, 1/√fan_in)
 * (what `kaiming_uniform_(a=√5)` amounts to), BN weight 1, bias 0, running
 * mean 0, running var 1.
 */
export function initialValues(spec: StateEntrySpec, rand: () => number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.init === "ones") out.fill(1);
  else if (spec.init === "kaiming" || spec.init === "fanIn") {
    const bound = 1 / Math.sqrt(spec.fanIn);
    for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * bound;
  }
  return out;
}
