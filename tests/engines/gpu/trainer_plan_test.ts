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
 * is unchanged. Since commit e2435c3 the second gradient of a map used twice
 * is summed by the kernel that writes it (the input-gradient conv's residual
 * epilogue, the pool and resize gradients) instead of a `grad.add` dispatch;
 * the pins below are that planner's, whose steps give the same bits as the
 * plans pinned before (253fac41…94cf, 8c30dea3…5acf, affe4a41…fa7e: two lite
 * and two full steps at 2x48x48, gradients and parameters hashed identical on
 * llvmpipe). Nothing else changed.
 */
const CASES: [string, U2NetConfig, boolean, [number, number, number], string][] = [
  [
    "lite at [2, 48, 48]",
    U2NET_LITE,
    false,
    [2, 48, 48],
    "326e326f7f01f402472168c46999aff715609f26290fe8370ba5062dc9e192dd",
  ],
  [
    "full with conv biases at [1, 37, 45]",
    U2NET_FULL,
    true,
    [1, 37, 45],
    "8a9a1d64afa9be6077b6bb370db068d56892245f4ee08c453795dfe6ff79a007",
  ],
  [
    "a custom-width network at [8, 48, 48]",
    HALF,
    false,
    [8, 48, 48],
    "3237fdd32c4f250480df0428ba6590885db0c9a635729e6b0580f8ee75405288",
  ],
];

for (const [name, config, convBias, shape, want] of CASES) {
  Deno.test(`planTrainer() gives the pinned plan (the stage-walk planner's, gradient sums fused) when ${name}`, async () => {
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
