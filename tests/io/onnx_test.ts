import { assert, assertEquals, assertThrows } from "../assert.ts";
import { type OnnxModel, onnxToFoldedStateDict, parseOnnx } from "../../lib/io/onnx.ts";
import { archKeys } from "../../lib/io/arch_shapes.ts";
import { normalizeStateDict } from "../../lib/io/naming.ts";
import { readPth } from "../../lib/io/pth.ts";

const bytes = await Deno.readFile(new URL("../testdata/lite_orig.onnx", import.meta.url));
const load = () => parseOnnx(bytes);

Deno.test("parseOnnx() reads graph, attributes and initializers when given lite_orig.onnx", () => {
  const m = load();
  assertEquals([m.opsetVersion, m.producerName], [11, "pytorch"]);
  // Whatever batch and size the fixture was exported at (or named dynamic
  // axes): one [N, 3, H, W] input and one-channel [N, 1, H, W] outputs.
  assertEquals(m.graph.inputs.length, 1);
  const [input] = m.graph.inputs;
  assertEquals([input.name, input.elemType, input.shape.length, input.shape[1]], [
    "input.1",
    1,
    4,
    3,
  ]);
  const nhw = [0, 2, 3];
  const dim = (d: number | string | null) =>
    typeof d === "number" ? Number.isInteger(d) && d > 0 : typeof d === "string" && d !== "";
  assert(nhw.every((a) => dim(input.shape[a])), `input shape ${input.shape}`);
  for (const o of m.graph.outputs) {
    assertEquals([o.shape.length, o.shape[1]], [4, 1], o.name);
    for (const a of nhw) {
      const [mine, theirs] = [o.shape[a], input.shape[a]];
      if (typeof mine === "number" && typeof theirs === "number") {
        assertEquals(mine, theirs, o.name);
      }
    }
  }
  assertEquals(m.graph.outputs.map((o) => o.name), ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]);
  const convs = m.graph.nodes.filter((n) => n.opType === "Conv");
  assertEquals(convs.length, 119);
  assertEquals(convs[7].attributes.get("dilations")!.ints, [2, 2]);
  assertEquals(convs[7].attributes.get("pads")!.ints, [2, 2, 2, 2]);
  const w = m.graph.initializers.get(convs[0].inputs[1])!;
  assertEquals([w.dtype, w.shape], ["F32", [64, 3, 3, 3]]);
  const pool = m.graph.nodes.find((n) => n.opType === "MaxPool")!;
  assertEquals(pool.attributes.get("ceil_mode")!.i, 1);
  const resize = m.graph.nodes.find((n) => n.opType === "Resize")!;
  assertEquals(resize.attributes.get("mode")!.s, "linear");
});

Deno.test("onnxToFoldedStateDict() maps 119 convs to seed keys when given lite_orig.onnx", () => {
  const f = onnxToFoldedStateDict(load());
  assertEquals(f.arch, "lite");
  assertEquals(f.convs.length, 119);
  // The fixture was exported from a seed-structured module: side(En6) runs first.
  assertEquals(f.sideOrder, "seed");
  const expected = archKeys("lite", { convBias: true, bn: false }).map((e) => [e.key, e.shape]);
  assertEquals([...f.stateDict].map(([k, t]) => [k, t.shape]), expected);
  assertEquals(f.convs[7].dilation, 2);
  assertEquals(f.convs[118].prefix, "out_conv");
});

Deno.test("onnxToFoldedStateDict() equals BN folded by hand when compared with the same .pth", async () => {
  const pth = await Deno.readFile(new URL("../testdata/lite_orig_legacy.pth", import.meta.url));
  const sd = normalizeStateDict(readPth(pth).stateDict).stateDict;
  const f = onnxToFoldedStateDict(load());
  const get = (k: string) => sd.get(k)!.data as Float32Array;
  let worst = 0;
  for (const c of f.convs) {
    const bn = sd.has(`${c.prefix}.bn.weight`);
    const p = bn ? `${c.prefix}.conv` : c.prefix;
    const [w, b] = [get(`${p}.weight`), get(`${p}.bias`)];
    const o = c.weight.shape[0];
    const per = w.length / o;
    for (let q = 0; q < o; q++) {
      let k = 1, bias = b[q];
      if (bn) {
        const g = get(`${c.prefix}.bn.weight`)[q];
        k = g / Math.sqrt(get(`${c.prefix}.bn.running_var`)[q] + 1e-5);
        bias = (b[q] - get(`${c.prefix}.bn.running_mean`)[q]) * k + get(`${c.prefix}.bn.bias`)[q];
      }
      for (let j = q * per; j < (q + 1) * per; j++) {
        worst = Math.max(worst, Math.abs(w[j] * k - (c.weight.data[j] as number)));
      }
      worst = Math.max(worst, Math.abs(bias - (c.bias.data[q] as number)));
    }
  }
  assert(worst < 1e-6, `max abs difference ${worst}`);
});

Deno.test("onnxToFoldedStateDict() adds exact identity BN when identityBn is set", () => {
  const f = onnxToFoldedStateDict(load(), { identityBn: true });
  assertEquals(f.stateDict.size, 686);
  const v = f.stateDict.get("decode_modules.1.conv_in.bn.running_var")!.data[0] as number;
  assertEquals(Math.fround(1 / Math.sqrt(Math.fround(v + Math.fround(1e-5)))), 1);
  assertEquals(f.stateDict.get("decode_modules.1.conv_in.bn.weight")!.data[3], 1);
});

const convNodes = (m: OnnxModel) => m.graph.nodes.filter((n) => n.opType === "Conv");

Deno.test("onnxToFoldedStateDict() refuses the graph when a conv is removed", () => {
  const m = load();
  const victim = convNodes(m)[40];
  m.graph.nodes = m.graph.nodes.filter((n) => n !== victim);
  assertThrows(() => onnxToFoldedStateDict(m), TypeError, "graph has 118 Conv nodes, expected 119");
});

Deno.test("onnxToFoldedStateDict() refuses the graph when a shape or dilation changes", () => {
  const m = load();
  const c17 = convNodes(m)[17];
  const w = m.graph.initializers.get(c17.inputs[1])!;
  const [o, i] = w.shape;
  m.graph.initializers.set(c17.inputs[1], {
    dtype: "F32",
    shape: [o, i, 1, 1],
    data: new Float32Array(o * i),
  });
  assertThrows(() => onnxToFoldedStateDict(m), TypeError, `conv 17 has shape [${o},${i},1,1]`);
  const d = load();
  convNodes(d)[7].attributes.get("dilations")!.ints = [1, 1];
  assertThrows(() => onnxToFoldedStateDict(d), TypeError, "conv 7 (");
});

Deno.test("parseOnnx() throws one clear error when the file is truncated or not ONNX", () => {
  assertThrows(() => parseOnnx(bytes.subarray(0, 100_000)), TypeError, "Cannot load ONNX");
  assertThrows(() => parseOnnx(new Uint8Array([0x0f, 0xff, 0xff])), TypeError, "Cannot load ONNX");
  assertThrows(() => parseOnnx(new Uint8Array()), TypeError, "no ModelProto graph");
});

Deno.test("onnxToFoldedStateDict() maps sides by data flow when they run in ORIG order", () => {
  const m = load();
  const sides = convNodes(m).filter((n) => n.name.startsWith("/side_modules"));
  const slots = sides.map((n) => m.graph.nodes.indexOf(n));
  slots.forEach((slot, i) => (m.graph.nodes[slot] = sides[sides.length - 1 - i]));
  const f = onnxToFoldedStateDict(m);
  assertEquals(f.sideOrder, "orig");
  assertEquals(f.stateDict, onnxToFoldedStateDict(load()).stateDict);
});
