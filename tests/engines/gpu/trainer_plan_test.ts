import { assertEquals } from "../../assert.ts";
import { HALF_LITE } from "../../helpers.ts";
import { planTrainer, type TrainPlan } from "../../../lib/engines/gpu/trainer_plan.ts";
import { U2NET_FULL, U2NET_LITE, type U2NetConfig } from "../../../lib/net/config.ts";
import { stateDictSpec } from "../../../lib/net/state_dict.ts";
import { isNoDecayParam } from "../../../lib/optim/params_groups.ts";

/** Lite at half width. */
const HALF = HALF_LITE;

/**
 * The trainable parameters as `GpuTrainer.create` lists them: the model's
 * parameters in order (HWIO filters), split by `getParamsGroups`' rule.
 */
function paramsOf(config: U2NetConfig, convBias: boolean) {
  return stateDictSpec(config, { convBias, batchNorm: true })
    .filter((e) => e.role === "param")
    .map((e) => {
      const s = e.shape;
      const shape = s.length === 4 ? [s[2], s[3], s[1], s[0]] : s;
      return { key: e.key, shape, group: isNoDecayParam(e.key, s.length) ? 0 : 1 };
    });
}

/** The whole plan as JSON (maps as entry lists, uniform bytes as hex; WGSL text included). */
function planJson(plan: TrainPlan): string {
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return JSON.stringify(
    plan,
    (_k, v) => v instanceof Map ? [...v] : v instanceof ArrayBuffer ? hex(new Uint8Array(v)) : v,
  );
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** sha256 of the stage-walk planner's (before the graph lowering) JSON for the same cases. */
const CASES: [string, U2NetConfig, boolean, [number, number, number], string][] = [
  [
    "lite at [2, 48, 48]",
    U2NET_LITE,
    false,
    [2, 48, 48],
    "a3ed22347cdb6ae9a2e9e758dc648e708d0ce5588b300d1db61ba6a6104381a1",
  ],
  [
    "full with conv biases at [1, 37, 45]",
    U2NET_FULL,
    true,
    [1, 37, 45],
    "9e40dd43bed72d9251455cb439a7c3fb890d9f3cc59364c8f3109716e3afcc13",
  ],
  [
    "a custom-width network at [8, 48, 48]",
    HALF,
    false,
    [8, 48, 48],
    "f0d00fec20783b445c4436de3b9fe9016d9a64668d5e49129fd2ad3f80528aa1",
  ],
];

for (const [name, config, convBias, shape, want] of CASES) {
  Deno.test(`planTrainer() gives the same plan as the stage-walk planner when ${name}`, async () => {
    const plan = planTrainer(config, shape, paramsOf(config, convBias), 2);
    assertEquals(await sha256(planJson(plan)), want);
  });
}

Deno.test("planTrainer() names the seven logits and their gradients when planning lite", () => {
  const plan = planTrainer(U2NET_LITE, [1, 32, 32], paramsOf(U2NET_LITE, false), 2);
  const k7 = [0, 1, 2, 3, 4, 5, 6];
  assertEquals([...plan.named.keys()], [
    ...k7.map((k) => `logit${k}`),
    ...k7.map((k) => `dlogit${k}`),
  ]);
  assertEquals(plan.steps.filter((d) => d.label === "loss.grad").length, 7);
});
