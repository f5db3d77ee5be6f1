import { assertEquals, assertThrows } from "../assert.ts";
import {
  detectArch,
  detectNaming,
  normalizeStateDict,
  origKeyToSeed,
} from "../../lib/io/naming.ts";
import { type Arch, archKeys } from "../../lib/io/arch_shapes.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { numElements, type RawTensor, type StateDict } from "../../lib/io/raw_tensor.ts";

const params: Record<string, Record<string, number[]>> = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/params.json", import.meta.url)),
);
const liteWz = () =>
  Deno.readFile(new URL("../testdata/lite_wz.safetensors", import.meta.url))
    .then((b) => readSafetensors(b).tensors);

// One shared zero buffer backs every synthetic tensor (the largest full conv has 4.7 M values).
const zeros = new Float32Array(1024 * 512 * 9);
const fake = (shape: number[]): RawTensor => ({
  dtype: "F32",
  shape,
  data: zeros.subarray(0, numElements(shape)),
});
const synthetic = (arch: Arch, convBias: boolean): StateDict =>
  new Map(
    archKeys(arch, { convBias, numBatchesTracked: false }).map((e) => [e.key, fake(e.shape)]),
  );

Deno.test("archKeys() lists params.json's keys and shapes in order when given each architecture", () => {
  for (const arch of ["lite", "full"] as const) {
    const got = archKeys(arch).map((e) => [e.key, e.shape]);
    assertEquals(got, Object.entries(params[`${arch}_state_dict`]));
  }
  const count = (arch: Arch, convBias: boolean) =>
    archKeys(arch, { convBias })
      .filter((e) => !/running|num_batches/.test(e.key))
      .reduce((n, e) => n + numElements(e.shape), 0);
  assertEquals(count("full", false), 43_995_469);
  assertEquals(count("full", true), 44_009_869);
  assertEquals(count("lite", false), 1_128_333);
  assertEquals(count("lite", true), 1_131_181);
});

Deno.test("origKeyToSeed() follows spec §1.7 when given original keys", () => {
  const cases: Array<[string, string | null]> = [
    ["stage1.rebnconvin.conv_s1.weight", "encode_modules.0.conv_in.conv.weight"],
    ["stage1.rebnconv1.bn_s1.running_mean", "encode_modules.0.encode_modules.0.bn.running_mean"],
    ["stage1.rebnconv7.conv_s1.bias", "encode_modules.0.encode_modules.6.conv.bias"],
    ["stage1.rebnconv6d.conv_s1.weight", "encode_modules.0.decode_modules.0.conv.weight"],
    ["stage1.rebnconv1d.conv_s1.weight", "encode_modules.0.decode_modules.5.conv.weight"],
    ["stage4.rebnconv3d.bn_s1.weight", "encode_modules.3.decode_modules.0.bn.weight"],
    ["stage6.rebnconv4.conv_s1.weight", "encode_modules.5.encode_modules.3.conv.weight"],
    ["stage5d.rebnconv3d.bn_s1.bias", "decode_modules.0.decode_modules.0.bn.bias"],
    ["stage5d.rebnconv1d.conv_s1.weight", "decode_modules.0.decode_modules.2.conv.weight"],
    ["stage3d.rebnconv4d.conv_s1.weight", "decode_modules.2.decode_modules.0.conv.weight"],
    ["stage1d.rebnconvin.conv_s1.weight", "decode_modules.4.conv_in.conv.weight"],
    ["stage1d.rebnconv1d.bn_s1.running_var", "decode_modules.4.decode_modules.5.bn.running_var"],
    ["side1.weight", "side_modules.5.weight"],
    ["side6.bias", "side_modules.0.bias"],
    ["outconv.weight", "out_conv.weight"],
    ["stage2.rebnconv1.bn_s1.num_batches_tracked", null],
  ];
  for (const [orig, seed] of cases) assertEquals(origKeyToSeed(orig), seed, orig);
  for (
    const bad of [
      "stage6d.rebnconvin.conv_s1.weight",
      "stage4.rebnconv5.conv_s1.weight",
      "stage3.rebnconv5d.conv_s1.weight",
      "side7.weight",
      "stage1.rebnconv1.conv.weight",
    ]
  ) {
    assertThrows(() => origKeyToSeed(bad), TypeError, `"${bad}" is not a U2-Net key`);
  }
});

/** Every key of ORIG's `U2NET` state dict (spelled out from ORIG's module structure). */
function origFullKeys(): string[] {
  const heights = [7, 6, 5, 4, 4, 4];
  const orig: string[] = [];
  const params = ["conv_s1.weight", "conv_s1.bias", "bn_s1.weight", "bn_s1.bias"]
    .concat(["bn_s1.running_mean", "bn_s1.running_var"]);
  const block = (stage: string, h: number) => {
    const layers = ["rebnconvin"];
    for (let j = 1; j <= h; j++) layers.push(`rebnconv${j}`);
    for (let j = h - 1; j >= 1; j--) layers.push(`rebnconv${j}d`);
    for (const l of layers) for (const p of params) orig.push(`${stage}.${l}.${p}`);
  };
  heights.forEach((h, i) => block(`stage${i + 1}`, h));
  [5, 4, 3, 2, 1].forEach((k) => block(`stage${k}d`, heights[k - 1]));
  for (let k = 1; k <= 6; k++) orig.push(`side${k}.weight`, `side${k}.bias`);
  return [...orig, "outconv.weight", "outconv.bias"];
}

Deno.test("origKeyToSeed() is a bijection onto seed keys when given every full ORIG key", () => {
  const orig = origFullKeys();
  const mapped = orig.map((k) => origKeyToSeed(k)!);
  const expected = archKeys("full", { convBias: true, numBatchesTracked: false }).map((e) => e.key);
  assertEquals(new Set(mapped).size, orig.length);
  assertEquals(new Set(mapped), new Set(expected));
});

Deno.test("detectNaming() throws when keys are mixed or unknown", () => {
  assertEquals(detectNaming(["encode_modules.0.conv_in.conv.weight", "out_conv.bias"]), "seed");
  assertEquals(detectNaming(["stage1d.rebnconvin.conv_s1.weight", "side3.bias"]), "orig");
  assertThrows(() => detectNaming(["out_conv.bias", "outconv.bias"]), TypeError, "1 seed-style");
  assertThrows(() => detectNaming(["fc.weight"]), TypeError, "Cannot detect state-dict naming");
});

Deno.test("normalizeStateDict() keeps seed files unchanged when given lite_wz", async () => {
  const sd = await liteWz();
  const n = normalizeStateDict(sd);
  assertEquals([n.naming, n.arch, n.convBias], ["seed", "lite", false]);
  assertEquals([...n.stateDict.keys()], [...sd.keys()]);
  assertEquals(n.stateDict.get("out_conv.weight"), sd.get("out_conv.weight"));
  const prefixed = new Map([...sd].map(([k, t]) => [`module.${k}`, t]));
  assertEquals([...normalizeStateDict(prefixed).stateDict.keys()], [...sd.keys()]);
});

Deno.test("normalizeStateDict() maps to seed order when given ORIG-named full weights", () => {
  const seed = synthetic("full", true);
  const orig = new Map<string, RawTensor>(
    origFullKeys().map((k) => [k, seed.get(origKeyToSeed(k)!)!]),
  );
  orig.set("stage1.rebnconvin.bn_s1.num_batches_tracked", {
    dtype: "I64",
    shape: [],
    data: new BigInt64Array(1),
  });
  const n = normalizeStateDict(orig);
  assertEquals([n.naming, n.arch, n.convBias], ["orig", "full", true]);
  assertEquals([...n.stateDict.keys()], [...seed.keys()]);
  assertEquals(detectArch(n.stateDict), "full");
});

Deno.test("normalizeStateDict() throws one clear error when a key is missing, extra or misshapen", async () => {
  const sd = await liteWz();
  const missing = new Map(sd);
  missing.delete("decode_modules.2.encode_modules.1.bn.running_var");
  assertThrows(
    () => normalizeStateDict(missing),
    TypeError,
    'lacks "decode_modules.2.encode_modules.1.bn.running_var"',
  );
  const extra = new Map(sd).set("side_modules.6.weight", fake([1, 64, 3, 3]));
  assertThrows(
    () => normalizeStateDict(extra),
    TypeError,
    '1 unexpected keys, e.g. "side_modules.6.weight"',
  );
  const shaped = new Map(sd).set("out_conv.weight", fake([1, 7, 1, 1]));
  assertThrows(
    () => normalizeStateDict(shaped),
    RangeError,
    "has shape [1,7,1,1], expected [1,6,1,1]",
  );
  const arch = new Map(sd).set(
    "encode_modules.0.encode_modules.0.conv.weight",
    fake([8, 64, 3, 3]),
  );
  assertThrows(() => normalizeStateDict(arch), TypeError, "Cannot detect architecture");
});

Deno.test("normalizeStateDict() converts to F32 when tensors are F64", async () => {
  const sd = await liteWz();
  const w = sd.get("out_conv.weight")!;
  const f64 = new Map(sd).set("out_conv.weight", {
    dtype: "F64",
    shape: w.shape,
    data: Float64Array.from(w.data as Float32Array),
  });
  const got = normalizeStateDict(f64).stateDict.get("out_conv.weight")!;
  assertEquals(got, w);
});

Deno.test("detectNaming() says a checkpoint's AdamW moments file is not weights when given its keys", () => {
  assertThrows(
    () =>
      detectNaming([
        "exp_avg.encode_modules.0.conv_in.conv.weight",
        "exp_avg_sq.side_modules.0.bias",
      ]),
    TypeError,
    "these are AdamW moments: a checkpoint's .optim.safetensors",
  );
});
