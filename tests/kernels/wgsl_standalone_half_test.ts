/**
 * The training step's tfjs-form programs on f16 maps (`standalone()` with
 * `types`): an f16 input holds exactly the f16 rounding of the f32 run's
 * input, and the program widens it before any arithmetic, so an f32 output
 * must equal the f32 program's on the rounded values and an f16 output must
 * be that result rounded once. Run on a software or hardware adapter with
 * `shader-f16`; the rewrite itself is checked on the WGSL text first.
 */
import assert from "node:assert/strict";
import { GpuRuntime, mapRead } from "../../lib/engines/gpu/gpu_runtime.ts";
import { standalone } from "../../lib/kernels/wgsl_standalone.ts";
import type { WgslCall } from "../../lib/kernels/webgpu.ts";
import { flatCall, partialCall } from "../../lib/kernels/bn/bn_webgpu_kernels.ts";
import { poolGradCall, sliceAddCall } from "../../lib/kernels/trainer_wgsl.ts";
import { filterGradCalls } from "../../lib/kernels/conv/conv_grad_webgpu.ts";
import { f16OrSkip, noise } from "../helpers.ts";

Deno.test("standalone() widens f16 reads and rounds f16 stores when given types", () => {
  const call = sliceAddCall([2, 3, 4, 8], 0, true);
  const shapes = [[2, 3, 4, 8], [2, 3, 4, 8]];
  const f32 = standalone(call, shapes);
  assert.ok(!f32.code.includes("f16"));
  assert.deepEqual(standalone(call, shapes, {}), f32, "no types: the f32 program");
  const half = standalone(call, shapes, { halfInputs: [true, false], halfOutput: true });
  assert.match(half.code, /^enable f16;/);
  assert.match(half.code, /var<storage, read> G_h : array<f16>/);
  assert.match(half.code, /var<storage, read> R : array<f32>/);
  assert.match(half.code, /var<storage, read_write> result_h : array<f16>/);
  assert.match(half.code, /f32\(G_h\[m \* uniforms\.gShape\.w \+ uniforms\.off \+ c\]\)/);
  assert.match(half.code, /result_h\[index\] = f16\(clamp\(v, -65504\.0, 65504\.0\)\);/);
  assert.ok(!/\bG\[/.test(half.code), "every read of G widened");
  // A vec4 input (the filter gradient's x) widens to vec4<f32>.
  const { gemm } = filterGradCalls([2, 8, 8, 16], 32, 3, 3, 1, 0, true);
  const fg = standalone(gemm, [[2, 8, 8, 16], [2, 8, 8, 32]], { halfInputs: [true, false] });
  assert.match(fg.code, /var<storage, read> x_h : array<vec4<f16>>/);
  assert.match(fg.code, /vec4<f32>\(x_h\[/);
  assert.equal(fg.code.match(/enable f16;/g)?.length, 1, "one enable directive");
});

Deno.test("standalone() refuses an f16 output that the program reads back", () => {
  const call: WgslCall = {
    spec: {
      key: "readsBack",
      outputShape: [4],
      inputs: ["x"],
      workgroupSize: [64, 1, 1],
      code: `fn main(index : i32) {
  if (index < uniforms.size) { result[index] = x[index]; result[index] += 1.0; }
}`,
    },
    uniforms: [],
  };
  assert.throws(() => standalone(call, [[4]], { halfOutput: true }), RangeError);
});

/** One input: its f32 values, stored in f16 or not. */
interface In {
  data: Float32Array;
  half?: boolean;
}

/** A program with its inputs' shapes. */
interface Shaped {
  call: WgslCall;
  shapes: number[][];
}

/** Runs `p` standalone on `inputs` and reads its output (`half`: stored in f16). */
async function run(rt: GpuRuntime, s: Shaped, inputs: In[], half = false): Promise<Float32Array> {
  const { call, shapes } = s;
  const halfInputs = inputs.map((i) => i.half ?? false);
  const p = standalone(call, shapes, { halfInputs, halfOutput: half });
  const size = call.spec.outputShape.reduce((a, b) => a * b, 1);
  const bytes = (d: Float32Array, h?: boolean) => {
    const b = h ? new Float16Array(d.length + (d.length % 2)) : new Float32Array(d.length);
    b.set(d);
    return new Uint8Array(b.buffer);
  };
  const buffers = inputs.map((i) => {
    const d = bytes(i.data, i.half);
    const b = rt.storage(Math.max(16, Math.ceil(d.byteLength / 16) * 16));
    rt.write(b, d);
    return b;
  });
  const outBytes = Math.max(16, Math.ceil((half ? 2 : 4) * size / 16) * 16);
  const out = rt.storage(outBytes);
  const pl = rt.pipeline(p.code, { entry: "_start", label: "test" });
  const group = rt.bindGroup(pl.layout, [
    { buffer: out },
    ...buffers.map((buffer) => ({ buffer })),
    { buffer: rt.uniform(p.uniform) },
  ]);
  const rb = rt.readback(outBytes);
  rt.submit(rt.encode(
    [{ label: "test", workgroups: p.workgroups, pipeline: pl.pipeline, group }],
    (e) => e.copyBufferToBuffer(out, 0, rb, 0, outBytes),
  ));
  const raw = await mapRead(rb);
  return half ? Float32Array.from(new Float16Array(raw.buffer, 0, size)) : raw.slice(0, size);
}

/** `x` rounded to f16 (what an f16 map of it holds). */
const rounded = (x: Float32Array) => Float32Array.from(Float16Array.from(x));

/** Within `tol` of the largest magnitude of `want`, value by value. */
function near(got: Float32Array, want: Float32Array, tol: number, what: string) {
  assert.equal(got.length, want.length);
  const scale = Math.max(...want.map(Math.abs));
  let worst = 0;
  want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i] - w))));
  assert.ok(worst <= tol * scale, `${what}: off by ${worst} (of ${scale})`);
}

Deno.test("the training step's programs on f16 maps match their f32 selves on the rounded values", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const rt = await GpuRuntime.create({ who: "test" });
  try {
    const [n, h, w, c] = [2, 5, 7, 12], size = n * h * w * c, rows = size / c;
    const x = rounded(noise(size, 1, 3)), y = rounded(noise(size, 2, 3)), dy = noise(size, 3);
    const stats = new Float32Array([...noise(c, 4, 0.5), ...noise(c, 5, 0.5).map((v) => 1 + v)]);
    const gamma = noise(c, 6), beta = noise(c, 7);
    const shaped = (call: WgslCall, shapes: number[][]): Shaped => ({ call, shapes });
    const map = [n, h, w, c];

    // f16 in, f16 out: the f32 result rounded once (f16 conversions may round either way: 1 ulp).
    const norm = shaped(flatCall("normRelu", map), [map, [2, c], [c], [c]]);
    const want = await run(rt, norm, [{ data: x }, { data: stats }, { data: gamma }, {
      data: beta,
    }]);
    const got = await run(rt, norm, [{ data: x, half: true }, { data: stats }, { data: gamma }, {
      data: beta,
    }], true);
    near(got, rounded(want), 2 ** -10, "bn.normRelu");

    const add = shaped(sliceAddCall(map, 0, true), [map, map]);
    near(
      await run(rt, add, [{ data: x, half: true }, { data: y, half: true }], true),
      rounded(await run(rt, add, [{ data: x }, { data: y }])),
      2 ** -10,
      "add",
    );

    // f16 in, f32 out: the same values into the same arithmetic.
    const exact = 1e-7;
    const grad = shaped(partialCall("grad", rows, c), [map, map, map, [2, c]]);
    near(
      await run(rt, grad, [{ data: dy }, { data: y, half: true }, { data: x, half: true }, {
        data: stats,
      }]),
      await run(rt, grad, [{ data: dy }, { data: y }, { data: x }, { data: stats }]),
      exact,
      "bn.gradPartial",
    );
    const moments = shaped(partialCall("moments", rows, c), [map]);
    near(
      await run(rt, moments, [{ data: x, half: true }]),
      await run(rt, moments, [{ data: x }]),
      exact,
      "bn.moments",
    );
    const dxIn = [dy, y, x, stats, gamma, noise(2 * c, 8)];
    const dx = shaped(flatCall("dxSums", map, c), [map, map, map, [2, c], [c], [2 * c]]);
    near(
      await run(rt, dx, dxIn.map((data, i) => ({ data, half: i === 1 || i === 2 }))),
      await run(rt, dx, dxIn.map((data) => ({ data }))),
      exact,
      "bn.dx",
    );
    const pooled = [n, Math.ceil(h / 2), Math.ceil(w / 2), c];
    const dp = noise(pooled.reduce((a, b) => a * b, 1), 9);
    const pool = shaped(poolGradCall(map), [pooled, map]);
    near(
      await run(rt, pool, [{ data: dp }, { data: x, half: true }]),
      await run(rt, pool, [{ data: dp }, { data: x }]),
      exact,
      "pool.grad",
    );
    // The filter gradient of a concat (vec4 reads of both parts), f16 tiles either way.
    const [c2, co] = [8, 16], x2 = rounded(noise(n * h * w * c2, 10, 2));
    const dyc = noise(n * h * w * co, 11, 0.1);
    const { gemm } = filterGradCalls(map, co, 3, 3, 1, c2, true);
    const fg = shaped(gemm, [map, [n, h, w, c2], [n, h, w, co]]);
    near(
      await run(rt, fg, [{ data: x, half: true }, { data: x2, half: true }, { data: dyc }]),
      await run(rt, fg, [{ data: x }, { data: x2 }, { data: dyc }]),
      exact,
      "conv.filterGrad",
    );
  } finally {
    rt.destroy();
  }
});
