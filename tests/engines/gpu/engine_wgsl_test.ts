import { assertEquals } from "../../assert.ts";
import { HALF_LITE } from "../../helpers.ts";
import { planEngine, type PlanEngineOptions } from "../../../lib/engines/gpu/engine_plan.ts";
import { shaderSource } from "../../../lib/engines/gpu/engine_setup.ts";
import { U2NET_FULL, U2NET_LITE, type U2NetConfig } from "../../../lib/net/config.ts";

const HALF = HALF_LITE;
const CONFIGS: Record<string, U2NetConfig> = { lite: U2NET_LITE, full: U2NET_FULL, half: HALF };

/**
 * sha256 of every WGSL source a GpuEngine compiles (sorted by shader key) for
 * plans at 1x320x320 and 2x37x45, computed with the stage-walk planner before
 * the graph redesign (commit a6ac9e5): the lowering must give the same shaders.
 */
const BEFORE: [string, PlanEngineOptions, string][] = [
  ["lite", {}, "b8f96ae1691e28f4e73fbd94d5f433ddacf05dbad4a2eba4faf4d6f68cc70e0e"],
  [
    "lite",
    { "unrolled": false },
    "e4e2e5a80f880d3b8ca438ac966adf2f1358ec471f8a2d09808c479db754eb5d",
  ],
  ["full", {}, "d3b361483449ffcad9f78d1f1c8cf98b1f390f6d1375456b10c24b9d556b5746"],
  ["full", { "tileRows": 128 }, "da5f0bac796485b546ece5baa5c086ad5025af63f09be5d3aff6f998adb49461"],
  [
    "half",
    { "splitTarget": 256 },
    "93f643ac2d97063cdeab97469bb67af07a80f8203698ddc86c653a6e212eb1d6",
  ],
];

async function wgslHash(config: U2NetConfig, options: PlanEngineOptions): Promise<string> {
  const keys = new Set<string>();
  for (const shape of [[1, 320, 320], [2, 37, 45]] as const) {
    for (const s of planEngine(config, shape, options).steps) keys.add(s.shader);
  }
  const text = [...keys].sort().map((k) => `${k}\n${shaderSource(k)}`).join("\n----\n");
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

for (const [name, options, want] of BEFORE) {
  Deno.test(`GpuEngine compiles the same WGSL as before the graph redesign for ${name} ${JSON.stringify(options)}`, async () => {
    assertEquals(await wgslHash(CONFIGS[name], options), want);
  });
}
