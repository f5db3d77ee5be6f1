/**
 * AdamW with PyTorch 1.13's single-tensor update, over PyTorch-style
 * parameter groups keyed by parameter name (spec §2).
 *
 * @module
 */
import { tf } from "../deps.ts";
import { currentTuning, onWebgpu } from "../kernels/webgpu.ts";
import {
  adamwStepWebgpu,
  packHost,
  packMoments,
  unpackMoments,
} from "../kernels/adamw/adamw_webgpu.ts";
import {
  type AdamWGroupInit,
  type AdamWOptions,
  type AdamWParamGroup,
  type AdamWParamState,
  type AdamWSlot as Slot,
  type AdamWState,
  resolveParamGroups,
} from "./adamw_types.ts";

export {
  type AdamWGroupInit,
  type AdamWOptions,
  type AdamWParamGroup,
  type AdamWParamState,
  type AdamWState,
  DEFAULT_ADAMW_OPTIONS,
} from "./adamw_types.ts";

/** True when the update runs as fused WGSL kernels (and the moments are packed). */
const fused = (): boolean => onWebgpu() && currentTuning().adamw;

/**
 * AdamW (amsgrad off, no gradient clipping). For every parameter with a
 * gradient, with step `t` starting at 1:
 * `p ← p·(1 − lr·wd)`; `m ← β1·m + (1 − β1)·g`; `v ← β2·v + (1 − β2)·g²`;
 * `p ← p − (lr/(1 − β1^t))·m / (sqrt(v)/sqrt(1 − β2^t) + eps)`.
 * Scalars are computed in float64 and applied in float32, like PyTorch.
 * On webgpu (unless `currentTuning().adamw` is off) each update is two
 * fused WGSL dispatches (`adamw_webgpu.ts`) in the same float32 order, and
 * a parameter's two moments are kept packed in one tensor; elsewhere they are
 * two tensors shaped like the parameter. A slot's layout follows the path of
 * each step (converted exactly, by concat or split, when the path changes);
 * {@linkcode AdamW.state} always returns the moments separately.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { AdamW } from "./adamw.ts";
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const opt = new AdamW([{ params: [w], names: ["w"], weightDecay: 0 }], { lr: 0.1 });
 * opt.applyGradients({ w: tf.tensor1d([0.5, -0.5]) });
 * console.log(await w.data()); // ≈ [0.9, 2.1]
 * opt.dispose();
 * ```
 */
export class AdamW {
  /** The parameter groups; `lr` is mutable (the scheduler writes it). */
  readonly paramGroups: AdamWParamGroup[];
  readonly #slots = new Map<string, Slot>();
  #disposed = false;

  /**
   * Creates the optimizer; moments are allocated at each parameter's first step.
   *
   * @param groups Parameter groups (e.g. `getParamsGroups(model.namedParameters())`).
   * @param options Defaults for groups; see {@linkcode DEFAULT_ADAMW_OPTIONS}.
   */
  constructor(groups: readonly AdamWGroupInit[], options: AdamWOptions = {}) {
    this.paramGroups = resolveParamGroups(groups, options);
    for (const group of this.paramGroups) {
      group.params.forEach((variable, i) => {
        const name = group.names[i];
        if (this.#slots.has(name)) {
          throw new RangeError(`Cannot create AdamW: current value is duplicate name "${name}"`);
        }
        if (variable.dtype !== "float32") {
          throw new TypeError(
            `Cannot create AdamW: current value is ${variable.dtype} parameter "${name}"`,
          );
        }
        this.#slots.set(name, { variable, group, step: 0 });
      });
    }
  }

  /**
   * One optimizer step for every parameter that has a gradient (others keep
   * their step count, like PyTorch's `grad is None`). The gradients are not
   * disposed.
   *
   * @param grads Gradients keyed by parameter name, shaped like their variables.
   * @throws {RangeError} On an unknown name or a shape mismatch (before any update).
   */
  applyGradients(
    grads: Readonly<Record<string, tf.Tensor>> | ReadonlyMap<string, tf.Tensor>,
  ): void {
    this.#checkLive("apply gradients");
    const map = grads instanceof Map ? grads : new Map(Object.entries(grads));
    for (const [name, g] of map) {
      const slot = this.#slots.get(name);
      if (!slot) {
        throw new RangeError(
          `Cannot apply gradients: current value is unknown parameter "${name}"`,
        );
      }
      if (!tf.util.arraysEqual(g.shape, slot.variable.shape)) {
        throw new RangeError(
          `Cannot apply gradients: current value is gradient [${g.shape}] for "${name}" [${slot.variable.shape}]`,
        );
      }
    }
    for (const [name, slot] of this.#slots) {
      const g = map.get(name);
      if (g) this.#update(slot, g);
    }
  }

  #update(slot: Slot, grad: tf.Tensor): void {
    const { lr, weightDecay, betas: [b1, b2], eps } = slot.group;
    const packed = fused();
    this.#layout(slot, packed);
    const t = ++slot.step;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const p = slot.variable;
    if (packed) {
      const oldMv = slot.mv!;
      const decay = 1 - lr * weightDecay;
      const scalars = { beta1: b1, beta2: b2, decay, stepSize, bc2Sqrt, eps };
      slot.mv = adamwStepWebgpu(p, grad, oldMv, scalars);
      oldMv.dispose();
      return;
    }
    const [oldM, oldV] = [slot.m!, slot.v!];
    const [m, v] = tf.tidy(() => {
      const g = tf.cast(grad, "float32");
      const decayed = tf.mul(p, 1 - lr * weightDecay);
      const m = tf.add(tf.mul(oldM, b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(oldV, b2), tf.mul(tf.mul(g, g), 1 - b2));
      const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
      p.assign(tf.sub(decayed, tf.div(tf.mul(m, stepSize), denom)));
      return [m, v];
    });
    oldM.dispose();
    oldV.dispose();
    slot.m = m;
    slot.v = v;
  }

  /** Puts the slot's moments in the packed or split layout (zeros before the first step). */
  #layout(slot: Slot, packed: boolean): void {
    const { variable, m, v, mv } = slot;
    if (packed && !mv) {
      slot.mv = m && v ? packMoments(m, v) : tf.zeros([2 * variable.size], "float32");
    } else if (!packed && !(m && v)) {
      [slot.m, slot.v] = mv
        ? unpackMoments(mv, variable.shape)
        : [tf.zerosLike(variable), tf.zerosLike(variable)];
    } else return;
    tf.dispose(packed ? [m, v].filter((x) => x !== undefined) : mv);
    if (packed) slot.m = slot.v = undefined;
    else slot.mv = undefined;
  }

  /** Host copy of the state (group hyper-parameters and per-parameter moments). */
  async state(): Promise<AdamWState> {
    this.#checkLive("read state");
    const params: Record<string, AdamWParamState> = {};
    for (const [name, { variable: { size }, step, m, v, mv }] of this.#slots) {
      // one host array [m, v] either way (packed: as stored; split: copied together)
      const host = mv ? await mv.data() : m && v ? packHost(await m.data(), await v.data()) : null;
      if (!host) continue;
      const f = host as Float32Array; // float32 moments
      params[name] = { step, expAvg: f.slice(0, size), expAvgSq: f.slice(size, 2 * size) };
    }
    const groups = this.paramGroups.map((g) => ({
      lr: g.lr,
      ...(g.initialLr === undefined ? {} : { initialLr: g.initialLr }),
      weightDecay: g.weightDecay,
      betas: [g.betas[0], g.betas[1]] as [number, number],
      eps: g.eps,
    }));
    return { groups, params };
  }

  /**
   * Restores {@linkcode AdamW.state} output: group hyper-parameters and every
   * listed parameter's moments; parameters not listed start afresh.
   *
   * @throws {RangeError} On a group-count, name or size mismatch (nothing is changed then).
   */
  loadState(state: AdamWState): void {
    this.#checkLive("load state");
    if (state.groups.length !== this.paramGroups.length) {
      throw new RangeError(
        `Cannot load AdamW state: current value is ${state.groups.length} groups for ${this.paramGroups.length}`,
      );
    }
    for (const [name, s] of Object.entries(state.params)) {
      const slot = this.#slots.get(name);
      const size = slot?.variable.size;
      if (size === undefined || s.expAvg.length !== size || s.expAvgSq.length !== size) {
        throw new RangeError(
          `Cannot load AdamW state: current value is "${name}" with ${s.expAvg.length} values (expected ${size})`,
        );
      }
    }
    state.groups.forEach((s, i) => {
      const g = this.paramGroups[i];
      Object.assign(g, { lr: s.lr, weightDecay: s.weightDecay, eps: s.eps });
      g.betas = [s.betas[0], s.betas[1]];
      if (s.initialLr !== undefined) g.initialLr = s.initialLr;
    });
    for (const [name, slot] of this.#slots) {
      this.#clear(slot);
      const s = state.params[name];
      if (!s) continue;
      slot.step = s.step;
      const { shape, size } = slot.variable;
      if (fused()) {
        slot.mv = tf.tensor(packHost(s.expAvg, s.expAvgSq), [2 * size], "float32");
        continue;
      }
      slot.m = tf.tensor(Float32Array.from(s.expAvg), shape, "float32");
      slot.v = tf.tensor(Float32Array.from(s.expAvgSq), shape, "float32");
    }
  }

  /** Frees the moment tensors (not the parameters); the optimizer is unusable afterwards. */
  dispose(): void {
    for (const slot of this.#slots.values()) this.#clear(slot);
    this.#disposed = true;
  }

  #clear(slot: Slot): void {
    tf.dispose([slot.m, slot.v, slot.mv].filter((x) => x !== undefined));
    slot.m = slot.v = slot.mv = undefined;
    slot.step = 0;
  }

  #checkLive(what: string): void {
    if (this.#disposed) throw new TypeError(`Cannot ${what}: current value is a disposed AdamW`);
  }
}
