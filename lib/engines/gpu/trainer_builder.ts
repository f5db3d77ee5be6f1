/**
 * The bookkeeping of the training-step planner (`trainer_plan.ts`): the
 * flat parameter layout (one 256-byte aligned segment per parameter,
 * optimizer groups contiguous), the running-statistics layout, buffer
 * sizes, and the dispatch list with packed uniforms.
 *
 * @module
 */
import { standalone } from "../../kernels/wgsl_standalone.ts";
import type { WgslCall } from "../../kernels/webgpu.ts";
import { shareBuffers } from "./_trainer_share.ts";

/** One trainable parameter as the planner needs it. */
export interface ParamInfo {
  /** Seed key. */
  key: string;
  /** tfjs shape (HWIO filters). */
  shape: readonly number[];
  /** Optimizer group index. */
  group: number;
}

/** A range of a planned buffer, in float32 values. */
export interface Seg {
  /** Buffer name: `x`, `y`, `a<i>`, `params`, `grads`, `state` … */
  buf: string;
  /** First value (a multiple of 64 in flat buffers: 256-byte binding offsets). */
  off: number;
  /** Values (4-byte words where `half`). */
  len: number;
  /** Stored in f16 (a mixed-precision activation map: two values a word). @default false */
  half?: boolean;
}

/** One planned dispatch: output binding first, then read-only inputs, then the uniforms. */
export interface TrainDispatch {
  /** WGSL source (entry point `_start` or `main`). */
  code: string;
  /** Entry point. */
  entry: string;
  /** Storage bindings: the output, then the inputs. */
  bindings: Seg[];
  /** Uniform bytes. */
  uniform: ArrayBuffer;
  /** Workgroup counts. */
  workgroups: [number, number, number];
  /** What it computes (for profiles). */
  label: string;
  /** Bindings after the first that the shader writes too (e.g. a split conv's second output). */
  writable?: number[];
}

/** A parameter's place in the flat buffers. */
export interface ParamSlot {
  /** First value. */
  off: number;
  /** Values. */
  len: number;
  /** tfjs shape. */
  shape: number[];
  /** Optimizer group. */
  group: number;
  /** Index of its AdamW chunk. */
  chunk: number;
}

/**
 * A range of one optimizer group's parameters, updated by one AdamW
 * dispatch (the trainer's update phase, `_gpu_trainer_update.ts`).
 */
export interface AdamChunk {
  /** Optimizer group. */
  group: number;
  /** First value in the flat parameters. */
  off: number;
  /** Values (moments: `mv<i>` holds m then v, 2·len values). */
  len: number;
}

/** The whole plan. */
export interface TrainPlan {
  /** Buffer sizes in values. */
  buffers: Map<string, number>;
  /** Parameters by seed key. */
  params: Map<string, ParamSlot>;
  /** AdamW chunks: ranges of one group each, at most `MAX_CHUNK` values. */
  chunks: AdamChunk[];
  /** The flat-parameter range holding the fuse conv's weight and bias. */
  fuse: { off: number; len: number };
  /** BN layers by name: running mean at `off`, running var at `off + channels`. */
  state: Map<string, { off: number; channels: number }>;
  /** Forward, criterion and backward (the trainer records its update phase after them). */
  steps: TrainDispatch[];
  /** Named maps for diagnostics (`logit0` … `logit6`, `dlogit0` …). */
  named: Map<string, string>;
}

const ALIGN = 64;
/** Values per AdamW chunk: its packed moments (2·32 MiB) stay under a 128 MiB binding limit. */
export const MAX_CHUNK = 8 * 2 ** 20;
const up = (v: number, a: number) => Math.ceil(v / a) * a;

/** Collects buffers and dispatches while the planner lowers the traced graph. */
export class TrainPlanBuilder {
  readonly paramsLen: number;
  readonly #params = new Map<string, ParamSlot>();
  readonly #chunks: AdamChunk[] = [];
  readonly #state = new Map<string, { off: number; channels: number }>();
  readonly #buffers = new Map<string, number>();
  readonly #steps: TrainDispatch[] = [];
  /** Named maps for diagnostics. */
  readonly named = new Map<string, string>();
  #stateLen = 0;
  #zeros = 4;

  constructor(params: readonly ParamInfo[], groups: number) {
    let off = 0;
    for (let g = 0; g < groups; g++) {
      // The fuse conv's bias last in its group and its weight first in the
      // next, so one short range holds both (the default groups: no decay, decay).
      const mine = params.filter((q) => q.group === g);
      const rank = (q: ParamInfo) =>
        q.key === "out_conv.bias" ? 1 : q.key === "out_conv.weight" ? -1 : 0;
      mine.sort((a, b) => rank(a) - rank(b));
      let chunk = { group: g, off, len: 0 };
      for (const p of mine) {
        const len = p.shape.reduce((a, b) => a * b, 1);
        if (chunk.len && off + len - chunk.off > MAX_CHUNK) {
          this.#chunks.push(chunk);
          chunk = { group: g, off, len: 0 };
        }
        this.#params.set(p.key, {
          off,
          len,
          shape: [...p.shape],
          group: g,
          chunk: this.#chunks.length,
        });
        off = up(off + len, ALIGN);
        chunk.len = off - chunk.off;
      }
      if (chunk.len) this.#chunks.push(chunk);
    }
    this.paramsLen = Math.max(off, ALIGN);
  }

  /** The flat range holding `out_conv.weight` (6 values) and `out_conv.bias`. */
  fuseRange(): { off: number; len: number } {
    const w = this.#slot("out_conv.weight"), b = this.#slot("out_conv.bias");
    const off = Math.min(w.off, b.off);
    return { off, len: Math.max(w.off + w.len, b.off + b.len) - off };
  }

  /** Declares a buffer of `len` values. */
  buffer(id: string, len: number): void {
    this.#buffers.set(id, Math.max(this.#buffers.get(id) ?? 0, len));
  }

  hasParam(key: string): boolean {
    return this.#params.has(key);
  }

  #slot(key: string): ParamSlot {
    const s = this.#params.get(key);
    if (!s) throw new RangeError(`Cannot plan training: current value lacks parameter "${key}"`);
    return s;
  }

  /** The parameter's segment of the flat parameters. */
  param(key: string): Seg {
    const s = this.#slot(key);
    return { buf: "params", off: s.off, len: s.len };
  }

  /** The parameter's segment of the flat gradients. */
  grad(key: string): Seg {
    return { ...this.param(key), buf: "grads" };
  }

  offset(key: string): number {
    return this.#slot(key).off;
  }

  shapeOf(key: string): number[] {
    return this.#slot(key).shape;
  }

  /** A read-only zero segment of `len` values (the bias of bias-free convs). */
  zeros(len: number): Seg {
    this.#zeros = Math.max(this.#zeros, len);
    return { buf: "zeros", off: 0, len };
  }

  /** Values of the flat running statistics (and of the batch statistics laid out alike). */
  get stateLen(): number {
    return Math.max(this.#stateLen, ALIGN);
  }

  /** BN layer `name`'s running mean and var, adjacent (`2·channels` values). */
  state(name: string, channels: number): Seg {
    let s = this.#state.get(name);
    if (!s) {
      s = { off: this.#stateLen, channels };
      this.#state.set(name, s);
      this.#stateLen = up(this.#stateLen + 2 * channels, ALIGN);
    }
    return { buf: "state", off: s.off, len: 2 * channels };
  }

  /** A dispatch of one of our own-header shaders (`fn main` with `@compute`). */
  raw(
    code: string,
    bindings: Seg[],
    words: number[],
    floats: number[],
    workgroups: [number, number, number],
    label: string,
    writable?: number[],
  ): void {
    const raw = new ArrayBuffer(up(4 * words.length, 16));
    const ints = new Int32Array(raw), fl = new Float32Array(raw);
    words.forEach((v, i) => (floats.includes(i) ? (fl[i] = v) : (ints[i] = v)));
    this.#steps.push({
      code,
      entry: "main",
      bindings,
      uniform: raw,
      workgroups,
      label,
      ...(writable ? { writable } : {}),
    });
  }

  /**
   * A dispatch of a tfjs-form program, made standalone for the inputs'
   * shapes and storage (f16 where a segment is `half`).
   */
  call(c: WgslCall, out: Seg, inputs: { seg: Seg; shape: number[] }[], label: string): void {
    const p = standalone(c, inputs.map((i) => i.shape), {
      halfInputs: inputs.map((i) => i.seg.half ?? false),
      halfOutput: out.half ?? false,
    });
    this.#steps.push({
      code: p.code,
      entry: "_start",
      bindings: [out, ...inputs.map((i) => i.seg)],
      uniform: p.uniform,
      workgroups: p.workgroups,
      label,
    });
  }

  /** The AdamW chunks: ranges of one optimizer group each. */
  get chunks(): readonly AdamChunk[] {
    return this.#chunks;
  }

  /** The plan; declares the flat buffers and each AdamW chunk's packed moments `mv<i>`. */
  finish(): TrainPlan {
    this.#chunks.forEach((c, i) => this.buffer(`mv${i}`, 2 * c.len));
    for (const id of ["params", "grads"]) this.buffer(id, this.paramsLen);
    const stateLen = this.stateLen;
    for (const id of ["state", "stateNext", "bnStats"]) this.buffer(id, stateLen);
    this.buffer("zeros", up(this.#zeros, ALIGN));
    const keep = new Set(this.named.values());
    const { buffers, steps } = shareBuffers(
      this.#buffers,
      this.#steps,
      (id) => /^[af]\d/.test(id) && !keep.has(id),
    );
    return {
      buffers,
      params: this.#params,
      chunks: this.#chunks,
      fuse: this.fuseRange(),
      state: this.#state,
      steps,
      named: this.named,
    };
  }
}
