/**
 * The seed's `get_params_groups`: no weight decay on 1-D parameters and biases
 * (spec §2).
 *
 * @module
 */
import type { tf } from "../deps.ts";

/** Default weight decay of {@linkcode getParamsGroups} (the seed's default). */
export const DEFAULT_WEIGHT_DECAY = 1e-4;

/** One optimizer parameter group, PyTorch-style. */
export interface ParamGroup {
  /** The trainable variables, in model order. */
  params: tf.Variable[];
  /** Their state-dict names (`encode_modules.0.conv_in.conv.weight` …), parallel to `params`. */
  names: string[];
  /** Decoupled weight decay for this group. */
  weightDecay: number;
}

/**
 * True when the seed puts a parameter in the no-decay group: 1-D, or a name ending `.bias`.
 *
 * @example
 * ```ts
 * import { isNoDecayParam } from "./params_groups.ts";
 * console.log(isNoDecayParam("side1.bias", 1), isNoDecayParam("side1.weight", 4)); // true false
 * ```
 */
export function isNoDecayParam(name: string, rank: number): boolean {
  return rank === 1 || name.endsWith(".bias");
}

/**
 * Splits named parameters into the seed's two groups: group 0 (weight decay 0)
 * holds every parameter with one dimension or a name ending in `.bias` (BN
 * weights and biases, side and out-conv biases); group 1 holds the rest (conv
 * weights) with `weightDecay`. Non-trainable variables are skipped, like
 * PyTorch parameters without `requires_grad`.
 *
 * Ranks are layout-independent (NHWC/HWIO kernels are still 4-D), so the
 * split matches PyTorch's on the same names.
 *
 * @param named `[name, variable]` pairs in model order, e.g. `model.namedParameters()`.
 * @param weightDecay Decay of group 1. @default {1e-4}
 * @returns `[noDecay, decay]`.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { getParamsGroups } from "./params_groups.ts";
 * const [noDecay, decay] = getParamsGroups([
 *   ["conv.weight", tf.variable(tf.zeros([3, 3, 3, 8]))],
 *   ["bn.weight", tf.variable(tf.ones([8]))],
 * ]);
 * console.log(noDecay.names, decay.names, decay.weightDecay); // ["bn.weight"] ["conv.weight"] 0.0001
 * ```
 */
export function getParamsGroups(
  named: Iterable<readonly [string, tf.Variable]>,
  weightDecay: number = DEFAULT_WEIGHT_DECAY,
): [ParamGroup, ParamGroup] {
  if (!Number.isFinite(weightDecay) || weightDecay < 0) {
    throw new RangeError(
      `Cannot build param groups: current value is weightDecay=${weightDecay}`,
    );
  }
  const noDecay: ParamGroup = { params: [], names: [], weightDecay: 0 };
  const decay: ParamGroup = { params: [], names: [], weightDecay };
  const seen = new Set<string>();
  for (const [name, variable] of named) {
    if (seen.has(name)) {
      throw new RangeError(`Cannot build param groups: current value is duplicate name "${name}"`);
    }
    seen.add(name);
    if (!variable.trainable) continue;
    const group = isNoDecayParam(name, variable.rank) ? noDecay : decay;
    group.params.push(variable);
    group.names.push(name);
  }
  return [noDecay, decay];
}
