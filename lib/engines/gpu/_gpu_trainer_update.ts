/**
 * The update phase of the recorded training step (`gpu_trainer.ts`),
 * recorded in the same compute pass as the forward, criterion and backward
 * dispatches, so a whole step is one submission with no host wait:
 *
 * 1. the running statistics `stateNext` copied into `state`, unless the
 *    latch is set (an earlier step in flight had a non-finite loss; the
 *    step's own batch updates them whatever its loss, as in PyTorch);
 * 2. per AdamW chunk (a range of one optimizer group: many parameter
 *    tensors), one fused in-place AdamW dispatch, skipped when the step's
 *    loss is not finite (which sets the latch) or the latch is set.
 *
 * The latch lives in the buffer `guard` (`loss_guard_wgsl.ts`); the host
 * clears it when it reads a non-finite loss. In mixed precision
 * (`adamw_amp_wgsl.ts`) a check for non-finite gradients comes before the
 * AdamW dispatches (which unscale the gradients and skip on an overflow)
 * and the loss scale's update after them. Also here: the AdamW uniforms of
 * a step.
 *
 * @module
 */
import type { AdamW } from "../../optim/adamw.ts";
import { GUARDED_ADAMW_WGSL, guardedAdamWUniform } from "../../kernels/adamw/adamw_guarded_wgsl.ts";
import {
  GUARDED_COPY_WGSL,
  guardedCopyUniform,
  guardGrid,
} from "../../kernels/loss/loss_guard_wgsl.ts";
import {
  AMP_ADAMW_WGSL,
  AMP_BUFFER,
  AMP_CHECK_WGSL,
  AMP_UPDATE_WGSL,
  AMP_WORDS,
  ampAdamWUniform,
} from "../../kernels/adamw/adamw_amp_wgsl.ts";
import type { TrainDispatch, TrainPlan } from "./trainer_plan.ts";
import type { GpuRuntime } from "./gpu_runtime.ts";

/** The buffer holding the latch (one `u32`, 0 or 1). */
export const GUARD_BUFFER = "guard";

/** Options of {@linkcode planUpdate}. */
export interface UpdateOptions {
  /** Mixed precision: loss-scaled gradients (`adamw_amp_wgsl.ts`). @default false */
  half?: boolean;
  /** With `half`: good steps after which the loss scale doubles. @default 2000 */
  growthInterval?: number;
}

/**
 * The update phase's dispatches: the guarded running-stat copy, then one
 * AdamW per chunk (in mixed precision: the gradient check first and the
 * loss scale's update last).
 */
export function planUpdate(plan: TrainPlan, options: UpdateOptions = {}): TrainDispatch[] {
  const { half = false, growthInterval = 2000 } = options;
  const guard = { buf: GUARD_BUFFER, off: 0, len: 4 };
  const amp = { buf: AMP_BUFFER, off: 0, len: AMP_WORDS };
  const stateLen = plan.buffers.get("state")!;
  const out: TrainDispatch[] = [{
    code: GUARDED_COPY_WGSL,
    entry: "main",
    bindings: [
      { buf: "state", off: 0, len: stateLen },
      { buf: "stateNext", off: 0, len: stateLen },
      guard,
    ],
    uniform: guardedCopyUniform(stateLen),
    workgroups: guardGrid(stateLen),
    label: "state.copy",
  }];
  // Mixed precision: every chunk's gradients checked before any is applied.
  for (const c of half ? plan.chunks : []) {
    out.push({
      code: AMP_CHECK_WGSL,
      entry: "main",
      bindings: [amp, { buf: "grads", off: c.off, len: c.len }],
      uniform: new Uint32Array([c.len, 0, 0, 0]).buffer,
      workgroups: guardGrid(c.len),
      label: "amp.check",
    });
  }
  const none = { beta1: 0, beta2: 0, decay: 1, stepSize: 0, bc2Sqrt: 1, eps: 1 };
  for (const [i, c] of plan.chunks.entries()) {
    out.push({
      code: half ? AMP_ADAMW_WGSL : GUARDED_ADAMW_WGSL,
      entry: "main",
      bindings: [
        { buf: "params", off: c.off, len: c.len },
        { buf: `mv${i}`, off: 0, len: 2 * c.len },
        { buf: "grads", off: c.off, len: c.len },
        { buf: "loss", off: 0, len: 1 },
        guard,
        ...(half ? [amp] : []),
      ],
      writable: [1, 4],
      uniform: half
        ? ampAdamWUniform(c.len, { lr: 0, weightDecay: 0, beta1: 0, beta2: 0, eps: 1 })
        : guardedAdamWUniform(c.len, none),
      workgroups: guardGrid(c.len),
      label: "adamw",
    });
  }
  if (half) {
    if (!Number.isInteger(growthInterval) || growthInterval < 1) {
      throw new RangeError(`Cannot scale the loss: current growthInterval is ${growthInterval}`);
    }
    out.push({
      code: AMP_UPDATE_WGSL,
      entry: "main",
      bindings: [amp, guard],
      uniform: new Uint32Array([growthInterval, 0, 0, 0]).buffer,
      workgroups: [1, 1, 1],
      label: "amp.update",
    });
  }
  return out;
}

/** The buffers the trainer creates: the plan's, plus the latch. */
export function updateBuffers(plan: TrainPlan): Map<string, number> {
  const out = new Map(plan.buffers);
  out.set(GUARD_BUFFER, 4);
  return out;
}

/**
 * Queues the AdamW uniforms for step `t` (`bound`: the update phase's
 * dispatches, the chunks' after the copy, and after the gradient check in
 * mixed precision, `half`, whose bias corrections come from the GPU's step
 * count instead), with each chunk's group's current hyper-parameters,
 * rounded as before (float64, then f32).
 */
export function writeUpdateUniforms(
  rt: GpuRuntime,
  plan: TrainPlan,
  bound: readonly { uniform: GPUBuffer }[],
  optimizer: AdamW,
  t: number,
  half = false,
): void {
  plan.chunks.forEach((chunk, i) => {
    const { lr, weightDecay, betas: [b1, b2], eps } = optimizer.paramGroups[chunk.group];
    if (half) {
      const s = { lr, weightDecay, beta1: b1, beta2: b2, eps };
      // After the copy and one gradient check per chunk.
      return rt.write(bound[1 + plan.chunks.length + i].uniform, ampAdamWUniform(chunk.len, s));
    }
    const s = {
      beta1: b1,
      beta2: b2,
      decay: 1 - lr * weightDecay,
      stepSize: lr / (1 - b1 ** t),
      bc2Sqrt: Math.sqrt(1 - b2 ** t),
      eps,
    };
    rt.write(bound[1 + i].uniform, guardedAdamWUniform(chunk.len, s));
  });
}
