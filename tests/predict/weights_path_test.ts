import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { MODEL_ZOO } from "../../lib/io/model_zoo.ts";
import {
  DEFAULT_WEIGHTS_PATH,
  resolveWeightsPath,
  resolveWeightsSource,
  WEIGHTS_HINT,
} from "../../lib/predict/weights_path.ts";
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

Deno.test("resolveWeightsSource() returns a model source for a zoo name and a file source for a path", () => {
  const named = resolveWeightsSource("u2netp");
  assertEquals(named.kind, "model");
  if (named.kind === "model") {
    assertEquals([named.name, named.entry.file, named.preprocess], [
      "u2netp",
      "u2netp.onnx",
      "rembg",
    ]);
  }
  assertEquals(resolveWeightsSource(undefined, { env: "silueta" }).kind, "model");
  assertEquals(resolveWeightsSource("u2net", { env: "u2netp" }), {
    kind: "model",
    name: "u2net",
    entry: MODEL_ZOO.u2net,
    preprocess: "rembg",
  });
  assertEquals(resolveWeightsSource("tests/testdata/lite_wz.safetensors"), {
    kind: "file",
    path: "tests/testdata/lite_wz.safetensors",
  });
  assertEquals(
    resolveWeightsSource(undefined, { fallback: "tests/testdata/lite_wz.safetensors" }),
    { kind: "file", path: "tests/testdata/lite_wz.safetensors" },
  );
});

Deno.test("resolveWeightsSource() knows the manifest's names and refuses an unknown bare word", () => {
  const zoo = { ...MODEL_ZOO, tiny: { ...MODEL_ZOO.u2netp, file: "tiny.onnx" } };
  assertEquals(resolveWeightsSource("tiny", { zoo }).kind, "model");
  assertThrows(() => resolveWeightsSource("tiny"), TypeError, 'Cannot find weights "tiny"');
  assertThrows(() => resolveWeightsSource("u2netx"), TypeError, "u2net, u2netp, u2net_human_seg");
});

Deno.test("WEIGHTS_HINT says where a trained model comes from", () => {
  assertMatch(WEIGHTS_HINT, /--weights u2netp/);
  assertMatch(WEIGHTS_HINT, /deno task pull u2netp/);
});
