/**
 * The state of the CPU training step (`cpu_trainer.ts`) in kernel arrays:
 * parameters and their gradients (tfjs layout, by seed key), AdamW moments,
 * BN running statistics; read from the model and the optimizer, and written
 * back to them (`CpuTrainer.sync`).
 *
 * @module
 */
import { tf } from "../../deps.ts";
import type { StateDict } from "../../io/raw_tensor.ts";
import type { U2Net } from "../../model/u2net.ts";
import type { AdamWState } from "../../optim/adamw.ts";
import type { Trainer } from "../../optim/trainer.ts";

/** The trainer's arrays. */
export interface CpuTrainState {
  /** Every parameter, by seed key (tfjs layout). */
  params: Map<string, Float32Array>;
  /** Their gradients of the last step. */
  grads: Map<string, Float32Array>;
  /** The optimizer's parameters: group index and moments. */
  slots: Map<string, { group: number; m: Float32Array; v: Float32Array }>;
  /** Running statistics by BN key (`….bn`). */
  running: Map<string, { mean: Float32Array; var: Float32Array }>;
}

/** Checks the trainer (BatchNorm, every trainable parameter in a group) and allocates its state. */
export function allocState(
  trainer: Trainer,
  bnKeys: readonly string[],
  alloc: (floats: number) => Float32Array,
): CpuTrainState {
  const { model, optimizer } = trainer;
  if (!model.batchNorm) {
    throw new TypeError("Cannot create CpuTrainer: current value is a network without BatchNorm");
  }
  const group = new Map<string, number>();
  optimizer.paramGroups.forEach((g, i) => g.names.forEach((k) => group.set(k, i)));
  const state: CpuTrainState = {
    params: new Map(),
    grads: new Map(),
    slots: new Map(),
    running: new Map(),
  };
  for (const [key, v] of model.namedParameters()) {
    state.params.set(key, alloc(v.size));
    state.grads.set(key, alloc(v.size));
    const gi = group.get(key);
    if (gi !== undefined) state.slots.set(key, { group: gi, m: alloc(v.size), v: alloc(v.size) });
    else if (v.trainable) {
      throw new RangeError(`Cannot create CpuTrainer: current optimizer lacks parameter "${key}"`);
    }
  }
  const buffers = new Map(model.namedBuffers());
  for (const key of bnKeys) {
    const c = buffers.get(`${key}.running_mean`)!.size;
    state.running.set(key, { mean: alloc(c), var: alloc(c) });
  }
  return state;
}

/**
 * Reads the model's parameters and running statistics and the optimizer's
 * moments into `state`; returns the steps every parameter has taken.
 */
export async function readState(trainer: Trainer, state: CpuTrainState): Promise<number> {
  const { model, optimizer } = trainer;
  const opt = await optimizer.state();
  const steps = new Set([...state.slots.keys()].map((k) => opt.params[k]?.step ?? 0));
  if (steps.size > 1) {
    throw new RangeError(
      `Cannot load CpuTrainer: current parameters have taken different step counts (${[
        ...steps,
      ]})`,
    );
  }
  for (const [key, v] of model.namedParameters()) {
    state.params.get(key)!.set(await v.data() as Float32Array);
  }
  for (const [key, slot] of state.slots) {
    const s = opt.params[key];
    if (s) {
      slot.m.set(s.expAvg);
      slot.v.set(s.expAvgSq);
    } else {
      slot.m.fill(0);
      slot.v.fill(0);
    }
  }
  const buffers = new Map(model.namedBuffers());
  for (const [key, r] of state.running) {
    r.mean.set(await buffers.get(`${key}.running_mean`)!.data() as Float32Array);
    r.var.set(await buffers.get(`${key}.running_var`)!.data() as Float32Array);
  }
  return [...steps][0] ?? 0;
}

/**
 * Writes `state` back: parameters and running statistics into the model
 * (its BN batch counters advanced by `unsynced`), moments and the step
 * count `step` into the optimizer.
 */
export async function writeState(
  trainer: Trainer,
  state: CpuTrainState,
  unsynced: number,
  step: number,
): Promise<void> {
  const { model, optimizer } = trainer;
  const assign = (v: tf.Variable, data: Float32Array) => {
    const value = tf.tensor(data, v.shape, "float32");
    v.assign(value);
    value.dispose();
  };
  for (const [key, v] of model.namedParameters()) assign(v, state.params.get(key)!);
  const buffers = new Map(model.namedBuffers());
  for (const [key, r] of state.running) {
    assign(buffers.get(`${key}.running_mean`)!, r.mean);
    assign(buffers.get(`${key}.running_var`)!, r.var);
  }
  if (unsynced) advanceCounters(model, await model.stateDict(), unsynced);
  const current = await optimizer.state();
  const out: AdamWState = { groups: current.groups, params: {} };
  if (step > 0) {
    for (const [key, slot] of state.slots) {
      out.params[key] = { step, expAvg: slot.m.slice(), expAvgSq: slot.v.slice() };
    }
  }
  optimizer.loadState(out);
}

/** Adds `by` to every BN batch counter of the model (from its state dict `sd`). */
function advanceCounters(model: U2Net, sd: StateDict, by: number): void {
  const counters: StateDict = new Map();
  for (const [key, t] of sd) {
    if (!key.endsWith(".num_batches_tracked")) continue;
    const data = new BigInt64Array([(t.data[0] as bigint) + BigInt(by)]);
    counters.set(key, { dtype: "I64", shape: [], data });
  }
  if (counters.size) model.loadStateDict(counters, { strict: false });
}

/** The values of `t` as `want` float32 values (`what` names it in the error). */
export async function hostData(
  t: Float32Array | tf.Tensor,
  want: number,
  what: string,
): Promise<Float32Array> {
  const raw = t instanceof Float32Array ? t : await t.data();
  const data = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
  if (data.length !== want) {
    throw new RangeError(
      `Cannot step CpuTrainer: current ${what} has ${data.length} values, expected ${want}`,
    );
  }
  return data;
}
