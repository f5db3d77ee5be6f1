/**
 * The CPU engine's steps: each planned step (`engine_plan.ts`) bound to its
 * WebAssembly kernel, weights packed for it, addresses fixed.
 *
 * @module
 */
import type { PlannedStep } from "../gpu/engine_plan.ts";
import type { CpuKernels } from "./cpu_kernels.ts";
import { packDirect, packWinograd, padBias, padTo8 } from "./cpu_engine_pack.ts";

/** A kernel of the module, or `fuse` (the last step, in JS). */
export type StepFn =
  | "conv_direct"
  | "conv_wino"
  | "conv_wino4"
  | "conv_one"
  | "pool"
  | "resize"
  | "fuse";

/**
 * One planned step as data (threads get a copy): the kernel and its
 * arguments before `part, parts`; those at `addrs` are byte offsets from the
 * heap base, the one at `scratch` (if any) an offset into each thread's own
 * scratch.
 */
export interface StepCall {
  fn: StepFn;
  args: number[];
  addrs: number[];
  scratch: number;
  label: string;
  /** Work estimate, microseconds on one thread (see {@linkcode SERIAL_BELOW_US}). */
  cost: number;
}

/** What binding a step needs at plan time. */
export interface StepContext {
  bufs: number[];
  /** The address of weights `key` packed by `pack` (once per key and layout name). */
  param(key: string, layout: string, pack: (w: Float32Array) => Float32Array): number;
  winograd: 0 | 2 | 4;
  maxWinograd4Weights: number;
  tileBlock: number;
  /** Threads that split each call (a large conv's tiles make at least this many blocks). */
  threads: number;
  needScratch(floats: number): void;
  fuse: [Float32Array | undefined, Float32Array | undefined];
}

/** A call's arguments for a thread: addresses from `base`, scratch from `scratch`. */
export function callArgs(call: StepCall, base: number, scratch: number): number[] {
  const args = call.args.slice();
  for (const i of call.addrs) args[i] = args[i] < 0 ? 0 : base + args[i];
  if (call.scratch >= 0) args[call.scratch] = scratch;
  return args;
}

/**
 * Steps estimated below this many microseconds on one thread run whole on
 * the caller's thread, without waking the others: a barrier (a futex wake
 * and a wait) costs 10-50 µs on an idle machine and up to milliseconds when
 * a woken thread waits for a core held by another process; lite at 320²
 * has about 130 such steps of its 190 (some 10 ms on one thread). Splitting
 * never changes the bits (every output is computed alike in any part).
 */
export const SERIAL_BELOW_US = 200;

/**
 * A step's time on one thread, roughly (µs, measured on a 2-core Xeon at
 * 320²): Winograd convs 0.2 ns per h·w·ci·co multiply-add of the product
 * plus 1.5 ns per h·w·(ci + co) of the transforms, direct ones 1 ns per
 * h·w·ci·co; side convs, pools and resizes per element they read or write
 * (a one-channel resize, scalar code, about 7 ns a pixel; a vec4 one 3 ns a
 * pixel plus 0.5 a channel: measured on a 2-core AMD EPYC); the fuse (JS)
 * about 30 ns a pixel.
 */
function costOf(fn: StepFn, args: number[]): number {
  if (fn.startsWith("conv_") && fn !== "conv_one") {
    const [h, w, ca, cb, co] = args.slice(6, 11), px = h * w;
    return fn === "conv_direct"
      ? px * (ca + cb) * co * 1e-3
      : px * ((ca + cb) * co * (fn === "conv_wino" ? 3e-4 : 2e-4) + (ca + cb + co) * 1.5e-3);
  }
  if (fn === "conv_one") return args[4] * args[5] * args[6] * args[7] * args[7] * 3e-4;
  if (fn === "pool") return args[2] * args[3] * args[4] * 5e-4;
  if (fn === "resize") {
    const c = args[4];
    return args[5] * args[6] * (c % 4 ? 7e-3 * c : 3e-3 + 5e-4 * c);
  }
  if (fn === "fuse") return args[7] * 3e-2;
  return 0;
}

/** Runs part `part` of `parts` of a call. */
export function runCall(
  kernels: CpuKernels,
  memory: WebAssembly.Memory,
  call: StepCall,
  args: number[],
  [part, parts]: [number, number],
): void {
  if (call.fn === "fuse") {
    fuse(memory, args, [part, parts]);
  } else {
    kernels[call.fn](...args, part, parts);
  }
}

/**
 * sigmoid(b + Σ w_i · side_i) over part `part` of `parts` of the pixels (as
 * the kernels' `share` cuts rows): args [out, s0..s5, size, w0..w5, b].
 */
function fuse(memory: WebAssembly.Memory, args: number[], [part, parts]: [number, number]): void {
  const size = args[7], o = new Float32Array(memory.buffer, args[0], size);
  const s = args.slice(1, 7).map((at) => new Float32Array(memory.buffer, at, size));
  const f = args.slice(8, 14), b = args[14];
  const lo = Math.floor((size * part) / parts), hi = Math.floor((size * (part + 1)) / parts);
  for (let i = lo; i < hi; i++) {
    let z = b;
    for (let j = 0; j < 6; j++) z += f[j] * s[j][i];
    o[i] = 1 / (1 + Math.exp(-z));
  }
}

/** Binds one planned step (see `PlannedStep`'s shaders) to its kernel. */
export function bindStep(step: PlannedStep, ctx: StepContext): StepCall {
  const { bufs } = ctx;
  const buf = (i: number) => bufs[step.bindings[i] as number];
  const u = step.uniforms;
  const call = (fn: StepFn, args: number[], addrs: number[], scratch = -1): StepCall => ({
    fn,
    args,
    addrs,
    scratch,
    label: labelOf(step, ctx),
    cost: costOf(fn, args),
  });
  if (step.shader.startsWith("conv")) {
    const [, h, w, ca, cb, co, k, dil, relu, res, , pad] = inputPadded(step);
    const key = (step.bindings[4] as string).slice(2);
    const biasKey = (step.bindings[5] as string).slice(2);
    const out = buf(0), a = buf(1), b = cb ? buf(2) : buf(1), r = res ? buf(3) : -1;
    const bias = ctx.param(biasKey, "pad8", padBias);
    const m = winogradTile(step, ctx);
    if (m) {
      const pts = (m + 2) ** 2;
      const nt = pts * (ca + cb) * co > BIG_U
        ? winogradBlock(h, w, dil, m, ctx.threads)
        : ctx.tileBlock;
      ctx.needScratch(pts * (nt * (ca + cb) + 16) + pts * (nt * padTo8(co) + 16));
      const wts = ctx.param(key, `wino${m}`, (x) => packWinograd(padIn(x, step), ca + cb, co, m));
      const args = [out, a, b, r, wts, bias, h, w, ca, cb, co, dil, relu, 0, nt];
      return call(m === 4 ? "conv_wino4" : "conv_wino", args, [0, 1, 2, 3, 4, 5], 13);
    }
    const wts = ctx.param(key, "direct", (x) => packDirect(padIn(x, step), k, ca + cb, co));
    const args = [out, a, b, r, wts, bias, h, w, ca, cb, co, k, dil, relu, pad];
    return call("conv_direct", args, [0, 1, 2, 3, 4, 5]);
  }
  if (step.shader === "side") {
    const [, h, w, c, k, dil, pad] = u;
    // HWIO with one output channel is already the kernel's [k*k][ci]; the bias is one float.
    const asIs = (x: Float32Array) => x;
    const wts = ctx.param((step.bindings[2] as string).slice(2), "one", asIs);
    const bias = ctx.param((step.bindings[3] as string).slice(2), "one", asIs);
    return call("conv_one", [buf(0), buf(1), wts, bias, h, w, c, k, dil, pad], [0, 1, 2, 3]);
  }
  if (step.shader === "pool") {
    const [, h, w, c] = u;
    return call("pool", [buf(0), buf(1), h, w, c], [0, 1]);
  }
  if (step.shader === "resize") {
    const [, h, w, c, oh, ow, sy, sx] = u;
    return call("resize", [buf(0), buf(1), h, w, c, oh, ow, sy, sx], [0, 1]);
  }
  if (step.shader === "fuse") {
    const [fw, fb] = ctx.fuse;
    if (!fw || !fb) throw new RangeError("Cannot create CpuEngine: current weights lack out_conv");
    const sides = [1, 2, 3, 4, 5, 6].map(buf);
    return call("fuse", [buf(0), ...sides, u[0], ...fw, fb[0]], [0, 1, 2, 3, 4, 5, 6]);
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

/**
 * Maps of at least this many pixels take F(4x4) whatever their weights: on
 * full at 320², its 40² convs as F(4x4) cost 48 MiB more and save 7% (1,454
 * → 1,349 ms on one thread), its 20² ones would cost 160 MiB more for 1%.
 */
export const F4_MIN_PIXELS = 1600;

/** The Winograd tile a conv step runs with, or 0 for a direct conv. */
function winogradTile(step: PlannedStep, ctx: StepContext): 0 | 2 | 4 {
  const [, , , ca, cb, co, k] = inputPadded(step);
  if (k !== 3 || ca % 4 !== 0 || cb % 4 !== 0 || co % 4 !== 0) return 0;
  const [, h, w] = step.uniforms;
  const large = 9 * (ca + cb) * co > ctx.maxWinograd4Weights && h * w < F4_MIN_PIXELS;
  return ctx.winograd === 4 && large ? 2 : ctx.winograd;
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
 * Tiles per block for a conv with large Winograd weights: as few blocks as
 * 128 tiles each allow (all phases together), so that U is read few times,
 * but at least one per thread; a multiple of 4.
 */
export function winogradBlock(
  h: number,
  w: number,
  dil: number,
  m: number,
  threads = 1,
): number {
  let tiles = 0;
  for (let ry = 0; ry < Math.min(dil, h); ry++) {
    for (let rx = 0; rx < Math.min(dil, w); rx++) {
      tiles += Math.ceil(Math.ceil((h - ry) / dil) / m) * Math.ceil(Math.ceil((w - rx) / dil) / m);
    }
  }
  const blocks = Math.max(Math.ceil(tiles / 128), Math.min(threads, Math.ceil(tiles / 4)));
  return Math.ceil(tiles / blocks / 4) * 4;
}

/** The packed weights (`key#form`) that the steps of a plan read. */
export function neededWeights(
  steps: PlannedStep[],
  o: Pick<StepContext, "winograd" | "maxWinograd4Weights" | "tileBlock" | "threads">,
): string[] {
  const ids: string[] = [];
  const ctx: StepContext = {
    bufs: [],
    param: (key, form) => (ids.push(`${key}#${form}`), 0),
    ...o,
    needScratch: () => {},
    fuse: [new Float32Array(6), new Float32Array(1)],
  };
  for (const step of steps) bindStep(step, ctx);
  return ids;
}

/**
 * Runs chunks of step `s` from its counter with `run(chunk, chunks)` until
 * none is left; returns how many it ran. Shared by the caller and the workers.
 */
export function claimChunks(
  claims: Int32Array,
  done: Int32Array,
  [s, n]: [number, number],
  run: (chunk: number, chunks: number) => void,
): number {
  let ran = 0;
  for (let k; (k = Atomics.add(claims, s, 1)) < n; ran++) {
    run(k, n);
    if (Atomics.add(done, s, 1) + 1 === n) Atomics.notify(done, s);
  }
  return ran;
}
