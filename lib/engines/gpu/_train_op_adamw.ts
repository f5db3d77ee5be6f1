/**
 * The AdamW update of the training-step planner: per chunk of one optimizer
 * group, the moments dispatch then the parameter dispatch (a second pass,
 * after the loss is known to be finite), their uniforms rewritten every
 * step with the step's scalars ({@linkcode adamUniform}).
 *
 * @module
 */
import { standalone } from "../../kernels/wgsl_standalone.ts";
import { type AdamWStepScalars, momentsCall, paramCall } from "../../kernels/adamw/adamw_webgpu.ts";
import type { Seg, TrainDispatch, TrainPlanBuilder } from "./trainer_builder.ts";

/** The standalone AdamW program of `n` values for one step's scalars. */
function adamProgram(kind: "moments" | "param", n: number, s: AdamWStepScalars) {
  const call = kind === "moments" ? momentsCall(n, s) : paramCall([n], s);
  return standalone(call, kind === "moments" ? [[2 * n], [n]] : [[n], [2 * n]]);
}

/** Uniform bytes of an AdamW dispatch of `n` values for this step's scalars. */
export function adamUniform(
  kind: "moments" | "param",
  n: number,
  s: AdamWStepScalars,
): ArrayBuffer {
  return adamProgram(kind, n, s).uniform;
}

/** One AdamW dispatch of chunk `chunk` (`n` values). */
function adamDispatch(
  kind: "moments" | "param",
  chunk: number,
  n: number,
  bindings: Seg[],
  s: AdamWStepScalars,
): TrainDispatch {
  const p = adamProgram(kind, n, s);
  return {
    code: p.code,
    entry: "_start",
    bindings,
    uniform: p.uniform,
    workgroups: p.workgroups,
    label: `adamw.${kind}`,
    adam: { chunk, kind, n },
  };
}

/** The AdamW dispatches of every chunk (declares the moments buffers `mv<i>`, `mvNext<i>`). */
export function planAdamW(b: TrainPlanBuilder): TrainDispatch[] {
  const optimizer: TrainDispatch[] = [];
  const scalars = { beta1: 0.9, beta2: 0.999, decay: 1, stepSize: 0, bc2Sqrt: 1, eps: 1e-8 };
  b.chunks.forEach((c, i) => {
    const mv = { buf: `mv${i}`, off: 0, len: 2 * c.len };
    const next = { ...mv, buf: `mvNext${i}` };
    const grads = { buf: "grads", off: c.off, len: c.len };
    const params = { buf: "params", off: c.off, len: c.len };
    b.buffer(mv.buf, mv.len);
    b.buffer(next.buf, mv.len);
    optimizer.push(adamDispatch("moments", i, c.len, [next, mv, grads], scalars));
    optimizer.push(
      adamDispatch("param", i, c.len, [{ ...params, buf: "paramsNext" }, params, next], scalars),
    );
  });
  return optimizer;
}
