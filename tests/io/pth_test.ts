import { assert, assertEquals, assertThrows } from "../assert.ts";
import { cat, f32Bytes, makeZip, pGlobal, pStr, pTensor } from "./_torch_files.ts";
import { readPth } from "../../lib/io/pth.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { normalizeStateDict } from "../../lib/io/naming.ts";
import { readZip, zipEntryData } from "../../lib/io/zip.ts";

const data = (name: string) => Deno.readFile(new URL(`../testdata/${name}`, import.meta.url));
const params: { lite_state_dict: Record<string, number[]> } = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/params.json", import.meta.url)),
);

Deno.test("readPth() matches the safetensors copy bit for bit when reading lite_wz.pth", async () => {
  const pth = readPth(await data("lite_wz.pth"));
  const st = readSafetensors(await data("lite_wz.safetensors")).tensors;
  assertEquals(pth.format, "zip");
  assertEquals(pth.epoch, undefined);
  assertEquals([...pth.stateDict.keys()], [...st.keys()]);
  for (const [k, t] of st) {
    const u = pth.stateDict.get(k)!;
    assertEquals(u.dtype, t.dtype, k);
    assertEquals(u.shape, t.shape, k);
    assertEquals(
      new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      k,
    );
  }
  const nbt = pth.stateDict.get("encode_modules.0.conv_in.bn.num_batches_tracked")!;
  assert(nbt.data instanceof BigInt64Array);
  assertEquals(nbt.shape, []);
});

Deno.test("readPth() loads the legacy format when reading lite_orig_legacy.pth", async () => {
  const pth = readPth(await data("lite_orig_legacy.pth"));
  assertEquals(pth.format, "legacy");
  assertEquals(pth.stateDict.size, 686);
  const w = pth.stateDict.get("stage1.rebnconvin.conv_s1.weight")!;
  assertEquals(w.shape, [64, 3, 3, 3]);
  assert(w.data instanceof Float32Array && w.data.some((x) => x !== 0));
  const n = normalizeStateDict(pth.stateDict);
  assertEquals([n.naming, n.arch, n.convBias], ["orig", "lite", true]);
  const expected = Object.entries(params.lite_state_dict)
    .filter(([k]) => !k.endsWith("num_batches_tracked"));
  const biases = expected.filter(([k]) => k.endsWith(".conv.weight"))
    .map(([k, s]) => [k.replace(/weight$/, "bias"), [s[0]]] as [string, number[]]);
  assertEquals(biases.length, 112);
  const got = new Map([...n.stateDict].map(([k, t]) => [k, t.shape]));
  assertEquals(got, new Map([...expected, ...biases]));
});

Deno.test("readPth() throws one clear error when the zip is truncated or the bytes random", async () => {
  const bytes = await data("lite_wz.pth");
  assertThrows(() => readPth(bytes.subarray(0, 1_000_000)), RangeError, "Cannot read zip");
  assertThrows(() => readPth(bytes.subarray(0, bytes.length - 30)), RangeError, "Cannot read zip");
  const legacy = await data("lite_orig_legacy.pth");
  assertThrows(() => readPth(legacy.subarray(0, 2_000_000)), RangeError, "Cannot read legacy .pth");
  assertThrows(() => readPth(legacy.subarray(0, 50_000)), RangeError, "Cannot load pickle");
  const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
  assertThrows(() => readPth(random), TypeError, "neither zip nor legacy");
  assertThrows(() => readPth(new Uint8Array()), TypeError, "Cannot read .pth");
});

Deno.test("readPth() honours offset and strides when a tensor is a view", async () => {
  const storage = { type: "FloatStorage", key: "0", numel: 6 };
  const pkl = cat(
    "\x80\x02",
    pGlobal("collections", "OrderedDict"),
    ")R(",
    pStr("module.t"), // transposed 2x2 view at offset 2: [[2,4],[3,5]]
    pTensor(storage, 2, [2, 2], [1, 2]),
    pStr("module.c"), // contiguous view at offset 1
    pTensor(storage, 1, [3], [1]),
    "u.",
  );
  const zip = await makeZip([
    { name: "archive/data.pkl", data: pkl },
    { name: "archive/data/0", data: f32Bytes([0, 1, 2, 3, 4, 5]) },
  ]);
  const { stateDict } = readPth(zip);
  assertEquals([...stateDict.keys()], ["t", "c"]);
  assertEquals(stateDict.get("t"), {
    dtype: "F32",
    shape: [2, 2],
    data: new Float32Array([2, 4, 3, 5]),
  });
  assertEquals(stateDict.get("c")!.data, new Float32Array([1, 2, 3]));
  const out = cat("\x80\x02}(", pStr("x"), pTensor(storage, 5, [2], [1]), "u.");
  const bad = await makeZip([
    { name: "a/data.pkl", data: out },
    { name: "a/data/0", data: f32Bytes([0, 1, 2, 3, 4, 5]) },
  ]);
  assertThrows(() => readPth(bad), RangeError, "lies outside its storage");
  // a stride-0 view asking for 2^28 elements of a 6-element storage: refused before allocating
  const big = cat("\x80\x02}(", pStr("x"), pTensor(storage, 0, [16384, 16384], [0, 0]), "u.");
  const bomb = await makeZip([
    { name: "a/data.pkl", data: big },
    { name: "a/data/0", data: f32Bytes([0, 1, 2, 3, 4, 5]) },
  ]);
  assertThrows(() => readPth(bomb), RangeError, "take 1073741824 bytes, more than twice");
  // 40 tensors that all copy one 256 KiB storage: refused before copying
  const shared = { type: "FloatStorage", key: "0", numel: 65535 };
  const many = cat(
    "\x80\x02}(",
    ...Array.from({ length: 40 }, (_, i) => cat(pStr(`t${i}`), pTensor(shared, 0, [65535], [1]))),
    "u.",
  );
  const copies = await makeZip([
    { name: "a/data.pkl", data: many },
    { name: "a/data/0", data: new Uint8Array(65535 * 4) },
  ]);
  assertThrows(() => readPth(copies), RangeError, "more than twice their storages' 262140");
});

Deno.test("readPth() takes the model and reports the epoch when given a training checkpoint", async () => {
  const src = readZip(await data("lite_wz.pth"));
  const pkl = zipEntryData(src.get("lite_wz/data.pkl")!);
  const ns = cat(
    pGlobal("argparse", "Namespace"),
    ")",
    0x81,
    "}(",
    pStr("lr"),
    "G?PbM\xd2\xf1\xa9\xfcu",
    "b",
  );
  const ckpt = cat(
    "\x80\x02}(",
    pStr("model"),
    pkl.subarray(2, pkl.length - 1), // the state dict, without PROTO and STOP
    pStr("optimizer"),
    "}",
    pStr("epoch"),
    "K\x07",
    pStr("args"),
    ns,
    "u.",
  );
  const entries = [...src.values()].filter((e) => e.name.includes("/data/"))
    .map((e) => ({ name: e.name.replace("lite_wz/", "ckpt/"), data: zipEntryData(e) }));
  const zip = await makeZip([{ name: "ckpt/data.pkl", data: ckpt }, ...entries]);
  const r = readPth(zip);
  assertEquals(r.epoch, 7);
  assertEquals(r.ignoredKeys, ["optimizer", "epoch", "args"]);
  assertEquals(r.stateDict.size, 686);
  const deflated = await makeZip([{ name: "ckpt/data.pkl", data: ckpt, deflate: true }]);
  assertThrows(() => readPth(deflated), RangeError, "inflate it first");
});

Deno.test("readPth() refuses a pickled whole model when it names a project class", async () => {
  const pkl = cat("\x80\x02", pGlobal("model.u2net", "U2NETP"), ")\x81.");
  const zip = await makeZip([{ name: "m/data.pkl", data: pkl }]);
  assertThrows(() => readPth(zip), TypeError, 'global "model.u2net.U2NETP" is not allowed');
});
