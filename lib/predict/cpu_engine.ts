/**
 * U2-Net inference on the CPU in our own WebAssembly (SIMD128) kernels, no
 * tfjs on the hot path: the same plan as the WebGPU engine
 * (`_engine_plan.ts`, one image), run step by step on one linear memory.
 * 3x3 convs use Winograd F(2x2, 3x3) (2.25x fewer multiplications; every
 * dilation, by phases); the rest are direct. The module is embedded
 * (`_cpu_engine_wasm.ts`), so it needs no file access or permission.
 *
 * @module
 */
import type { U2Net } from "../model/u2net.ts";
import { planEngine, type PlannedStep } from "./_engine_plan.ts";
import { hostWeights } from "./_engine_setup.ts";
import { type CpuKernels, loadCpuKernels } from "./_cpu_kernels.ts";
import { packDirect, packOne, packWinograd, padBias, padTo8 } from "./_cpu_engine_pack.ts";

/** Options of {@linkcode CpuEngine.create}. */
export interface CpuEngineOptions {
  /** Images per call. @default 1 */
  batch?: number;
  /** Input height. @default 320 */
  height?: number;
  /** Input width. @default 320 */
  width?: number;
  /**
   * 3x3 convs by Winograd F(m x m, 3x3) with output tiles of this side: 4
   * (4x fewer multiplications than direct), 2 (2.25x), or 0 (every conv
   * direct). @default 4
   */
  winograd?: 0 | 2 | 4;
  /** Winograd tiles per block (a multiple of 4, at most 256). @default 16 */
  tileBlock?: number;
}

/** Defaults of {@linkcode CpuEngineOptions}. */
export const DEFAULT_CPU_ENGINE_OPTIONS: Readonly<Required<CpuEngineOptions>> = Object.freeze({
  batch: 1,
  height: 320,
  width: 320,
  winograd: 4,
  tileBlock: 16,
});

/** One step bound to memory addresses, with its kernel's name. */
type Bound = (() => void) & { label?: string };

/** What binding a step needs at plan time. */
interface StepContext {
  bufs: number[];
  /** The address of weights `key` packed by `pack` (once per key and layout name). */
  param(key: string, layout: string, pack: (w: Float32Array) => Float32Array): number;
  winograd: 0 | 2 | 4;
  tileBlock: number;
  needScratch(floats: number): void;
  fuse: [Float32Array | undefined, Float32Array | undefined];
}

/** The instance a bound step runs on. */
interface StepEnv {
  kernels: CpuKernels;
  memory: WebAssembly.Memory;
  base: number;
  scratch: number;
}

/**
 * U2-Net inference on the CPU (WebAssembly SIMD), planned once per input shape.
 *
 * @example
 * ```ts
 * import { U2Net } from "../model/u2net.ts";
 * import { CpuEngine } from "./cpu_engine.ts";
 * const engine = await CpuEngine.create(U2Net.create("lite"), { height: 32, width: 32 });
 * const probs = await engine.run(new Float32Array(32 * 32 * 3)); // NHWC, normalised
 * console.log(probs.length); // 1024
 * ```
 */
export class CpuEngine {
  /** The input shape [batch, height, width, 3]. */
  readonly inputShape: readonly [number, number, number, number];
  /** Kernel calls per image. */
  readonly steps: number;
  readonly #memory: WebAssembly.Memory;
  readonly #steps: Bound[];
  readonly #input: number;
  readonly #output: number;
  readonly #pixels: number;

  private constructor(
    shape: [number, number, number, number],
    memory: WebAssembly.Memory,
    steps: Bound[],
    input: number,
    output: number,
  ) {
    this.inputShape = shape;
    this.#memory = memory;
    this.#steps = steps;
    this.steps = steps.length;
    this.#input = input;
    this.#output = output;
    this.#pixels = shape[1] * shape[2];
  }

  /** Plans the network of `model` (BatchNorm folded; the model is kept) for one input shape. */
  static async create(model: U2Net, options: CpuEngineOptions = {}): Promise<CpuEngine> {
    const o = { ...DEFAULT_CPU_ENGINE_OPTIONS, ...options };
    for (const what of ["batch", "height", "width", "tileBlock"] as const) {
      if (!Number.isInteger(o[what]) || o[what] < 1) {
        throw new RangeError(`Cannot create CpuEngine: current ${what} is ${o[what]}`);
      }
    }
    if (![0, 2, 4].includes(o.winograd)) {
      throw new RangeError(`Cannot create CpuEngine: current winograd is ${o.winograd}`);
    }
    if (o.tileBlock % 4 !== 0 || o.tileBlock > 256) {
      throw new RangeError(`Cannot create CpuEngine: current tileBlock is ${o.tileBlock}`);
    }
    const weights = await hostWeights(model);
    const plan = planEngine(model.config, [1, o.height, o.width], { splitTarget: 0 });
    const layout = new Layout();
    // The RGB input is held with a fourth, zero channel, so that the first
    // conv (3 → 64) runs as Winograd like the rest (weights padded to match).
    const bufs = plan.buffers.map((n, i) => layout.take(i === 0 ? (n / 3) * 4 : n));
    const packed = new Map<string, [number, Float32Array]>();
    const param = (key: string, form: string, pack: (w: Float32Array) => Float32Array) => {
      const known = packed.get(`${key}#${form}`);
      if (known) return known[0];
      const w = weights.get(key);
      if (!w) throw new RangeError(`Cannot create CpuEngine: current weights lack "${key}"`);
      const data = pack(w);
      const at = layout.take(data.length);
      packed.set(`${key}#${form}`, [at, data]);
      return at;
    };
    let scratch = 0;
    const ctx: StepContext = {
      bufs,
      param,
      winograd: o.winograd,
      tileBlock: o.tileBlock,
      needScratch: (n) => (scratch = Math.max(scratch, n)),
      fuse: [weights.get("out_conv.weight"), weights.get("out_conv.bias")],
    };
    const binders = plan.steps.map((step) => {
      const bind = bindStep(step, ctx);
      return (env: StepEnv) => Object.assign(bind(env), { label: labelOf(step, ctx) });
    });
    const scratchAt = layout.take(scratch);
    const { kernels, memory, base } = loadCpuKernels(layout.bytes);
    for (const [at, data] of packed.values()) {
      new Float32Array(memory.buffer, base + at, data.length).set(data);
    }
    const env: StepEnv = { kernels, memory, base, scratch: base + scratchAt };
    return new CpuEngine(
      [o.batch, o.height, o.width, 3],
      memory,
      binders.map((bind) => bind(env)),
      base + bufs[0],
      base + bufs[plan.output.buf],
    );
  }

  /** Probabilities `[batch, height, width]` for a normalised NHWC input `[batch, height, width, 3]`. */
  run(input: Float32Array): Promise<Float32Array> {
    const [n] = this.inputShape, px = this.#pixels;
    if (input.length !== n * px * 3) {
      return Promise.reject(
        new RangeError(`Cannot run CpuEngine: current input length is ${input.length}`),
      );
    }
    const out = new Float32Array(n * px);
    for (let i = 0; i < n; i++) {
      this.#write(input.subarray(i * px * 3, (i + 1) * px * 3));
      for (const step of this.#steps) step();
      out.set(new Float32Array(this.#memory.buffer, this.#output, px), i * px);
    }
    return Promise.resolve(out);
  }

  /**
   * Times every kernel call of one image (the input as given), summed by
   * kernel and shape, slowest first.
   */
  profile(input: Float32Array): { label: string; ms: number; calls: number }[] {
    const px = this.#pixels;
    this.#write(input.subarray(0, px * 3));
    const rows = new Map<string, { label: string; ms: number; calls: number }>();
    for (const step of this.#steps) {
      const t = performance.now();
      step();
      const ms = performance.now() - t, label = step.label ?? "?";
      const row = rows.get(label) ?? { label, ms: 0, calls: 0 };
      row.ms += ms;
      row.calls++;
      rows.set(label, row);
    }
    return [...rows.values()].sort((a, b) => b.ms - a.ms);
  }

  /** Writes one image (RGB) into the input buffer's four channels. */
  #write(rgb: Float32Array): void {
    const dst = new Float32Array(this.#memory.buffer, this.#input, this.#pixels * 4);
    for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
      dst[q] = rgb[p];
      dst[q + 1] = rgb[p + 1];
      dst[q + 2] = rgb[p + 2];
    }
  }

  /** Nothing to free (the memory goes with the engine); kept for symmetry with GpuEngine. */
  dispose(): void {}
}

/** Byte offsets of 64-byte aligned float arrays, relative to the heap's base. */
class Layout {
  bytes = 0;
  take(floats: number): number {
    const at = this.bytes;
    this.bytes += Math.ceil((4 * Math.max(floats, 4)) / 64) * 64;
    return at;
  }
}

/** Binds one planned step (see `PlannedStep`'s shaders) to its kernel. */
function bindStep(step: PlannedStep, ctx: StepContext): (env: StepEnv) => Bound {
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
      const nt = ctx.tileBlock, pts = (m + 2) ** 2;
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
function labelOf(step: PlannedStep, ctx: StepContext): string {
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
  return k === 3 && ca % 4 === 0 && cb % 4 === 0 && co % 4 === 0 ? ctx.winograd : 0;
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
