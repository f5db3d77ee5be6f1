/**
 * The host work of one recorded training step (`gpu_trainer.ts`,
 * `GpuTrainer.step`): the batch as host arrays, and the AdamW uniforms
 * with the step's scalars.
 *
 * @module
 */
import { tf } from "../../deps.ts";
import type { AdamW } from "../../optim/adamw.ts";
import { adamUniform, type TrainPlan } from "./trainer_plan.ts";
import type { GpuRuntime } from "./gpu_runtime.ts";

/**
 * The values of `t` as a `Float32Array` of `want` values (`what` names it
 * in the error).
 */
export async function hostData(
  t: Float32Array | tf.Tensor,
  want: number,
  what: string,
): Promise<Float32Array> {
  // A tfjs float32 tensor cast from bool can hold integers (webgpu): convert.
  const raw = t instanceof tf.Tensor ? await t.data() : t;
  const data = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
  if (data.length !== want) {
    throw new RangeError(
      `Cannot step GpuTrainer: current ${what} has ${data.length} values, expected ${want}`,
    );
  }
  return data;
}

/**
 * Queues the uniforms of the optimizer pass (`bound[i]`: dispatch i's) for
 * step `t`, with each chunk's group's current hyper-parameters.
 */
export function writeAdamUniforms(
  rt: GpuRuntime,
  plan: TrainPlan,
  bound: readonly { uniform: GPUBuffer }[],
  optimizer: AdamW,
  t: number,
): void {
  plan.optimizer.forEach((d, i) => {
    const chunk = plan.chunks[d.adam!.chunk];
    const g = optimizer.paramGroups[chunk.group];
    const { lr, weightDecay, betas: [b1, b2], eps } = g;
    const s = {
      beta1: b1,
      beta2: b2,
      decay: 1 - lr * weightDecay,
      stepSize: lr / (1 - b1 ** t),
      bc2Sqrt: Math.sqrt(1 - b2 ** t),
      eps,
    };
    rt.write(bound[i].uniform, adamUniform(d.adam!.kind, d.adam!.n, s));
  });
}
