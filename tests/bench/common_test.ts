import { assertEquals, assertThrows } from "../assert.ts";
import { applyTiling, median, modelList, numberList, timeRuns } from "../../bench/common.ts";
import { GEMM_SWEEP, GEMM_VARIANTS, gemmName, gemmShader } from "../../bench/gemm_bench.ts";
import { currentTuning, enterTuning } from "../../lib/kernels/webgpu.ts";
import { groupKernels, shapeKey } from "../../bench/profile.ts";
import { forwardWorkload } from "../../bench/forward_bench.ts";

Deno.test("median() takes the middle value or the mean of the two middle ones", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 2.5);
});

Deno.test("numberList() and modelList() reject what the benchmarks cannot run", () => {
  assertEquals(numberList("1, 8", "batches"), [1, 8]);
  assertThrows(() => numberList("1,x", "batches"), RangeError);
  assertThrows(() => numberList("0", "batches"), RangeError);
  assertEquals(modelList("lite,full"), ["lite", "full"]);
  assertThrows(() => modelList("lite,huge"), RangeError);
});

Deno.test("forwardWorkload() names batch 1 infer, larger batches throughput and overlapping calls pipelined", () => {
  assertEquals(forwardWorkload("lite", 1, 320), "infer_lite_b1_320");
  assertEquals(forwardWorkload("full", 8, 320), "throughput_full_b8_320");
  assertEquals(forwardWorkload("lite", 1, 320, 8), "pipelined_lite_b1_320");
});

Deno.test("timeRuns() runs warm-ups untimed and stops at the time budget", async () => {
  let calls = 0;
  const seen: boolean[] = [];
  const cpu: number[] = [];
  const times = await timeRuns(async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
  }, { warmup: 2, runs: 50, maxSeconds: 0.001, cpu, onRun: (_, w) => seen.push(w) });
  assertEquals([times.length, calls, cpu.length], [1, 3, 1]);
  assertEquals(seen, [true, true, false]);
});

Deno.test("groupKernels() sums kernel times by key, heaviest first", () => {
  const k = (name: string, ms: number, shape = [1, 2]) => ({
    name,
    inputShapes: [shape],
    outputShapes: [shape],
    kernelTimeMs: ms,
  });
  const ks = [k("Add", 1), k("Conv2D", 5), k("Add", 2, [3]), k("Bad", 0)];
  assertEquals(groupKernels(ks, (x) => x.name), [
    { name: "Conv2D", calls: 1, total_ms: 5 },
    { name: "Add", calls: 2, total_ms: 3 },
    { name: "Bad", calls: 1, total_ms: 0 },
  ]);
  assertEquals(shapeKey(ks[0]), "Add [1,2] -> [1,2]");
});

Deno.test("applyTiling() sets the kernels' tuning and rejects unknown parts", () => {
  const saved = currentTuning();
  try {
    assertEquals(applyTiling(""), "conv64,grad64,wg2048");
    assertEquals(applyTiling("grad128, gradlooped,wg512"), "conv64,grad128,gradlooped,wg512");
    assertEquals(currentTuning().gradRows, 128);
    assertEquals(applyTiling("looped"), "conv64,convlooped,grad128,gradlooped,wg512");
    assertEquals(applyTiling("convunrolled"), "conv64,grad128,gradlooped,wg512");
    assertEquals(applyTiling("unrolled,conv128"), "conv128,grad128,wg512");
    assertEquals(currentTuning().convRows, 128);
    assertEquals(applyTiling("scalarlooped"), "conv128,grad128,wg512,scalarlooped");
    assertEquals(applyTiling("regs8"), "conv128,regs8,grad128,wg512,scalarlooped");
    assertEquals(currentTuning().convRegs, 8);
    assertEquals(applyTiling("gradcols2"), "conv128,regs8,grad128,gradcols2,wg512,scalarlooped");
    assertThrows(() => applyTiling("grad96"), RangeError);
    assertThrows(() => applyTiling("regs6"), RangeError);
    assertEquals(
      applyTiling("prefetch"),
      "conv128,regs8,prefetch,grad128,gradcols2,wg512,scalarlooped",
    );
    assertEquals(
      applyTiling("gradprefetch"),
      "conv128,regs8,prefetch,grad128,gradcols2,gradprefetch,wg512,scalarlooped",
    );
    assertThrows(() => applyTiling("prefetch2"), RangeError);
  } finally {
    enterTuning(saved);
  }
});

Deno.test("gemmShader() writes every variant's tile and style", () => {
  assertEquals(GEMM_VARIANTS.length, 6);
  for (const v of GEMM_VARIANTS) {
    const code = gemmShader(v);
    assertEquals(code.includes("var acc"), !v.unroll, JSON.stringify(v));
    assertEquals(code.includes(`var<workgroup> As : array<vec4<f32>, ${4 * v.tm}>`), true);
  }
});

Deno.test("gemmShader() steps k by the sweep's ks and names it", () => {
  for (const v of GEMM_SWEEP) {
    const ks = v.ks ?? 16;
    const code = gemmShader(v);
    assertEquals(code.includes(`var<workgroup> As : array<vec4<f32>, ${(ks * v.tm) / 4}>`), true);
    assertEquals(code.includes(`k0 += ${ks})`), true, gemmName(v));
    assertEquals(gemmName(v).includes("_k"), ks !== 16, gemmName(v));
  }
});
