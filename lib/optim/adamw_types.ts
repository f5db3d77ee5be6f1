/**
 * Options, parameter-group and state types of the AdamW optimizer, and the
 * resolution of constructor groups against the defaults. `adamw.ts`
 * re-exports the types and defaults: import them from there.
 *
 * @module
 */
import type { tf } from "../deps.ts";

/** Options of `AdamW`; a group's own fields override them. */
export interface AdamWOptions {
  /**
   * Learning rate of groups without their own `lr`.
   * @default {1e-3}
   */
  lr?: number;
  /**
   * Moment decay rates (β1, β2).
   * @default {[0.9, 0.999]}
   */
  betas?: readonly [number, number];
  /**
   * Term added to the bias-corrected denominator.
   * @default {1e-8}
   */
  eps?: number;
  /**
   * Decoupled weight decay of groups without their own `weightDecay` (PyTorch's default).
   * @default {1e-2}
   */
  weightDecay?: number;
}

/** Defaults of {@linkcode AdamWOptions} (PyTorch 1.13's `AdamW` defaults). */
export const DEFAULT_ADAMW_OPTIONS: Readonly<Required<AdamWOptions>> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as const,
  eps: 1e-8,
  weightDecay: 1e-2,
});

/** A group as given to the constructor, e.g. from `getParamsGroups`. */
export interface AdamWGroupInit extends AdamWOptions {
  /** Float32 variables to optimise. */
  params: tf.Variable[];
  /** Their names, parallel to `params` (the keys of `applyGradients`); default `variable.name`. */
  names?: string[];
}

/** A live parameter group; `lr` (and `initialLr`) are written by the lr scheduler. */
export interface AdamWParamGroup {
  /** The group's variables. */
  readonly params: readonly tf.Variable[];
  /** Their names, parallel to `params`. */
  readonly names: readonly string[];
  /** Current learning rate. */
  lr: number;
  /** Base learning rate, set by the lr scheduler (PyTorch's `initial_lr`). */
  initialLr?: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** (β1, β2). */
  betas: readonly [number, number];
  /** Denominator epsilon. */
  eps: number;
}

/**
 * `AdamW`'s live per-parameter record. The moments are in one of two
 * layouts: split (`m`, `v`) or packed (`mv`); see `AdamW`.
 */
export interface AdamWSlot {
  /** The parameter. */
  variable: tf.Variable;
  /** Its group. */
  group: AdamWParamGroup;
  /** Updates applied so far. */
  step: number;
  /** Split layout (cpu, wasm, unfused webgpu): first moment, shaped like the variable. */
  m?: tf.Tensor;
  /** Split layout: second moment, shaped like the variable. */
  v?: tf.Tensor;
  /** Packed layout (fused webgpu): `[m, v]` flattened into one `[2·size]` tensor. */
  mv?: tf.Tensor;
}

/** Host copy of one parameter's optimizer state. */
export interface AdamWParamState {
  /** Updates applied so far (PyTorch's `step`). */
  step: number;
  /** First moment, row-major in the variable's (tfjs) layout. */
  expAvg: Float32Array;
  /** Second moment, same layout. */
  expAvgSq: Float32Array;
}

/** Serialisable optimizer state (only parameters that were stepped have an entry). */
export interface AdamWState {
  /** Hyper-parameters of every group, in group order. */
  groups: {
    lr: number;
    initialLr?: number;
    weightDecay: number;
    betas: [number, number];
    eps: number;
  }[];
  /** Per-parameter state keyed by parameter name, in group order. */
  params: Record<string, AdamWParamState>;
}

/**
 * Live groups from constructor groups: each missing field is taken from
 * `options`, then from {@linkcode DEFAULT_ADAMW_OPTIONS}; names default to
 * the variables' names.
 *
 * @throws {RangeError} When a group's names and parameters differ in count.
 */
export function resolveParamGroups(
  groups: readonly AdamWGroupInit[],
  options: AdamWOptions,
): AdamWParamGroup[] {
  const d = { ...DEFAULT_ADAMW_OPTIONS, ...options };
  return groups.map((g, gi) => {
    const names = g.names ?? g.params.map((p) => p.name);
    if (names.length !== g.params.length) {
      throw new RangeError(
        `Cannot create AdamW: current value is ${names.length} names for ${g.params.length} params in group ${gi}`,
      );
    }
    const betas = g.betas ?? d.betas;
    return {
      params: [...g.params],
      names: [...names],
      lr: g.lr ?? d.lr,
      weightDecay: g.weightDecay ?? d.weightDecay,
      betas: [betas[0], betas[1]] as const,
      eps: g.eps ?? d.eps,
    };
  });
}
