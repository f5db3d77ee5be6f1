/**
 * The checks of `GpuTrainer.create` (`gpu_trainer.ts`) on the model and the
 * optimizer: a network with BatchNorm, every trainable parameter in one of
 * the optimizer's groups, and one step count for all.
 *
 * @module
 */
import type { Trainer } from "../../optim/trainer.ts";
import type { AdamWState } from "../../optim/adamw_types.ts";
import type { ParamInfo } from "./trainer_plan.ts";

/** What `GpuTrainer.create` plans and uploads from. */
export interface TrainerStart {
  /** The optimizer's parameters, in group order. */
  info: ParamInfo[];
  /** The optimizer's state. */
  state: AdamWState;
  /** The steps every parameter has taken. */
  step: number;
}

/**
 * Checks the trainer for `GpuTrainer.create` and returns its parameters,
 * the optimizer's state and the common step count.
 */
export async function checkTrainer(trainer: Trainer): Promise<TrainerStart> {
  const { model, optimizer } = trainer;
  if (!model.batchNorm) {
    throw new TypeError("Cannot create GpuTrainer: current value is a network without BatchNorm");
  }
  const info = optimizer.paramGroups.flatMap((g, group) =>
    g.params.map((v, i) => ({ key: g.names[i], shape: v.shape, group }))
  );
  const trainable = model.namedParameters().filter(([, v]) => v.trainable).map(([k]) => k);
  const missing = trainable.filter((k) => !info.some((p) => p.key === k));
  if (missing.length) {
    throw new RangeError(
      `Cannot create GpuTrainer: current optimizer lacks parameter "${missing[0]}"`,
    );
  }
  const state = await optimizer.state();
  const steps = new Set(info.map((p) => state.params[p.key]?.step ?? 0));
  if (steps.size > 1) {
    throw new RangeError(
      `Cannot create GpuTrainer: current parameters have taken different step counts (${[
        ...steps,
      ]})`,
    );
  }
  return { info, state, step: [...steps][0] };
}
