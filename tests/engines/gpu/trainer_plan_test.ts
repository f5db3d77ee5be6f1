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

/**
 * sha256 of the stage-walk planner's (before the graph lowering) JSON for
 * the same cases, less the out-of-place AdamW pass the recorded trainer no
 * longer runs (its update phase is `_gpu_trainer_update.ts`, not planned):
 * without the `optimizer` dispatches and the `paramsNext` and `mvNext<i>`
 * buffers. They were computed from the last planner that still emitted that
 * pass (commit dc13e53), whose whole-plan JSON matched the stage-walk
 * planner's pins (a3ed2234…81a1, 9e40dd43…cc13, f0d00fec…28aa1 in that
 * order), with those fields dropped from that same JSON: the rest of the plan
 * is unchanged.
 */
const CASES: [string, U2NetConfig, boolean, [number, number, number], string][] = [
  [
    "lite at [2, 48, 48]",
    U2NET_LITE,
    false,
    [2, 48, 48],
    "253fac415583687a0b73a4d3d1811cf8eafe2a00b3597deb4494be8bca9a94cf",
  ],
  [
    "full with conv biases at [1, 37, 45]",
    U2NET_FULL,
    true,
    [1, 37, 45],
    "8c30dea3817033afde3a827419fe9c29372f05b020b0f9c48279afa735bf5acf",
  ],
  [
    "a custom-width network at [8, 48, 48]",
    HALF,
    false,
    [8, 48, 48],
    "affe4a41dbec3da7dcaf041f927ba3bfcd738a1c8f88e39fec095df1f6cffa7e",
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
