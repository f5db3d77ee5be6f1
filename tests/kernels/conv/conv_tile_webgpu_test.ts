/**
 * The vec4 conv shader's wider register tiles (`cols: 2`, `threadRows`)
 * against its default 4x4 tile: each output sums the same products in the
 * same order whatever the tile, so the bits must be identical, in every
 * mode the training step and the engine use (forward with bias, ReLU and
 * residual over a concat, the flipped input gradient, its split form, split
 * K, f16 tiles, f16 maps), with and without double buffering (`prefetch`),
 * on shapes whose rows and channels do not fill the tiles. The same for the filter gradient's column groups (`gradCols`).
 */
import assert from "node:assert/strict";
import { GpuRuntime, mapRead } from "../../../lib/engines/gpu/gpu_runtime.ts";
import {
  type ConvShaderOptions,
  convShaderVec4,
  convTileN,
  convWideTile,
  convWorkgroup,
} from "../../../lib/kernels/conv/conv_wgsl.ts";
import { filterGradCalls } from "../../../lib/kernels/conv/conv_grad_webgpu.ts";
import { enterTuning } from "../../../lib/kernels/webgpu.ts";
import { standalone } from "../../../lib/kernels/wgsl_standalone.ts";
import { EXHAUSTIVE, f16OrSkip, noise, webgpuOrSkip } from "../../helpers.ts";

/** A conv case: the shape, the mode, and which bindings it declares. */
interface Case {
  name: string;
  options: ConvShaderOptions;
  /** `[n, h, w, c1, c2, co, dil]`. */
  shape: [number, number, number, number, number, number, number];
  /** Split K: K values a z-slice. */
  chunk?: number;
  /** Split: channels of the first output. */
  split?: number;
}

const CASES: Case[] = [
  { name: "forward over a concat", options: {}, shape: [2, 9, 13, 8, 12, 64, 2] },
  { name: "forward, 40 channels", options: {}, shape: [1, 9, 13, 8, 0, 40, 1] },
  { name: "forward, 16 channels", options: {}, shape: [1, 11, 7, 16, 0, 16, 1] },
  {
    name: "the flipped input gradient",
    options: { flipped: true },
    shape: [2, 7, 9, 24, 0, 20, 1],
  },
  {
    name: "split",
    options: { flipped: true, split: true },
    shape: [1, 9, 9, 32, 0, 36, 1],
    split: 12,
  },
  { name: "split K", options: { splitK: true }, shape: [1, 6, 7, 40, 0, 64, 1], chunk: 128 },
  { name: "f16 tiles", options: { tiles16: true }, shape: [2, 9, 10, 20, 8, 28, 1] },
];

/** Runs `code` for `c` with tile `tm` x `tn` and returns the raw output bits. */
async function run(rt: GpuRuntime, c: Case, code: string, tm: number, tn: number, half: boolean) {
  const [n, h, w, c1, c2, co, dil] = c.shape;
  const m = n * h * w, ci = c1 + c2, k = 9 * ci;
  const x = noise(m * c1, 1, 2), x2 = noise(m * Math.max(c2, 4), 2, 2);
  const wt = noise(k * co, 3, 0.3), bias = noise(Math.max(co, ci), 4), res = noise(m * co, 5);
  const store = (d: Float32Array) => {
    const bytes = half ? new Float16Array(d.length + (d.length % 2)) : new Float32Array(d);
    if (half) bytes.set(d);
    const b = rt.storage(Math.max(16, Math.ceil(bytes.byteLength / 16) * 16));
    rt.write(b, new Uint8Array(bytes.buffer));
    return b;
  };
  const zs = c.chunk ? Math.ceil(k / c.chunk) : 1;
  const oc = c.options.flipped ? ci : co; // a flipped conv's output channels are its input's
  const outLen = zs * m * oc * (half ? 0.5 : 1);
  const out = rt.storage(Math.max(16, 4 * Math.ceil(outLen / 4) * 4));
  const out2 = rt.storage(Math.max(16, 4 * m * oc));
  const f32 = (d: Float32Array) => {
    const b = rt.storage(Math.max(16, d.byteLength));
    rt.write(b, d as Float32Array<ArrayBuffer>);
    return b;
  };
  // Flipped: A is the output gradient (co channels), Wt the forward filter [3,3,co,ci].
  const a = c.options.flipped ? store(noise(m * co, 6, 2)) : store(x);
  const u = [m, h, w, c.options.flipped ? co : c1, c.options.flipped ? 0 : c2, oc, 3, dil];
  const uniform = new Int32Array([
    ...u,
    c.options.splitK ? 0 : 1,
    c.options.splitK || c.options.flipped ? 0 : 1,
    9 * (c.options.flipped ? co : ci),
    dil,
    ...(c.split ? [c.split] : c.chunk ? [c.chunk] : []),
    0,
    0,
    0,
  ]).buffer;
  const p = rt.pipeline(code, { label: "test" });
  const resources = [
    { buffer: out },
    { buffer: a },
    { buffer: store(x2) },
    c.options.splitK ? null : { buffer: store(res) },
    { buffer: half ? store(wt) : f32(wt) },
    c.options.splitK ? null : { buffer: f32(bias) },
    c.split ? { buffer: out2 } : { buffer: rt.uniform(uniform) },
    ...(c.split ? [{ buffer: rt.uniform(uniform) }] : []),
  ];
  const group = rt.bindGroup(p.layout, resources);
  const bytes = 4 * Math.ceil(outLen / 4) * 4;
  const rb = rt.readback(bytes), rb2 = rt.readback(4 * m * oc);
  rt.submit(rt.encode(
    [{
      label: "test",
      workgroups: [Math.ceil(oc / tn), Math.ceil(m / tm), zs],
      pipeline: p.pipeline,
      group,
    }],
    (e) => {
      e.copyBufferToBuffer(out, 0, rb, 0, bytes);
      e.copyBufferToBuffer(out2, 0, rb2, 0, 4 * m * oc);
    },
  ));
  const [o1, o2] = [await mapRead(rb), await mapRead(rb2)];
  if (!c.split) return [...new Uint32Array(o1.buffer)];
  // Split: the first output's m x split values, then the second's m x (oc - split).
  const part = (o: Float32Array, len: number) => [...new Uint32Array(o.buffer, 0, len)];
  return [...part(o1, m * c.split), ...part(o2, m * (oc - c.split))];
}

/** The default tile and the wide ones of a case: tm rows, tn = 64 (32 for narrow outputs). */
async function compare(rt: GpuRuntime, c: Case, half = false) {
  const oc = c.options.flipped ? c.shape[3] + c.shape[4] : c.shape[5];
  const tn = oc <= 16 ? 16 : oc <= 32 ? 32 : 64;
  const base = { unrolled: true, ...c.options, ...(half ? { half: true } : {}) };
  const want = await run(rt, c, convShaderVec4(64, tn, base), 64, tn, half);
  assert.ok(want.filter((v) => v !== 0).length > want.length / 2, "the conv ran");
  // The wide tiles the trainer and the engine use (convWideTile), with and without double
  // buffering, and double buffering on the 4x4 tile. Fast tier: the wide tile double-buffered
  // at 128 rows; everything at every height (32, 64, 128) for the first case and in the
  // exhaustive tier.
  const all = EXHAUSTIVE || c === CASES[0];
  const variants: [number, ConvShaderOptions][] = all
    ? [32, 64, 128].flatMap((tm) =>
      [false, true].map((prefetch): [number, ConvShaderOptions] => [tm, {
        ...convWideTile(8, tn),
        prefetch,
      }])
    ).concat([[64, { prefetch: true }]])
    : [[128, { ...convWideTile(8, tn), prefetch: true }]];
  for (const [tm, wide] of variants) {
    const got = await run(rt, c, convShaderVec4(tm, tn, { ...base, ...wide }), tm, tn, half);
    assert.equal(got.length, want.length);
    const diff = got.findIndex((v, i) => v !== want[i]);
    assert.equal(
      diff,
      -1,
      `${c.name}, ${tm} rows ${JSON.stringify(wide)}: first difference at ${diff}`,
    );
  }
}

for (const c of CASES) {
  Deno.test(`convShaderVec4() gives the 4x4 tile's bits with wider register tiles when ${c.name}`, async (t) => {
    if (!(await (c.options.tiles16 ? f16OrSkip(t) : webgpuOrSkip(t)))) return;
    const rt = await GpuRuntime.create({ who: "test" });
    try {
      await compare(rt, c);
    } finally {
      rt.destroy();
    }
  });
}

Deno.test("convShaderVec4() gives the 4x4 tile's bits with wider register tiles when maps are f16", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const rt = await GpuRuntime.create({ who: "test" });
  try {
    await compare(rt, { name: "f16 maps", options: {}, shape: [2, 8, 11, 24, 8, 44, 1] }, true);
  } finally {
    rt.destroy();
  }
});

Deno.test("convWorkgroup() sizes the threads of a tile and refuses what does not fit", () => {
  assert.deepEqual(convWorkgroup(64, 64), { rm: 4, wx: 16, wy: 16, cols: 1 });
  assert.deepEqual(convWorkgroup(128, 64, { threadRows: 8, cols: 2 }), {
    rm: 8,
    wx: 8,
    wy: 16,
    cols: 2,
  });
  assert.throws(() => convWorkgroup(64, 16, { threadRows: 3 }), RangeError);
  assert.throws(() => convWorkgroup(128, 64, { threadRows: 2 }), RangeError);
  assert.throws(() => convShaderVec4(64, 64, { cols: 2 }), RangeError, "looped");
  assert.throws(() => convShaderVec4(64, 64, { tfjs: true, unrolled: true, cols: 2 }), RangeError);
  assert.throws(() => convShaderVec4(64, 64, { prefetch: true }), RangeError, "looped");
});

/** The filter gradient's GEMM partials (raw bits) under the tuning `cols`, `rows`. */
async function filterGradBits(
  rt: GpuRuntime,
  shape: { x: number[]; c2: number; co: number; dil: number },
  tuning: { gradCols: 1 | 2; gradRows: 64 | 128; gradPrefetch?: boolean },
  half: boolean,
): Promise<Uint32Array> {
  const restore = enterTuning({ ...tuning, gradMinChunk: 64 });
  try {
    const [n, h, w] = shape.x, { c2, co } = shape;
    const { gemm } = filterGradCalls(shape.x, co, 3, 3, shape.dil, c2, half);
    const shapes = c2 ? [shape.x, [n, h, w, c2], [n, h, w, co]] : [shape.x, [n, h, w, co]];
    const p = standalone(gemm, shapes);
    const inputs = shapes.map((s, i) =>
      noise(s.reduce((a, b) => a * b, 1), 7 + i, i === shapes.length - 1 ? 0.1 : 2)
    );
    const size = gemm.spec.outputShape.reduce((a, b) => a * b, 1);
    const buffers = inputs.map((d) => {
      const b = rt.storage(Math.max(16, d.byteLength));
      rt.write(b, d as Float32Array<ArrayBuffer>);
      return { buffer: b };
    });
    const out = rt.storage(4 * size), rb = rt.readback(4 * size);
    const pl = rt.pipeline(p.code, { entry: "_start", label: "test" });
    const group = rt.bindGroup(pl.layout, [{ buffer: out }, ...buffers, {
      buffer: rt.uniform(p.uniform),
    }]);
    rt.submit(rt.encode(
      [{ label: "test", workgroups: p.workgroups, pipeline: pl.pipeline, group }],
      (e) => e.copyBufferToBuffer(out, 0, rb, 0, 4 * size),
    ));
    assert.equal(p.code.includes("enable f16;"), half);
    assert.equal(gemm.spec.workgroupSize[0], convTileN(co) / 4 / tuning.gradCols);
    assert.equal(/_p$/.test(gemm.spec.key), !!tuning.gradPrefetch);
    return new Uint32Array((await mapRead(rb)).buffer);
  } finally {
    restore();
  }
}

Deno.test("filterGradCalls() gives the one-group bits with two column groups a thread or double-buffered when split, a concat, 128 rows or f16", async (t) => {
  if (!(await f16OrSkip(t))) return;
  const rt = await GpuRuntime.create({ who: "test" });
  try {
    const shapes = [
      { x: [2, 9, 11, 24], c2: 0, co: 64, dil: 1 },
      { x: [1, 10, 9, 16], c2: 8, co: 40, dil: 2 },
      { x: [2, 7, 7, 12], c2: 0, co: 16, dil: 1 },
      { x: [1, 12, 10, 32], c2: 16, co: 28, dil: 1 },
    ];
    // Each shape in one of the four (precision, rows) pairs (all four in the exhaustive tier).
    const pairs: [boolean, 64 | 128][] = [[false, 64], [true, 128], [false, 128], [true, 64]];
    for (const [s, shape] of shapes.entries()) {
      for (const [half, gradRows] of EXHAUSTIVE ? pairs : [pairs[s % 4]]) {
        const want = await filterGradBits(rt, shape, { gradCols: 1, gradRows }, half);
        assert.ok(want.filter((v) => v !== 0).length > want.length / 2, "the gradient ran");
        // Two column groups, double buffering, both (fast tier: both everywhere, the others
        // on the first shapes).
        const variants = [
          { gradCols: 2 as const, gradPrefetch: true },
          ...(EXHAUSTIVE || s < 2 ? [{ gradCols: 2 as const }] : []),
          ...(EXHAUSTIVE || s < 1 ? [{ gradCols: 1 as const, gradPrefetch: true }] : []),
        ];
        for (const v of variants) {
          const got = await filterGradBits(rt, shape, { ...v, gradRows }, half);
          const diff = got.findIndex((x, i) => x !== want[i]);
          const what = `${JSON.stringify(shape)} ${gradRows} rows, half ${half}, ${
            JSON.stringify(v)
          }`;
          assert.equal(diff, -1, `${what}: at ${diff}`);
        }
      }
    }
  } finally {
    rt.destroy();
  }
});
