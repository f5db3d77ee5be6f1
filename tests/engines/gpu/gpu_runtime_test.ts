import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { GpuRuntime, mapRead } from "../../../lib/engines/gpu/gpu_runtime.ts";
import { testBackends } from "../../helpers.ts";

const DOUBLE = `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  y[id.x] = 2.0 * x[id.x];
}`;

/** A runtime on its own device, or null (with an ignored step) without WebGPU. */
async function runtimeOrSkip(t: Deno.TestContext): Promise<GpuRuntime | null> {
  if (!(await testBackends()).includes("webgpu")) {
    await t.step({ name: "no WebGPU adapter here", ignore: true, fn() {} });
    return null;
  }
  return await GpuRuntime.create({ who: "the runtime test" });
}

Deno.test("GpuRuntime records a dispatch, submits it and reads it back when given trivial WGSL", async (t) => {
  const rt = await runtimeOrSkip(t);
  if (!rt) return;
  try {
    const x = rt.storage(16), y = rt.storage(16), back = rt.readback(16);
    rt.write(x, new Float32Array([1, 2, 3, -4]));
    const { pipeline, layout } = rt.pipeline(DOUBLE, { label: "double" });
    const group = rt.bindGroup(layout, [{ buffer: y }, { buffer: x }]);
    const list = [{ label: "double", workgroups: [1], pipeline, group }];
    rt.submit(rt.encode(list, (e) => e.copyBufferToBuffer(y, 0, back, 0, 16)));
    assertEquals([...await mapRead(back)], [2, 4, 6, -8]);
    assertEquals([...await rt.read(y)], [2, 4, 6, -8]);
    assertEquals(rt.buffers, 3); // read()'s staging buffer is freed at once
    // An explicit layout (the output read-write, the input read-only), input y.
    const bindings: GPUBufferBindingType[] = ["storage", "read-only-storage"];
    const p = rt.pipeline(DOUBLE, { bindings });
    const again = { label: "double", workgroups: [1, 1, 1], pipeline: p.pipeline };
    const swapped = rt.bindGroup(p.layout, [{ buffer: x }, { buffer: y, offset: 0, size: 16 }]);
    rt.submit(rt.encode([{ ...again, group: swapped }]));
    assertEquals([...await rt.read(x)], [4, 8, 12, -16]);
    const ms = await rt.time(list);
    assert(ms.length === 1 && ms[0] >= 0, `${ms}`);
  } finally {
    rt.destroy();
  }
});

Deno.test("GpuRuntime.pipeline() compiles once per source, entry and layout when asked again", async (t) => {
  const rt = await runtimeOrSkip(t);
  if (!rt) return;
  try {
    const a = rt.pipeline(DOUBLE);
    assert(rt.pipeline(DOUBLE, { label: "again" }) === a);
    assertEquals(rt.pipelines, 1);
    const bindings: GPUBufferBindingType[] = ["storage", "read-only-storage"];
    const explicit = rt.pipeline(DOUBLE, { bindings });
    assert(explicit !== a && rt.pipeline(DOUBLE, { bindings }) === explicit);
    assert(rt.pipeline(DOUBLE.replace("2.0", "3.0")) !== a);
    assertEquals(rt.pipelines, 3);
  } finally {
    rt.destroy();
  }
});

Deno.test("GpuRuntime.destroy() frees its buffers, keeps a lent device and destroys its own", async (t) => {
  const own = await runtimeOrSkip(t);
  if (!own) return;
  const lent = new GpuRuntime(own.device);
  const buffer = lent.readback(16);
  lent.storage(64);
  assertEquals(lent.buffers, 2);
  lent.destroy();
  lent.destroy(); // twice is fine
  assert(lent.destroyed);
  assertEquals(lent.buffers, 0);
  await assertRejects(() => buffer.mapAsync(GPUMapMode.READ), Error);
  // The lent device still works.
  const y = own.storage(16);
  own.write(y, new Float32Array([5, 6, 7, 8]));
  assertEquals([...await own.read(y)], [5, 6, 7, 8]);
  own.destroy();
  assertEquals(own.buffers, 0);
  const lost = await own.device.lost;
  assertEquals(lost.reason, "destroyed");
});
