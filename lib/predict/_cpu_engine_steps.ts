/**
 * The CPU engine's steps: each planned step (`_engine_plan.ts`) bound to its
 * WebAssembly kernel, weights packed for it, addresses fixed.
 *
 * @module
 */
import type { PlannedStep } from "./_engine_plan.ts";
import type { CpuKernels } from "./_cpu_kernels.ts";
import { packDirect, packOne, packWinograd, padBias, padTo8 } from "./_cpu_engine_pack.ts";

/** One step bound to memory addresses, with its kernel's name. */
export type Bound = (() => void) & { label?: string };

/** What binding a step needs at plan time. */
export interface StepContext {
  bufs: number[];
  /** The address of weights `key` packed by `pack` (once per key and layout name). */
  param(key: string, layout: string, pack: (w: Float32Array) => Float32Array): number;
  winograd: 0 | 2 | 4;
  maxWinograd4Weights: number;
  tileBlock: number;
  needScratch(floats: number): void;
  fuse: [Float32Array | undefined, Float32Array | undefined];
}

/** The instance a bound step runs on. */
export interface StepEnv {
  kernels: CpuKernels;
  memory: WebAssembly.Memory;
  base: number;
  scratch: number;
}

/** Binds one planned step (see `PlannedStep`'s shaders) to its kernel. */
export function bindStep(step: PlannedStep, ctx: StepContext): (env: StepEnv) => Bound {
  const { bufs } = ctx;
  const buf = (i: number) => bufs[step.bindings[i] as number];
  const u = step.uniforms;
  if (step.shader.startsWith("conv")) {
    const [, h, w, ca, cb, co, k, dil, relu, res, , pad] = inputPadded(step);
    const key = (step.bindings[4] as string).slice(2);
    const biasKey = (step.bindings[5] as string).slice(2);
    const out = buf(0), a = buf(1), b = cb ? buf(2) : buf(1), r = res ? buf(3) : -1;
    const bias = ctx.param(biasKey, "pad8", padBias);
    const m = winogradTile(step, ctx);
    if (m) {
      const pts = (m + 2) ** 2;
      const nt = pts * (ca + cb) * co > BIG_U ? winogradBlock(h, w, dil, m) : ctx.tileBlock;
      ctx.needScratch(pts * (nt * (ca + cb) + 16) + pts * (nt * padTo8(co) + 16));
      const wts = ctx.param(key, `wino${m}`, (x) => packWinograd(padIn(x, step), ca + cb, co, m));
      const kernel = m === 4 ? "conv_wino4" : "conv_wino";
      return ({ kernels, base, scratch }) => () =>
        kernels[kernel](
          base + out,
          base + a,
          base + b,
          r < 0 ? 0 : base + r,
          base + wts,
          base + bias,
          h,
          w,
          ca,
          cb,
          co,
          dil,
          relu,
          scratch,
          nt,
        );
    }
    const wts = ctx.param(key, "direct", (x) => packDirect(padIn(x, step), k, ca + cb, co));
    return ({ kernels, base }) => () =>
      kernels.conv_direct(
        base + out,
        base + a,
        base + b,
        r < 0 ? 0 : base + r,
        base + wts,
        base + bias,
        h,
        w,
        ca,
        cb,
        co,
        k,
        dil,
        relu,
        pad,
      );
  }
  if (step.shader === "side") {
    const [, h, w, c, k, dil, pad] = u;
    const key = (step.bindings[2] as string).slice(2);
    const wts = ctx.param(key, "one", packOne);
    const biasKey = (step.bindings[3] as string).slice(2);
    const out = buf(0), a = buf(1);
    let bias = 0;
    ctx.param(biasKey, "scalar", (x) => ((bias = x[0]), x));
    return ({ kernels, base }) => () =>
      kernels.conv_one(base + out, base + a, base + wts, bias, h, w, c, k, dil, pad);
  }
  if (step.shader === "pool") {
    const [, h, w, c] = u;
    const out = buf(0), x = buf(1);
    return ({ kernels, base }) => () => kernels.pool(base + out, base + x, h, w, c);
  }
  if (step.shader === "resize") {
    const [, h, w, c, oh, ow, sy, sx] = u;
    const out = buf(0), x = buf(1);
    return ({ kernels, base }) => () =>
      kernels.resize(base + out, base + x, h, w, c, oh, ow, sy, sx);
  }
  if (step.shader === "fuse") {
    const [fw, fb] = ctx.fuse;
    if (!fw || !fb) throw new RangeError("Cannot create CpuEngine: current weights lack out_conv");
    const size = u[0], out = buf(0), sides = [1, 2, 3, 4, 5, 6].map(buf);
    return ({ memory, base }) => () => {
      const o = new Float32Array(memory.buffer, base + out, size);
      const s = sides.map((at) => new Float32Array(memory.buffer, base + at, size));
      const f = Float32Array.from(fw), b = Math.fround(fb[0]);
      const z = new Float32Array(1);
      for (let i = 0; i < size; i++) {
        z[0] = b + f[0] * s[0][i];
        for (let j = 1; j < 6; j++) z[0] = z[0] + Math.fround(f[j] * s[j][i]);
        o[i] = 1 / (1 + Math.exp(-z[0]));
      }
    };
  }
  throw new RangeError(`Cannot create CpuEngine: current step is "${step.shader}"`);
}

/** A step's kernel and shape, e.g. `wino 320x320 64+64>64 d1`. */
export function labelOf(step: PlannedStep, ctx: StepContext): string {
  const u = step.uniforms;
  if (step.shader.startsWith("conv")) {
    const [, h, w, ca, cb, co, , dil] = inputPadded(step);
    const m = winogradTile(step, ctx);
    return `${m ? `wino${m}` : "direct"} ${h}x${w} ${ca}${cb ? `+${cb}` : ""}>${co} d${dil}`;
  }
  return step.shader === "fuse" ? "fuse" : `${step.shader} ${u[1]}x${u[2]}x${u[3]}`;
}

/** The Winograd tile a conv step runs with, or 0 for a direct conv. */
function winogradTile(step: PlannedStep, ctx: StepContext): 0 | 2 | 4 {
  const [, , , ca, cb, co, k] = inputPadded(step);
  if (k !== 3 || ca % 4 !== 0 || cb % 4 !== 0 || co % 4 !== 0) return 0;
  return ctx.winograd === 4 && 9 * (ca + cb) * co > ctx.maxWinograd4Weights ? 2 : ctx.winograd;
}

/** A conv step's uniforms, with the RGB input's channels counted as 4 (see `create`). */
function inputPadded(step: PlannedStep): number[] {
  const u = [...step.uniforms];
  if (step.bindings[1] === 0) u[3] = 4;
  return u;
}

/** Conv weights of the RGB input, HWIO, given a zero fourth input channel. */
function padIn(w: Float32Array, step: PlannedStep): Float32Array {
  if (step.bindings[1] !== 0) return w;
  const [, , , ci, , co, k] = step.uniforms;
  const out = new Float32Array(k * k * 4 * co);
  for (let t = 0; t < k * k; t++) {
    for (let c = 0; c < ci; c++) {
      out.set(w.subarray((t * ci + c) * co, (t * ci + c + 1) * co), (t * 4 + c) * co);
    }
  }
  return out;
}

/** Winograd weights (floats) past which a conv takes all its tiles in one block (at most 128). */
const BIG_U = 1 << 20;

/**
 * Tiles per block for a conv with large Winograd weights: every tile of the
 * map (all phases) in one block when they are at most 128, so that U is read
 * once, else as few blocks as 128 allows; a multiple of 4.
 */
export function winogradBlock(h: number, w: number, dil: number, m: number): number {
  let tiles = 0;
  for (let ry = 0; ry < Math.min(dil, h); ry++) {
    for (let rx = 0; rx < Math.min(dil, w); rx++) {
      tiles += Math.ceil(Math.ceil((h - ry) / dil) / m) * Math.ceil(Math.ceil((w - rx) / dil) / m);
    }
  }
  const blocks = Math.ceil(tiles / 128);
  return Math.ceil(tiles / blocks / 4) * 4;
}
