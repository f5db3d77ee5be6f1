import { assert, assertEquals } from "../assert.ts";
import { U2NET_FULL, U2NET_LITE } from "../../lib/net/config.ts";
import { hwioToOihw, oihwToHwio, stateDictSpec } from "../../lib/net/state_dict.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { tf } from "../../lib/deps.ts";
import { useBackend } from "../helpers.ts";

const params = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/params.json", import.meta.url)),
) as Record<string, Record<string, number[]>>;

const count = (specs: { shape: number[]; role: string }[]) =>
  specs.filter((s) => s.role === "param").reduce(
    (n, s) => n + s.shape.reduce((a, b) => a * b, 1),
    0,
  );

for (
  const [name, config, key] of [["full", U2NET_FULL, "full_state_dict"], [
    "lite",
    U2NET_LITE,
    "lite_state_dict",
  ]] as const
) {
  Deno.test(`stateDictSpec() lists params.json's keys and shapes in order for ${name}`, () => {
    const specs = stateDictSpec(config, { convBias: false, batchNorm: true });
    assertEquals(specs.map((s) => [s.key, s.shape]), Object.entries(params[key]));
  });
}

Deno.test("stateDictSpec() counts the seed's parameters with and without conv bias", () => {
  const c = (config: typeof U2NET_FULL, convBias: boolean) =>
    count(stateDictSpec(config, { convBias, batchNorm: true }));
  assertEquals(c(U2NET_FULL, false), 43_995_469);
  assertEquals(c(U2NET_FULL, true), 44_009_869);
  assertEquals(c(U2NET_LITE, false), 1_128_333);
  assertEquals(c(U2NET_LITE, true), 1_131_181);
  const lite = stateDictSpec(U2NET_LITE, { convBias: true, batchNorm: true });
  assertEquals(lite.length, 798);
  assertEquals(lite.filter((s) => s.shape.length === 4).length, 119);
});

Deno.test("stateDictSpec() drops BN keys and adds conv biases when batchNorm is false", () => {
  const specs = stateDictSpec(U2NET_LITE, { convBias: false, batchNorm: false });
  assert(specs.every((s) => !s.key.includes(".bn.")));
  assertEquals(specs.filter((s) => s.key.endsWith(".conv.bias")).length, 112);
});

Deno.test("oihwToHwio() and hwioToOihw() are inverse permutations", () => {
  const shape = [4, 3, 3, 2];
  const data = Float32Array.from({ length: 72 }, (_, i) => i);
  const hwio = oihwToHwio(data, shape);
  assertEquals(hwio[((1 * 2 + 1) * 3 + 2) * 4 + 3], data[((3 * 3 + 2) * 3 + 1) * 2 + 1]);
  assertEquals(hwioToOihw(hwio, shape), data);
});

Deno.test("U2Net.create() builds the full model with 43,995,469 parameters", async () => {
  await useBackend("cpu");
  const start = tf.memory().numTensors;
  const model = U2Net.create("full");
  assertEquals(model.numParameters(), 43_995_469);
  assertEquals(model.namedParameters().length, 350);
  assertEquals(model.namedBuffers().length, 224);
  model.dispose();
  assertEquals(tf.memory().numTensors, start);
});

Deno.test("U2Net.stateDict() round-trips through loadStateDict() bit-exactly", async () => {
  await useBackend("cpu");
  const a = U2Net.create("lite", { seed: 1, convBias: true });
  const b = U2Net.create("lite", { seed: 2, convBias: true });
  const sd = await a.stateDict();
  b.loadStateDict(sd);
  const back = await b.stateDict();
  for (const [k, t] of sd) assertEquals(back.get(k)!.data, t.data, k);
  a.dispose();
  b.dispose();
});

Deno.test("U2Net.loadStateDict() names the key and both shapes when a shape differs", async () => {
  await useBackend("cpu");
  const model = U2Net.create("lite");
  const sd = await model.stateDict();
  sd.set("side_modules.2.weight", {
    dtype: "F32",
    shape: [1, 32, 3, 3],
    data: new Float32Array(288),
  });
  let message = "";
  try {
    model.loadStateDict(sd);
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(
    message,
    'Cannot load "side_modules.2.weight": current shape is [1, 32, 3, 3], expected [1, 64, 3, 3]',
  );
  model.dispose();
});
