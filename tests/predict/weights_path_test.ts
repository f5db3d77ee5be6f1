import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { DEFAULT_WEIGHTS_PATH, resolveWeightsPath } from "../../lib/predict/weights_path.ts";
import { DEMO_TRAIN_OPTIONS } from "../../lib/train/train_options.ts";

Deno.test("DEFAULT_WEIGHTS_PATH is where the training demo writes its best model", () => {
  const dir = DEMO_TRAIN_OPTIONS.outputDir!.replace(/^\.\//, "");
  assertEquals(DEFAULT_WEIGHTS_PATH, `${dir}/model_best.safetensors`);
});

Deno.test("resolveWeightsPath() prefers the explicit path, then the environment, then the demo file", () => {
  assertEquals(resolveWeightsPath("a.safetensors", { env: "b.safetensors" }), "a.safetensors");
  assertEquals(resolveWeightsPath(undefined, { env: "b.safetensors" }), "b.safetensors");
  assertEquals(
    resolveWeightsPath(undefined, { fallback: "tests/testdata/lite_wz.safetensors" }),
    "tests/testdata/lite_wz.safetensors",
  );
});

Deno.test("resolveWeightsPath() refuses with one line saying how to get weights", () => {
  let msg = "";
  try {
    resolveWeightsPath(undefined, { fallback: "tests/.tmp/no/such.safetensors" });
  } catch (e) {
    assert(e instanceof TypeError);
    msg = e.message;
  }
  assert(!msg.includes("\n"));
  assertMatch(msg, /deno task train/);
  assertMatch(msg, /deno task convert/);
});
