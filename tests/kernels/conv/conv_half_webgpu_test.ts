/**
 * The GEMM kernels with f16 tiles (mixed-precision training) against their
 * f32 selves on random data: the conv, its input gradient (flipped filter,
 * one or two outputs) and the filter gradient, on a software or hardware
 * adapter with `shader-f16`. f16 rounds each value once (2^-11 relative)
 * and sums 16 products at a time in f16: a relative L2 error of about 1e-3.
 */
import assert from "node:assert/strict";
import { GpuRuntime, mapRead } from "../../../lib/engines/gpu/gpu_runtime.ts";
import { convShaderVec4 } from "../../../lib/kernels/conv/conv_wgsl.ts";
import { filterGradCalls } from "../../../lib/kernels/conv/conv_grad_webgpu.ts";
import { standalone } from "../../../lib/kernels/wgsl_standalone.ts";

/** A runtime with `shader-f16`, or undefined (a step says why) where there is none. */
async function f16Runtime(t: Deno.TestContext): Promise<GpuRuntime | undefined> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter?.features.has("shader-f16")) {
    await t.step({ name: "no WebGPU adapter with shader-f16 here", ignore: true, fn() {} });
    return undefined;
  }
  return await GpuRuntime.create({ who: "test" });
}

/** Deterministic values in [-s, s). */
function noise(n: number, seed: number, s = 1): Float32Array {
  return new Float32Array(n).map((_, i) =>
    s * (2 * ((Math.sin(i * 12.9898 + seed) * 43758.5453) % 1) - 1) / 1
  );
}

function relL2(a: Float32Array, b: Float32Array): number {
  let [d, n] = [0, 0];
  for (let i = 0; i < a.length; i++) [d, n] = [d + (a[i] - b[i]) ** 2, n + b[i] ** 2];
  return Math.sqrt(d / n);
}

/** Runs one dispatch of `code` on `inputs` (bound after the output) and reads `outLen` values. */
async function dispatch(
  rt: GpuRuntime,
  code: string,
  io: { out: number; inputs: Float32Array[]; uniform: ArrayBuffer; groups: number[] },
  entry = "main",
): Promise<Float32Array> {
  const buf = (d: Float32Array) => {
    const b = rt.storage(Math.max(16, d.byteLength));
    rt.write(b, d as Float32Array<ArrayBuffer>);
    return b;
  };
  const out = rt.storage(4 * io.out);
  const p = rt.pipeline(code, { entry, label: "test" });
  const group = rt.bindGroup(p.layout, [
    { buffer: out },
    ...io.inputs.map((d) => ({ buffer: buf(d) })),
    { buffer: rt.uniform(io.uniform) },
  ]);
  const rb = rt.readback(4 * io.out);
  rt.submit(rt.encode(
    [{ label: "test", workgroups: io.groups, pipeline: p.pipeline, group }],
    (e) => e.copyBufferToBuffer(out, 0, rb, 0, 4 * io.out),
  ));
  return await mapRead(rb);
}

Deno.test("convShaderVec4() with f16 tiles stays within 1e-3 of f32 when forward or flipped", async (t) => {
  const rt = await f16Runtime(t);
  if (!rt) return;
  try {
    const [n, h, w, c, co, dil] = [2, 13, 11, 24, 32, 2];
    const m = n * h * w, k = 9 * c;
    const x = noise(m * c, 1, 3), wt = noise(k * co, 2, 0.2), bias = noise(co, 3);
    for (const flipped of [false, true]) {
      const outs: Float32Array[] = [];
      for (const tiles16 of [false, true]) {
        // Flipped: wt read as the forward filter [3,3,co,c] of a conv co → c (the same values).
        const code = convShaderVec4(64, 32, { unrolled: true, flipped, tiles16 });
        const uniform = new Int32Array([m, h, w, c, 0, co, 3, dil, 1, 0, k, dil]).buffer;
        const inputs = [x, x, x, wt, bias];
        const groups = [Math.ceil(co / 32), Math.ceil(m / 64)];
        outs.push(await dispatch(rt, code, { out: m * co, inputs, uniform, groups }));
      }
      const err = relL2(outs[1], outs[0]);
      if (Deno.env.get("U2NET_TEST_VERBOSE")) console.log({ err });
      assert.ok(err > 0 && err < 1e-3, `flipped ${flipped}: relative error ${err}`);
    }
    // A value past f16's range becomes infinite in the tile (what the loss scaling detects).
    const big = x.map((v, i) => (i === 5 ? 1e6 : v));
    const code = convShaderVec4(64, 32, { unrolled: true, tiles16: true });
    const uniform = new Int32Array([m, h, w, c, 0, co, 3, dil, 0, 0, k, dil]).buffer;
    const out = await dispatch(rt, code, {
      out: m * co,
      inputs: [big, big, big, wt, bias],
      uniform,
      groups: [1, Math.ceil(m / 64)],
    });
    assert.ok(out.some((v) => !Number.isFinite(v)), "an f16 overflow shows");
  } finally {
    rt.destroy();
  }
});

Deno.test("filterGradCalls() with f16 tiles stays within 1e-3 of f32 when split or a concat", async (t) => {
  const rt = await f16Runtime(t);
  if (!rt) return;
  try {
    const [n, h, w, c1, c2, co] = [2, 24, 20, 16, 8, 32];
    const x = noise(n * h * w * c1, 4, 2), x2 = noise(n * h * w * c2, 5, 2);
    const dy = noise(n * h * w * co, 6, 0.01);
    for (const concat of [false, true]) {
      const outs: Float32Array[] = [];
      for (const half of [false, true]) {
        const xs = [n, h, w, c1], cc = concat ? c2 : 0;
        const { gemm } = filterGradCalls(xs, co, 3, 3, 1, cc, half);
        const shapes = concat ? [xs, [n, h, w, c2], [n, h, w, co]] : [xs, [n, h, w, co]];
        const p = standalone(gemm, shapes);
        const size = gemm.spec.outputShape.reduce((a, b) => a * b, 1);
        const inputs = concat ? [x, x2, dy] : [x, dy];
        outs.push(
          await dispatch(rt, p.code, {
            out: size,
            inputs,
            uniform: p.uniform,
            groups: p.workgroups,
          }, "_start"),
        );
        assert.equal(p.code.includes("enable f16;"), half);
      }
      const err = relL2(outs[1], outs[0]);
      if (Deno.env.get("U2NET_TEST_VERBOSE")) console.log({ err });
      assert.ok(err > 0 && err < 1e-3, `concat ${concat}: relative error ${err}`);
    }
  } finally {
    rt.destroy();
  }
});
