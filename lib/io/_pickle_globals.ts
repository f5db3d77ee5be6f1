/**
 * The unpickler's allowlist: the only Python globals a pickle may name, and
 * inert JS stand-ins for what calling them would build. Nothing here runs
 * code from the file.
 *
 * @module
 */

/** A reference to an allowed Python global (a function, class or constant). */
export class PickleGlobal {
  /** Creates the reference; only the unpickler does this, for allowlisted names. */
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name` as written in the pickle. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An inert stand-in for a harmless object (argparse.Namespace, torch.device, …). */
export class PickleObject {
  /** `type` is the qualified class name; `state` is what BUILD set (e.g. Namespace fields). */
  constructor(readonly type: string, readonly args: unknown[], public state: unknown = undefined) {}
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
export class PickleTensor {
  /** `storage` is whatever the persistent-id callback returned; offset and strides count elements. */
  constructor(
    readonly storage: unknown,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

type Call = (args: unknown[]) => unknown;

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isInteger(x))) {
    throw new TypeError(`Cannot rebuild tensor: current ${what} is not a tuple of ints`);
  }
  return v as number[];
}

const rebuildTensor: Call = ([storage, offset, size, stride]) => {
  if (typeof offset !== "number") {
    throw new TypeError(`Cannot rebuild tensor: current storage offset is ${typeof offset}`);
  }
  return new PickleTensor(storage, offset, intList(size, "size"), intList(stride, "stride"));
};

function iterable(v: unknown): Iterable<unknown> {
  if (v === undefined) return [];
  if (Array.isArray(v) || v instanceof Set || v instanceof Map) return v;
  throw new TypeError(`Cannot load pickle: current argument is ${typeof v}, not an iterable`);
}

function pairs(v: unknown): Array<[unknown, unknown]> {
  if (v instanceof Map) return [...v];
  return [...iterable(v)].map((p) => {
    if (!Array.isArray(p) || p.length !== 2) {
      throw new TypeError(
        `Cannot load pickle: current OrderedDict item is not a (key, value) pair`,
      );
    }
    return [p[0], p[1]];
  });
}

function encodeLatin1(s: unknown): Uint8Array {
  if (s instanceof Uint8Array) return s.slice();
  if (typeof s !== "string") throw new TypeError(`Cannot load pickle: cannot encode a ${typeof s}`);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

const placeholder = (type: string): Call => (args) => new PickleObject(type, args);

const STORAGES = [
  "Float",
  "Double",
  "Half",
  "BFloat16",
  "Long",
  "Int",
  "Short",
  "Char",
  "Byte",
  "Bool",
].map((t) => `torch.${t}Storage`).concat(["torch.UntypedStorage"]);

const DTYPES = [
  "float32",
  "float",
  "float64",
  "double",
  "float16",
  "half",
  "bfloat16",
  "int64",
  "long",
  "int32",
  "int",
  "int16",
  "int8",
  "uint8",
  "bool",
].map((t) => `torch.${t}`);

const PLACEHOLDERS = [
  "argparse.Namespace",
  "torch.device",
  "pathlib.Path",
  "pathlib.PosixPath",
  "pathlib.WindowsPath",
  "pathlib.PurePosixPath",
  "pathlib.PureWindowsPath",
  "numpy.dtype",
  "numpy.ndarray",
  "numpy.core.multiarray.scalar",
  "numpy._core.multiarray.scalar",
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray._reconstruct",
];

/** Allowed globals; `null` means "a value that cannot be called" (storage types, dtypes). */
const TABLE = new Map<string, Call | null>([
  ["collections.OrderedDict", (a) => new Map(pairs(a[0]))],
  ["builtins.set", (a) => new Set(iterable(a[0]))],
  ["builtins.frozenset", (a) => new Set(iterable(a[0]))],
  ["builtins.list", (a) => [...iterable(a[0])]],
  ["builtins.tuple", (a) => [...iterable(a[0])]],
  ["builtins.bytearray", (a) => encodeLatin1(a[0] ?? new Uint8Array())],
  ["builtins.bytes", (a) => encodeLatin1(a[0] ?? new Uint8Array())],
  ["_codecs.encode", (a) => encodeLatin1(a[0])],
  ["torch._utils._rebuild_tensor_v2", rebuildTensor],
  ["torch._utils._rebuild_tensor", rebuildTensor],
  ["torch._utils._rebuild_parameter", (a) => a[0]],
  ["torch._utils._rebuild_parameter_with_state", (a) => a[0]],
  ["torch._tensor._rebuild_from_type_v2", ([func, , args]) => callGlobal(func, iterable(args))],
  ["torch.Size", (a) => [...iterable(a[0])]],
  ["torch.Tensor", null],
  ["builtins.object", null],
  ["torch.nn.parameter.Parameter", null],
  ...STORAGES.map((s): [string, null] => [s, null]),
  ...DTYPES.map((s): [string, null] => [s, null]),
  ...PLACEHOLDERS.map((s): [string, Call] => [s, placeholder(s)]),
]);
for (const m of ["copyreg", "copy_reg"]) {
  TABLE.set(`${m}._reconstructor`, ([cls]) => callGlobal(cls, []));
}

/** The qualified names an unpickled file may reference (`__builtin__.x` counts as `builtins.x`). */
export const PICKLE_ALLOWED_GLOBALS: readonly string[] = Object.freeze([...TABLE.keys()]);

function canonical(module: string, name: string): string {
  return `${module === "__builtin__" ? "builtins" : module}.${name}`;
}

/**
 * Looks a global up in the allowlist.
 * @throws {TypeError} `Cannot load pickle: global "os.system" is not allowed`.
 */
export function findGlobal(module: string, name: string): PickleGlobal {
  if (!TABLE.has(canonical(module, name))) {
    throw new TypeError(`Cannot load pickle: global "${module}.${name}" is not allowed`);
  }
  return new PickleGlobal(module, name);
}

/** Calls an allowed global with `args` (REDUCE / NEWOBJ). */
export function callGlobal(fn: unknown, args: Iterable<unknown>): unknown {
  if (!(fn instanceof PickleGlobal)) {
    throw new TypeError(`Cannot load pickle: current callable is a ${describe(fn)}, not a global`);
  }
  const call = TABLE.get(canonical(fn.module, fn.name));
  if (!call) {
    throw new TypeError(`Cannot load pickle: global "${fn.qualifiedName}" is not callable`);
  }
  return call([...args]);
}

/** A short description of a value's type for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "list";
  if (v instanceof Map) return "dict";
  if (v instanceof Uint8Array) return "bytes";
  if (v instanceof PickleGlobal) return `global ${v.qualifiedName}`;
  if (v instanceof PickleObject) return v.type;
  if (v instanceof PickleTensor) return "tensor";
  return typeof v;
}
