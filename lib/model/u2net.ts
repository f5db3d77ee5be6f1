/**
 * The U2-Net network (full and lite) with the seed's semantics and key names.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { RawTensor, StateDict } from "../io/raw_tensor.ts";
import { type ArchName, resolveConfig, type U2NetConfig } from "../net/config.ts";
import { type BatchStats, BN_MOMENTUM } from "../engines/tfjs/ops.ts";
import { u2netLogits } from "../engines/tfjs/forward.ts";
import { initialValues, mulberry32 } from "./_init.ts";
import { hwioToOihw, oihwToHwio, stateDictSpec, type StateEntrySpec } from "../net/state_dict.ts";
import { loadStateDictInto } from "./_load.ts";
import { runningStatOfBatch } from "../kernels/bn/running_stats_webgpu.ts";
import { currentTuning, onWebgpu } from "../kernels/webgpu.ts";

let nextNetworkId = 0;

/** Options for {@linkcode U2Net.create}. */
export interface U2NetOptions {
  /**
   * Conv bias in every conv → BN → ReLU layer (needed for the original weights).
   * @default {false}
   */
  convBias?: boolean;
  /**
   * BatchNorm layers present. False builds a folded-BN inference network
   * (conv with bias, then ReLU), e.g. for ONNX exports.
   * @default {true}
   */
  batchNorm?: boolean;
  /**
   * Seed of the initial weights.
   * @default {0}
   */
  seed?: number;
}

/** Options for {@linkcode U2Net.forward}. */
export interface ForwardOptions {
  /**
   * In eval mode, return all seven sigmoid maps `[fused, side1 … side6]`
   * instead of only the fused one.
   * @default {false}
   */
  allSides?: boolean;
}

/**
 * U2-Net. Tensors are NHWC (`[batch, height, width, 3]` in, `[batch, height,
 * width, 1]` out); the state dict uses the seed's keys and PyTorch layout.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { U2Net } from "./u2net.ts";
 * const model = U2Net.create("lite");
 * const mask = tf.tidy(() => model.predict(tf.zeros([1, 32, 32, 3])));
 * console.log(mask.shape); // [1, 32, 32, 1]
 * mask.dispose();
 * model.dispose();
 * ```
 */
export class U2Net {
  /** The architecture. */
  readonly config: U2NetConfig;
  /** Whether conv → BN → ReLU layers have conv biases. */
  readonly convBias: boolean;
  /** Whether BatchNorm layers exist (false: folded-BN inference network). */
  readonly batchNorm: boolean;
  /** Train mode (batch statistics, seven logit maps) or eval mode. */
  training = false;
  readonly #specs: StateEntrySpec[];
  readonly #vars = new Map<string, tf.Variable>();
  readonly #counters = new Map<string, bigint>();
  readonly #id = nextNetworkId++;

  private constructor(config: U2NetConfig, options: U2NetOptions) {
    this.config = config;
    this.batchNorm = options.batchNorm ?? true;
    this.convBias = options.convBias ?? !this.batchNorm;
    const structure = { convBias: this.convBias, batchNorm: this.batchNorm };
    this.#specs = stateDictSpec(config, structure);
    const rand = mulberry32(options.seed ?? 0);
    for (const spec of this.#specs) {
      if (spec.role === "counter") this.#counters.set(spec.key, 0n);
      else this.#vars.set(spec.key, this.#toVariable(spec, initialValues(spec, rand)));
    }
  }

  /** Builds a network with fresh (PyTorch-default) weights. */
  static create(arch: ArchName | U2NetConfig = "lite", options: U2NetOptions = {}): U2Net {
    return new U2Net(resolveConfig(arch), options);
  }

  /** Switches to train mode (or eval mode with `false`). */
  train(mode = true): this {
    this.training = mode;
    return this;
  }

  /** Switches to eval mode. */
  eval(): this {
    return this.train(false);
  }

  /** The state-dict keys with their PyTorch shapes, in the seed's order. */
  get specs(): readonly StateEntrySpec[] {
    return this.#specs;
  }

  /** Trainable parameters (tfjs layout) by seed key, in state-dict order. */
  namedParameters(): [string, tf.Variable][] {
    return this.#specs.filter((s) => s.role === "param").map((
      s,
    ) => [s.key, this.#vars.get(s.key)!]);
  }

  /** BatchNorm running statistics by seed key, in state-dict order. */
  namedBuffers(): [string, tf.Variable][] {
    return this.#specs.filter((s) => s.role === "buffer").map((
      s,
    ) => [s.key, this.#vars.get(s.key)!]);
  }

  /** Number of trainable parameters (43,995,469 for full, 1,128,333 for lite). */
  numParameters(): number {
    return this.namedParameters().reduce((n, [, v]) => n + v.size, 0);
  }

  /**
   * Runs the network. Train mode: seven logit maps `[fused, side1 … side6]`
   * at input size, and the BN running stats are updated. Eval mode:
   * `[sigmoid(fused)]`, or all seven sigmoid maps with `allSides`.
   */
  forward(x: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor4D[] {
    if (x.rank !== 4 || x.shape[3] !== 3) {
      throw new RangeError(
        `Cannot run U2Net: current input shape is [${x.shape}], expected [N,H,W,3]`,
      );
    }
    const training = this.training;
    return tf.tidy(() => {
      const logits = this.#logits(x, training);
      if (training) return logits;
      return options.allSides ? logits.map((t) => tf.sigmoid(t)) : [tf.sigmoid(logits[0])];
    });
  }

  /** Eval-mode probability map `sigmoid(fused)`, whatever the current mode. */
  predict(x: tf.Tensor4D): tf.Tensor4D {
    const mode = this.training;
    this.training = false;
    try {
      return this.forward(x)[0];
    } finally {
      this.training = mode;
    }
  }

  #logits(x: tf.Tensor4D, training: boolean): tf.Tensor4D[] {
    const param = (key: string) => this.#vars.get(key);
    return u2netLogits(x, {
      config: this.config,
      batchNorm: this.batchNorm,
      convBias: this.convBias,
      param,
      training,
      onBatchStats: (layer, stats) => this.#updateRunningStats(layer, stats),
    });
  }

  /** PyTorch's running-stat update: momentum 0.1, unbiased variance, counter + 1. */
  #updateRunningStats(name: string, stats: BatchStats): void {
    const m = BN_MOMENTUM;
    const fused = onWebgpu() && currentTuning().runningStats; // 1 kernel per buffer
    const update = (key: string, row: 0 | 1) => {
      const r = this.#vars.get(`${name}.bn.running_${key}`)!;
      const tfOps = () => tf.add(tf.mul(r, 1 - m), tf.mul(row ? stats.varUnbiased : stats.mean, m));
      r.assign(fused ? runningStatOfBatch(r, stats, row, m) : tfOps());
    };
    update("mean", 0);
    update("var", 1);
    const counter = `${name}.bn.num_batches_tracked`;
    this.#counters.set(counter, this.#counters.get(counter)! + 1n);
  }

  #toVariable(spec: StateEntrySpec, values: Float32Array): tf.Variable {
    const data = spec.shape.length === 4 ? oihwToHwio(values, spec.shape) : values;
    const [o, i, h, w] = spec.shape;
    const shape = spec.shape.length === 4 ? [h, w, i, o] : spec.shape;
    // tfjs variable names are global: make them unique per network.
    const name = `u2net${this.#id}/${spec.key}`;
    // tidy frees the initial tensor; the variable keeps its data.
    return tf.tidy(() =>
      tf.variable(tf.tensor(data, shape, "float32"), spec.role === "param", name)
    );
  }

  /** The state dict: seed keys, PyTorch layout (OIHW), int64 batch counters. */
  async stateDict(): Promise<StateDict> {
    const out: StateDict = new Map();
    for (const spec of this.#specs) {
      if (spec.role === "counter") {
        const data = new BigInt64Array([this.#counters.get(spec.key)!]);
        out.set(spec.key, { dtype: "I64", shape: [], data });
        continue;
      }
      const values = await this.#vars.get(spec.key)!.data() as Float32Array;
      const data = spec.shape.length === 4 ? hwioToOihw(values, spec.shape) : values.slice();
      out.set(spec.key, { dtype: "F32", shape: [...spec.shape], data });
    }
    return out;
  }

  /**
   * Loads a state dict (seed keys, PyTorch layout). Shapes are checked key by
   * key; missing or unexpected keys are errors unless `strict` is false.
   * Missing `num_batches_tracked` counters are set to 0, as PyTorch does.
   */
  loadStateDict(stateDict: StateDict, options: { strict?: boolean } = {}): void {
    loadStateDictInto(this.#specs, stateDict, options.strict ?? true, {
      setParam: (spec: StateEntrySpec, t: RawTensor, values: Float32Array) => {
        void t;
        const data = spec.shape.length === 4 ? oihwToHwio(values, spec.shape) : values;
        const v = this.#vars.get(spec.key)!;
        const value = tf.tensor(data, v.shape, "float32");
        v.assign(value); // assign() shares the data but does not free `value`
        value.dispose();
      },
      setCounter: (key: string, value: bigint) => this.#counters.set(key, value),
    });
  }

  /** Frees every tensor the network holds. */
  dispose(): void {
    for (const v of this.#vars.values()) v.dispose();
    this.#vars.clear();
  }
}
