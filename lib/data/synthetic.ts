/**
 * A procedural salient-object dataset for smoke tests and benchmarks:
 * one or two large textured foreground objects (ellipses, stars/polygons,
 * rounded rectangles, blobs) on a cluttered background (gradients, value
 * noise, smaller distractor shapes, pixel noise). The mask is exactly the
 * foreground pixels (pixel-centre inside test, no anti-aliasing), 0 or 255.
 * Every sample is a pure function of `(seed, index, size)`.
 *
 * @module
 */
import type { RawSample, SampleSource } from "./dataset.ts";
import { mixSeed, Rng } from "./rng.ts";

/** Options of {@linkcode syntheticSample} and {@linkcode syntheticSource}. */
export interface SyntheticOptions {
  /** Dataset seed. @default SYNTHETIC_DEFAULTS.seed */
  seed?: number;
  /** Side of the square images. @default SYNTHETIC_DEFAULTS.size */
  size?: number;
  /** Number of samples of a {@linkcode syntheticSource}. @default SYNTHETIC_DEFAULTS.count */
  count?: number;
}

/** Defaults of {@linkcode SyntheticOptions}. */
export const SYNTHETIC_DEFAULTS: Readonly<Required<SyntheticOptions>> = {
  seed: 0,
  size: 96,
  count: 256,
};

type Rgb = [number, number, number];
type Inside = (x: number, y: number) => boolean;
type Paint = (x: number, y: number, out: Float32Array, o: number) => void;

function hsv(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6), f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const m: Rgb[] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]];
  return m[((i % 6) + 6) % 6].map((c) => c * 255) as Rgb;
}

/** A shape of "radius" r around (cx, cy): returns its pixel-centre test. */
function makeShape(rng: Rng, cx: number, cy: number, r: number): Inside {
  const th = rng.uniform(0, Math.PI), cos = Math.cos(th), sin = Math.sin(th);
  const local = (x: number, y: number): [number, number] => {
    const dx = x - cx, dy = y - cy;
    return [dx * cos + dy * sin, -dx * sin + dy * cos];
  };
  const kind = rng.int(0, 4);
  if (kind === 0) { // ellipse
    const a = r, b = r * rng.uniform(0.45, 1);
    return (x, y) => {
      const [u, v] = local(x, y);
      return (u / a) ** 2 + (v / b) ** 2 <= 1;
    };
  }
  if (kind === 1) { // rounded rectangle
    const a = r, b = r * rng.uniform(0.4, 1), rr = Math.min(a, b) * rng.uniform(0, 0.6);
    return (x, y) => {
      const [u, v] = local(x, y);
      const qx = Math.abs(u) - (a - rr), qy = Math.abs(v) - (b - rr);
      return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) <= rr;
    };
  }
  if (kind === 2) { // regular polygon or star (even-odd test)
    const n = rng.int(3, 9), star = rng.float() < 0.5, inner = rng.uniform(0.4, 0.7);
    const m = star ? 2 * n : n;
    const px = new Float64Array(m), py = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const rad = star && k % 2 === 1 ? r * inner : r;
      px[k] = rad * Math.cos((2 * Math.PI * k) / m);
      py[k] = rad * Math.sin((2 * Math.PI * k) / m);
    }
    return (x, y) => {
      const [u, v] = local(x, y);
      let inside = false;
      for (let i = 0, j = m - 1; i < m; j = i++) {
        if (
          (py[i] > v) !== (py[j] > v) &&
          u < ((px[j] - px[i]) * (v - py[i])) / (py[j] - py[i]) + px[i]
        ) {
          inside = !inside;
        }
      }
      return inside;
    };
  }
  // blob: radius modulated by a few harmonics
  const amps = [2, 3, 4, 5].map((k) => [k, rng.uniform(0, 0.12), rng.uniform(0, 2 * Math.PI)]);
  return (x, y) => {
    const [u, v] = local(x, y);
    const phi = Math.atan2(v, u);
    let rad = r * 0.8;
    for (const [k, a, p] of amps) rad += r * a * Math.cos(k * phi + p);
    return u * u + v * v <= rad * rad;
  };
}

/** A random texture between two colours. */
function makeTexture(rng: Rng, c1: Rgb, c2: Rgb, size: number): Paint {
  const kind = rng.int(0, 4);
  const th = rng.uniform(0, Math.PI), cos = Math.cos(th), sin = Math.sin(th);
  if (kind === 0) return (_x, _y, out, o) => out.set(c1, o); // solid
  if (kind === 1) { // stripes
    const period = rng.uniform(3, 12);
    return (x, y, out, o) => {
      const t = (x * cos + y * sin) / period;
      out.set(t - Math.floor(t) < 0.5 ? c1 : c2, o);
    };
  }
  if (kind === 2) { // checker
    const cell = rng.uniform(3, 10);
    return (x, y, out, o) => {
      const u = x * cos + y * sin, v = -x * sin + y * cos;
      out.set((Math.floor(u / cell) + Math.floor(v / cell)) & 1 ? c1 : c2, o);
    };
  }
  const amp = rng.uniform(5, 30); // noisy gradient
  return (x, y, out, o) => {
    const t = Math.min(1, Math.max(0, 0.5 + (x * cos + y * sin - size / 2) / size));
    const n = amp * (rng.float() - 0.5);
    for (let c = 0; c < 3; c++) out[o + c] = c1[c] + (c2[c] - c1[c]) * t + n;
  };
}

function draw(
  img: Float32Array,
  mask: Uint8Array | null,
  size: number,
  inside: Inside,
  paint: Paint,
  box: number[],
) {
  const [x0, y0, x1, y1] = box.map((v) => Math.min(size, Math.max(0, Math.round(v))));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (!inside(x + 0.5, y + 0.5)) continue;
      paint(x + 0.5, y + 0.5, img, 3 * (y * size + x));
      if (mask) mask[y * size + x] = 255;
    }
  }
}

function background(rng: Rng, size: number, hue: number): Float32Array {
  const img = new Float32Array(size * size * 3);
  const c1 = hsv(hue, rng.uniform(0.1, 0.8), rng.uniform(0.3, 1));
  const c2 = hsv(
    (hue + rng.uniform(-0.15, 0.15) + 1) % 1,
    rng.uniform(0.1, 0.8),
    rng.uniform(0.2, 1),
  );
  const th = rng.uniform(0, 2 * Math.PI), cos = Math.cos(th), sin = Math.sin(th);
  const radial = rng.float() < 0.3;
  const g = rng.int(3, 7),
    grid = Float32Array.from({ length: (g + 1) * (g + 1) }, () => rng.uniform(-1, 1));
  const namp = rng.uniform(0, 35);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size - 0.5, v = (y + 0.5) / size - 0.5;
      const t = radial ? Math.min(1, Math.hypot(u, v) * 1.6) : 0.5 + u * cos + v * sin;
      const gx = (x / size) * g, gy = (y / size) * g, ix = Math.floor(gx), iy = Math.floor(gy);
      const fx = gx - ix, fy = gy - iy, at = (i: number, j: number) => grid[j * (g + 1) + i];
      const noise = (at(ix, iy) * (1 - fx) + at(ix + 1, iy) * fx) * (1 - fy) +
        (at(ix, iy + 1) * (1 - fx) + at(ix + 1, iy + 1) * fx) * fy;
      for (let c = 0; c < 3; c++) {
        img[3 * (y * size + x) + c] = c1[c] + (c2[c] - c1[c]) * t + namp * noise;
      }
    }
  }
  return img;
}

/**
 * Generates sample `index` of the synthetic dataset `seed` (about 1-3 ms at
 * 96×96). The name is `synthetic_<index>` (6 digits).
 *
 * @example
 * ```ts
 * import { syntheticSample } from "./synthetic.ts";
 * const s = syntheticSample(0, { seed: 1, size: 64 });
 * s.mask.data.some((v) => v === 255); // true
 * ```
 */
export function syntheticSample(index: number, options: SyntheticOptions = {}): RawSample {
  const size = options.size ?? SYNTHETIC_DEFAULTS.size;
  const seed = options.seed ?? SYNTHETIC_DEFAULTS.seed;
  if (!Number.isInteger(size) || size < 8) {
    throw new RangeError(`Cannot make synthetic sample: current size is ${size}`);
  }
  if (!Number.isInteger(index) || index < 0) {
    throw new RangeError(`Cannot make synthetic sample: current index is ${index}`);
  }
  const rng = new Rng(mixSeed(seed, index, 0x5a17));
  const bgHue = rng.float();
  const img = background(rng, size, bgHue);
  const mask = new Uint8Array(size * size);
  const randomColour = (hue: number) => hsv(hue, rng.uniform(0.2, 1), rng.uniform(0.2, 1));
  for (let n = rng.int(2, 9); n > 0; n--) { // distractors: small, behind the foreground
    const r = size * rng.uniform(0.03, 0.11), cx = rng.uniform(0, size), cy = rng.uniform(0, size);
    const paint = makeTexture(rng, randomColour(rng.float()), randomColour(rng.float()), size);
    draw(img, null, size, makeShape(rng, cx, cy, r), paint, [cx - r, cy - r, cx + r, cy + r]);
  }
  const objects = rng.float() < 0.25 ? 2 : 1;
  for (let n = 0; n < objects; n++) {
    const r = size * (objects === 1 ? rng.uniform(0.18, 0.36) : rng.uniform(0.12, 0.24));
    const cx = rng.uniform(r * 0.7, size - r * 0.7), cy = rng.uniform(r * 0.7, size - r * 0.7);
    const lowContrast = rng.float() < 0.15;
    const hue = (bgHue + (lowContrast ? rng.uniform(0.05, 0.15) : rng.uniform(0.25, 0.75))) % 1;
    const paint = makeTexture(
      rng,
      randomColour(hue),
      randomColour((hue + rng.uniform(-0.1, 0.1) + 1) % 1),
      size,
    );
    draw(img, mask, size, makeShape(rng, cx, cy, r), paint, [
      cx - r * 1.3,
      cy - r * 1.3,
      cx + r * 1.3,
      cy + r * 1.3,
    ]);
  }
  const pix = new Uint8Array(img.length);
  const pixelNoise = rng.uniform(0, 12);
  for (let i = 0; i < img.length; i++) {
    const v = Math.round(img[i] + pixelNoise * (rng.float() - 0.5));
    pix[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return {
    name: `synthetic_${String(index).padStart(6, "0")}`,
    image: { width: size, height: size, channels: 3, data: pix },
    mask: { width: size, height: size, channels: 1, data: mask },
  };
}

/**
 * A {@linkcode SampleSource} of `count` synthetic samples.
 *
 * @example
 * ```ts
 * import { syntheticSource } from "./synthetic.ts";
 * const src = syntheticSource({ count: 8, size: 64, seed: 3 });
 * (await src.load(7)).name; // "synthetic_000007"
 * ```
 */
export function syntheticSource(options: SyntheticOptions = {}): SampleSource {
  const count = options.count ?? SYNTHETIC_DEFAULTS.count;
  const check = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= count) {
      throw new RangeError(`Cannot load synthetic sample: current index is ${i} of ${count}`);
    }
  };
  return {
    size: count,
    name(i) {
      check(i);
      return `synthetic_${String(i).padStart(6, "0")}`;
    },
    load(i) {
      check(i);
      return Promise.resolve(syntheticSample(i, options));
    },
  };
}
