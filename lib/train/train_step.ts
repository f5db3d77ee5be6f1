/**
 * One optimisation step of the seed's `train_one_epoch` (spec §2): forward
 * in train mode, criterion, backward, AdamW step, lr scheduler step.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { criterion } from "./loss.ts";

export {
  NonFiniteLossError,
  type TensorBatch,
  type Trainer,
  type TrainStepOptions,
} from "../optim/trainer.ts";
import {
  NonFiniteLossError,
  type TensorBatch,
  type Trainer,
  type TrainStepOptions,
} from "../optim/trainer.ts";

/**
 * One optimisation step: `model.train()`, forward (BN running statistics
 * update), `criterion` (sum of seven mean BCE-with-logits), gradients of every
 * trainable parameter, `optimizer.applyGradients`, then `scheduler.step()`.
 * The loss is read back once (the only host sync). Every tensor it creates is
 * disposed; the batch tensors are not.
 *
 * A NaN or infinite loss throws {@linkcode NonFiniteLossError} before the
 * optimizer (and scheduler) step, so the parameters and moments are unchanged;
 * the BN running statistics have then already seen the batch, as in PyTorch.
 *
 * @returns The loss of this step (before the update).
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * import { U2Net } from "../model/u2net.ts";
 * import { AdamW } from "../optim/adamw.ts";
 * import { getParamsGroups } from "../optim/params_groups.ts";
 * import { trainStep } from "./train_step.ts";
 * const model = U2Net.create("lite");
 * const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
 * const images = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
 * const masks = tf.zeros([1, 32, 32, 1]) as tf.Tensor4D;
 * console.log(await trainStep({ model, optimizer }, { images, masks }));
 * ```
 */
export async function trainStep(
  trainer: Trainer,
  batch: TensorBatch,
  options: TrainStepOptions = {},
): Promise<number> {
  const { model, optimizer, scheduler } = trainer;
  model.train();
  const named = model.namedParameters();
  const vars = named.map(([, v]) => v);
  const { value, grads } = tf.variableGrads(
    () => criterion(model.forward(batch.images), batch.masks),
    vars,
  );
  try {
    const loss = (await value.data())[0];
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, options);
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of named) {
      const g = grads[v.name];
      if (g) byName.set(name, g);
    }
    optimizer.applyGradients(byName);
    scheduler?.step();
    return loss;
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
  }
}
