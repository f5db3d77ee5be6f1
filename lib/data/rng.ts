/**
 * A small seeded random number generator (xoshiro128**, seeded through
 * splitmix32) whose whole state is four 32-bit words, so a training run can
 * save it in a checkpoint and continue the exact same stream after resuming.
 *
 * The seed project has no seeding at all (spec §9.16); streams here are not
 * meant to reproduce torch's, only to make our own runs repeatable.
 *
 * @module
 */

/** Serialisable state of an {@linkcode Rng}: four unsigned 32-bit words. */
export interface RngState {
  /** xoshiro128** state words, each in [0, 2^32). Never all zero. */
  s: [number, number, number, number];
}

/** Seed used when none is given. */
export const DEFAULT_SEED = 0x2d2d_5eed;

/**
 * Mixes integers into one 32-bit seed (splitmix32-style avalanche per part),
 * used to derive independent streams such as `(seed, epoch, sampleIndex)`.
 *
 * @example
 * ```ts
 * import { mixSeed } from "./rng.ts";
 * mixSeed(1, 2) !== mixSeed(2, 1); // true
 * ```
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e37_79b9;
  for (const p of parts) {
    // Fold in the low and the high 32 bits, so that seeds beyond 2^32 differ too.
    h = avalanche((h ^ (p >>> 0)) + 0x9e37_79b9);
    h = avalanche((h ^ Math.floor(p / 0x1_0000_0000) >>> 0) + 0x7f4a_7c15);
  }
  return h >>> 0;
}

function avalanche(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85eb_ca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2_ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * xoshiro128** generator.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42);
 * const saved = a.state();
 * const x = a.float();
 * const b = Rng.fromState(saved);
 * b.float() === x; // true
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);

  /** Seeds the four state words from `seed` with splitmix32. @default DEFAULT_SEED */
  constructor(seed: number = DEFAULT_SEED) {
    if (!Number.isFinite(seed)) {
      throw new RangeError(`Cannot seed Rng: current seed is ${seed}`);
    }
    let z = mixSeed(seed);
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e37_79b9) >>> 0;
      this.#s[i] = avalanche(z);
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** Makes a generator that continues from a saved {@linkcode RngState}. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.loadState(state);
    return r;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /**
   * Uniform integer in [lo, hi) (hi exclusive, like `torch.randint`), without
   * modulo bias.
   */
  int(lo: number, hi: number): number {
    const n = hi - lo;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || n <= 0 || n > 0x1_0000_0000) {
      throw new RangeError(`Cannot draw Rng.int: current range is [${lo}, ${hi})`);
    }
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return lo + (x % n);
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A copy of the current state (JSON-serialisable). */
  state(): RngState {
    const s = this.#s;
    return { s: [s[0], s[1], s[2], s[3]] };
  }

  /** Replaces the state with a saved one. */
  loadState(state: RngState): void {
    const s = state?.s;
    if (
      !Array.isArray(s) || s.length !== 4 ||
      !s.every((w) => Number.isInteger(w) && w >= 0 && w < 0x1_0000_0000) ||
      s.every((w) => w === 0)
    ) {
      throw new TypeError(`Cannot load Rng state: current value is ${JSON.stringify(state)}`);
    }
    this.#s.set(s);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
