/**
 * The host side of `GpuTrainer.sync` (`gpu_trainer.ts`): the parameters and
 * running statistics read back from the GPU assigned into the model (its BN
 * batch counters advanced), and the moments turned into the optimizer's
 * AdamW state.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import type { U2Net } from "../../model/u2net.ts";
import type { Trainer } from "../../optim/trainer.ts";
import type { StateDict } from "../../io/raw_tensor.ts";
import type { AdamWState } from "../../optim/adamw_types.ts";
import type { TrainPlan } from "./trainer_plan.ts";

/**
 * Copies the trained state (buffers read with `read`) into the trainer's
 * model and optimizer: {@linkcode syncModel} with `counts.unsynced` steps
 * since the last sync (then 0), and the moments as the optimizer's state
 * after `counts.step` steps.
 */
export async function syncTrainer(
  trainer: Trainer,
  plan: TrainPlan,
  read: (name: string) => Promise<Float32Array>,
  counts: { step: number; unsynced: number },
): Promise<void> {
  const { model, optimizer } = trainer;
  await syncModel(model, plan, read, () => counts.unsynced);
  counts.unsynced = 0;
  const moments = await Promise.all(plan.chunks.map((_, i) => read(`mv${i}`)));
  const current = await optimizer.state();
  optimizer.loadState(adamWStateOf(plan, current.groups, moments, counts.step));
}

/**
 * Assigns the flat `params` and `state` buffers (read with `read`) into the
 * model's parameters and running statistics, and advances its BN batch
 * counters by `unsynced()` (the steps since the last sync).
 */
export async function syncModel(
  model: U2Net,
  plan: TrainPlan,
  read: (name: string) => Promise<Float32Array>,
  unsynced: () => number,
): Promise<void> {
  const params = await read("params");
  const assign = (v: tf.Variable, data: Float32Array) => {
    const value = tf.tensor(data, v.shape, "float32");
    v.assign(value);
    value.dispose();
  };
  for (const [key, v] of model.namedParameters()) {
    const slot = plan.params.get(key);
    if (slot) assign(v, params.subarray(slot.off, slot.off + slot.len));
  }
  const state = await read("state");
  const buffers = new Map(model.namedBuffers());
  const counters: StateDict = new Map();
  const old = unsynced() ? await model.stateDict() : new Map();
  for (const [name, { off, channels }] of plan.state) {
    assign(buffers.get(`${name}.bn.running_mean`)!, state.subarray(off, off + channels));
    assign(
      buffers.get(`${name}.bn.running_var`)!,
      state.subarray(off + channels, off + 2 * channels),
    );
    const key = `${name}.bn.num_batches_tracked`;
    const before = old.get(key);
    if (before) {
      const data = new BigInt64Array([(before.data[0] as bigint) + BigInt(unsynced())]);
      counters.set(key, { dtype: "I64", shape: [], data });
    }
  }
  if (counters.size) model.loadStateDict(counters, { strict: false });
}

/**
 * The AdamW state of the plan's parameters after `step` steps: the groups
 * as given, and per parameter its slices of the chunks' packed moments
 * (`moments[i]`: chunk i's m then v); no parameter state before the first step.
 */
export function adamWStateOf(
  plan: TrainPlan,
  groups: AdamWState["groups"],
  moments: Float32Array[],
  step: number,
): AdamWState {
  const out: AdamWState = { groups, params: {} };
  if (step > 0) {
    for (const [key, slot] of plan.params) {
      const mv = moments[slot.chunk], { off, len } = plan.chunks[slot.chunk];
      const at = slot.off - off;
      out.params[key] = {
        step,
        expAvg: mv.slice(at, at + slot.len),
        expAvgSq: mv.slice(len + at, len + at + slot.len),
      };
    }
  }
  return out;
}
