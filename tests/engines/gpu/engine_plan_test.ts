import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { HALF_LITE } from "../../helpers.ts";
import {
  type EnginePlan,
  planEngine,
  type PlanEngineOptions,
} from "../../../lib/engines/gpu/engine_plan.ts";
import {
  configFromWidths,
  U2NET_FULL,
  U2NET_LITE,
  type U2NetConfig,
} from "../../../lib/net/config.ts";
import { fuseLayers, graphSummary } from "../../../lib/net/graph_passes.ts";
import { traceGraph } from "../../../lib/net/graph.ts";

const LITE_STAGES = U2NET_LITE.encoder.concat(U2NET_LITE.decoder);
/** Lite at half width. */
const HALF = HALF_LITE;
/** Widths that are not multiples of 4: scalar convs, side convs on the conv shader. */
const oddOut = (i: number) => LITE_STAGES[i].outCh / 2 + 2;
const ODD = configFromWidths(LITE_STAGES.map((s, i) => ({
  inCh: i === 0 ? 3 : i < 6 ? oddOut(i - 1) : oddOut(i - 1) + oddOut(10 - i),
  midCh: s.midCh / 2 + 1,
  outCh: oddOut(i),
})));
const CONFIGS: Record<string, U2NetConfig> = {
  lite: U2NET_LITE,
  full: U2NET_FULL,
  half: HALF,
  odd: ODD,
};

/** sha256 of `JSON.stringify(plan)` from the stage-walk planner (before the graph lowering). */
const PINNED: [string, [number, number, number], PlanEngineOptions, string][] = [
  ["lite", [1, 320, 320], {}, "14e7c96051508192baa7e58e154f8605c36f61e7ab88b5ce28096b1f57097b9f"],
  [
    "lite",
    [2, 37, 45],
    { splitTarget: 256 },
    "2365826cbad36684d7be256345e0b3b56d7d41f8236f94fb87d9a570394b1976",
  ],
  [
    "full",
    [1, 64, 64],
    { tileRows: 128 },
    "5d3abb12caeb658392f1e2d35124cb5ffd95354a8c0343d7b1c7208b669cb60a",
  ],
  [
    "full",
    [1, 320, 320],
    { splitTarget: 256 },
    "96c7b573d174acd4a73da75ebc7d504911769983df47c7301b126a4c1cc153d2",
  ],
  [
    "half",
    [3, 17, 29],
    { unrolled: false },
    "f0d93e53f529d973966688623cf38dd687a0b830c70770120bfbcb63450a7aaa",
  ],
  ["half", [1, 320, 320], {}, "fc0987aedbfeb1bfb5827b9524911b117e64de4e91bf8bf397a09841615073f6"],
  ["odd", [2, 37, 45], {}, "fdce4fb8bf0d9727fe89c303ebefd0ec731d7fb640053b8ec1ab4cf99aa67ee3"],
  ["lite", [1, 1, 1], {}, "0be257abd70c238114f276fdc9eee7f288833e5f38c4c2b38d373a157ed8ea38"],
];

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const shaders = (plan: EnginePlan, name: string) =>
  plan.steps.filter((s) => s.shader === name).length;

for (const [name, shape, options, hash] of PINNED) {
  Deno.test(
    `planEngine() gives the same plan as the stage-walk planner when ${name} at ${
      shape.join("x")
    } with ${JSON.stringify(options)}`,
    async () => {
      assertEquals(await sha256(JSON.stringify(planEngine(CONFIGS[name], shape, options))), hash);
    },
  );
}

Deno.test("planEngine() ends in one fuse step over six side steps when planned for lite", () => {
  const plan = planEngine(U2NET_LITE, [2, 37, 45]);
  assertEquals(shaders(plan, "fuse"), 1);
  assertEquals(shaders(plan, "side"), 6);
  const fuse = plan.steps.at(-1)!;
  assertEquals(fuse.shader, "fuse");
  assertEquals(fuse.bindings.length, 7);
  assertEquals(fuse.bindings[0], plan.output.buf);
  assertEquals(plan.output, { buf: plan.output.buf, n: 2, h: 37, w: 45, c: 1 });
  assertEquals(plan.buffers[0], 2 * 37 * 45 * 3);
});

Deno.test("planEngine() dispatches one conv per fused graph conv when not split", () => {
  for (const config of [U2NET_LITE, U2NET_FULL, ODD]) {
    const convs = graphSummary(fuseLayers(traceGraph(config, { batchNorm: false }))).conv;
    const plan = planEngine(config, [1, 64, 64]);
    const dispatched = plan.steps.filter((s) => s.shader.startsWith("conv") || s.shader === "side");
    assertEquals(dispatched.length, convs - 1); // out_conv is the fuse step
    assertEquals(shaders(plan, "splitsum"), 0);
  }
});

Deno.test("planEngine() runs side convs on the conv shader when their channels are not quads", () => {
  const plan = planEngine(ODD, [1, 32, 32]);
  assertEquals(shaders(plan, "side"), 0);
  assertEquals(shaders(plan, "fuse"), 1);
});

Deno.test("planEngine() skips the identity resizes when the input is 1x1", () => {
  const plan = planEngine(U2NET_LITE, [1, 1, 1]);
  assertEquals(shaders(plan, "resize"), 0);
  assert(shaders(plan, "pool") > 0);
});

Deno.test("planEngine() throws when the config has no side outputs to fuse", () => {
  const noSide = { ...U2NET_LITE, encoder: U2NET_LITE.encoder.map((s) => ({ ...s, side: false })) };
  assertThrows(() => planEngine(noSide, [1, 8, 8]), RangeError, "5 side outputs");
});
