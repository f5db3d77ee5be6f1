import { assert, assertEquals, assertThrows } from "../assert.ts";
import { isPickleGlobal, PickleGlobal, unpickle, unpickleAt } from "../../lib/io/pickle.ts";
import type { PickleObject } from "../../lib/io/pickle.ts";

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

// pickle.dumps({"a": [1, 2.5, "xé", b"\x00\x01", (True, None, False)], "big": 2**70, "neg": -5,
//   "i32": 100000, "set": {3}, "od": OrderedDict([("k", 1)]), "ns": Namespace(lr=0.1, epochs=3)})
const SAMPLE: Record<number, string> = {
  0: "286470300a56610a70310a286c70320a49310a6146322e350a615678e90a70330a61635f636f646563730a656e636f64650a70340a28565c7530303030010a70350a566c6174696e310a70360a7470370a5270380a61284930310a4e4930300a7470390a6173566269670a7031300a4c313138303539313632303731373431313330333432344c0a73566e65670a7031310a492d350a73566933320a7031320a493130303030300a73567365740a7031330a635f5f6275696c74696e5f5f0a7365740a7031340a28286c7031350a49330a61747031360a527031370a73566f640a7031380a63636f6c6c656374696f6e730a4f726465726564446963740a7031390a2874527032300a566b0a7032310a49310a7373566e730a7032320a63636f70795f7265670a5f7265636f6e7374727563746f720a7032330a286361726770617273650a4e616d6573706163650a7032340a635f5f6275696c74696e5f5f0a6f626a6563740a7032350a4e747032360a527032370a28647032380a566c720a7032390a46302e310a735665706f6368730a7033300a49330a7362732e",
  2: "80027d71002858010000006171015d7102284b01474004000000000000580300000078c3a97103635f636f646563730a656e636f64650a710458020000000001710558060000006c6174696e317106867107527108884e89877109655803000000626967710a8a0900000000000000004058030000006e6567710b4afbffffff5803000000693332710c4aa08601005803000000736574710d635f5f6275696c74696e5f5f0a7365740a710e5d710f4b036185711052711158020000006f64711263636f6c6c656374696f6e730a4f726465726564446963740a71132952711458010000006b71154b017358020000006e7371166361726770617273650a4e616d6573706163650a7117298171187d71192858020000006c72711a473fb999999999999a580600000065706f636873711b4b037562752e",
  4: "800495c7000000000000007d94288c0161945d94284b014740040000000000008c0378c3a9944302000194884e898794658c03626967948a090000000000000000408c036e6567944afbffffff8c03693332944aa08601008c03736574948f94284b03908c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c026e73948c086172677061727365948c094e616d6573706163659493942981947d94288c026c7294473fb999999999999a8c0665706f636873944b037562752e",
};

for (const protocol of [0, 2, 4]) {
  Deno.test(`unpickle() decodes Python values when the pickle uses protocol ${protocol}`, () => {
    const v = unpickle(hex(SAMPLE[protocol])) as Map<string, unknown>;
    assert(v instanceof Map);
    const a = v.get("a") as unknown[];
    assertEquals(a.slice(0, 3), [1, 2.5, "xé"]);
    assertEquals([...(a[3] as Uint8Array)], [0, 1]);
    assertEquals(a[4], [true, null, false]);
    assertEquals(v.get("big"), 2n ** 70n);
    assertEquals(v.get("neg"), -5);
    assertEquals(v.get("i32"), 100000);
    assertEquals(v.get("set"), new Set([3]));
    assertEquals(v.get("od"), new Map([["k", 1]]));
    const ns = v.get("ns") as PickleObject;
    assertEquals(ns.type, "argparse.Namespace");
    assertEquals(ns.state, new Map<string, number>([["lr", 0.1], ["epochs", 3]]));
  });
}

const PWNED = "tests/.tmp/pickle_pwned";
const refused = (bytes: Uint8Array, name: string) => {
  assertThrows(
    () => unpickle(bytes),
    TypeError,
    `Cannot load pickle: global "${name}" is not allowed`,
  );
};

Deno.test("unpickle() refuses os.system when a protocol-0 pickle calls it", () => {
  refused(ascii(`cos\nsystem\n(S'touch ${PWNED}'\ntR.`), "os.system");
  refused(ascii(`(S'touch ${PWNED}'\nios\nsystem\n.`), "os.system"); // INST opcode
  let exists = true;
  try {
    Deno.statSync(PWNED);
  } catch {
    exists = false;
  }
  assert(!exists, "the command must never run");
});

Deno.test("unpickle() refuses builtins.eval when a protocol-2 pickle calls it", () => {
  const call = (module: string) =>
    new Uint8Array([
      0x80,
      2,
      ...ascii(`c${module}\neval\nq\x00X\x0a\x00\x00\x00__import__`),
      0x85,
      ...ascii("R."),
    ]);
  refused(call("builtins"), "builtins.eval");
  refused(call("__builtin__"), "__builtin__.eval");
});

Deno.test("unpickle() refuses posix.system when a protocol-4 pickle uses STACK_GLOBAL", () => {
  const b = new Uint8Array([
    0x80,
    4,
    0x8c,
    5,
    ...ascii("posix"),
    0x94,
    0x8c,
    6,
    ...ascii("system"),
    0x94,
    0x93,
    0x8c,
    2,
    ...ascii("id"),
    0x85,
    ...ascii("R."),
  ]);
  refused(b, "posix.system");
});

Deno.test("unpickle() refuses a forbidden global when it hides inside an OrderedDict", () => {
  const b = ascii(
    "\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00kcsubprocess\nPopen\nX\x02\x00\x00\x00ls\x85Ru.",
  );
  refused(b, "subprocess.Popen");
});

Deno.test("unpickle() refuses to call a storage type when it is used as a function", () => {
  assertThrows(
    () => unpickle(ascii("\x80\x02ctorch\nFloatStorage\n)R.")),
    TypeError,
    `global "torch.FloatStorage" is not callable`,
  );
  const g = unpickle(ascii("\x80\x02ctorch\nFloatStorage\n."));
  assert(g instanceof PickleGlobal && isPickleGlobal(g, "torch.FloatStorage"));
});

Deno.test("unpickle() throws one clear error when the bytes are random", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
  for (let i = 0; i < 300; i++) {
    const bytes = Uint8Array.from({ length: 1 + (i % 64) }, rand);
    try {
      unpickle(bytes);
    } catch (e) {
      assert(e instanceof TypeError || e instanceof RangeError, String(e));
      assert((e as Error).message.startsWith("Cannot load pickle: "), (e as Error).message);
      assert(!(e as Error).message.includes("\n"));
    }
  }
});

Deno.test("unpickle() throws a RangeError when the pickle is truncated", () => {
  const full = hex(SAMPLE[2]);
  assertThrows(() => unpickle(full.subarray(0, 100)), RangeError, "Cannot load pickle");
  assertThrows(() => unpickle(new Uint8Array()), RangeError, "before STOP");
});

Deno.test("unpickleAt() reads consecutive pickles when given the previous end", () => {
  const bytes = new Uint8Array([0x80, 2, 0x4b, 7, 0x2e, 0x80, 2, 0x4e, 0x2e]);
  const first = unpickleAt(bytes, 0);
  assertEquals(first, { value: 7, end: 5 });
  assertEquals(unpickleAt(bytes, first.end), { value: null, end: 9 });
});

Deno.test("unpickle() refuses persistent ids when no loader is given", () => {
  assertThrows(() => unpickle(ascii("\x80\x02K\x01Q.")), TypeError, "no loader");
  assertEquals(unpickle(ascii("\x80\x02K\x01Q."), { persistentLoad: (p) => `id${p}` }), "id1");
});
