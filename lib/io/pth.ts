/**
 * Reads PyTorch `.pth` files without executing them: the zip format written
 * by `torch.save` since 1.6 and the legacy format (magic number, protocol
 * version, sys_info, main pickle, storage keys, raw storages) of the original
 * U2-Net weights. Unpickling goes through the allowlisting {@linkcode unpickle}.
 *
 * @module
 */
import { PickleTensor } from "./_pickle_globals.ts";
import { materialize, storageType, type TorchStorage } from "./_torch_storage.ts";
import { readZip, type ZipArchive, zipEntryData } from "./zip.ts";
import { unpickleAt } from "./pickle.ts";
import { numElements, type StateDict } from "./raw_tensor.ts";

/** What {@linkcode readPth} returns. */
export interface PthResult {
  /** The tensors (floats as F32, int64 as I64), keys without a `module.` prefix. */
  stateDict: StateDict;
  /** Which container the file used. */
  format: "zip" | "legacy";
  /** The checkpoint's `epoch`, when the file is a training checkpoint that has one. */
  epoch?: number;
  /** Other top-level keys of a training checkpoint (`optimizer`, `args`, …), ignored. */
  ignoredKeys: string[];
}

/**
 * Legacy magic number, pickled first in pre-1.6 `.pth` files.
 *
 * @example
 * ```ts
 * import { LEGACY_PTH_MAGIC } from "./pth.ts";
 * LEGACY_PTH_MAGIC.toString(16); // "1950a86a20f9469cfc6c"
 * ```
 */
export const LEGACY_PTH_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * True when `bytes` starts like a legacy `.pth` file (`\x80\x02\x8a\x0a` + magic).
 *
 * @example
 * ```ts
 * import { isLegacyPth } from "./pth.ts";
 * isLegacyPth(await Deno.readFile("tests/testdata/lite_orig_legacy.pth")); // true
 * ```
 */
export function isLegacyPth(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 14 || bytes[0] !== 0x80 || bytes[2] !== 0x8a || bytes[3] !== 0x0a) {
    return false;
  }
  let v = 0n;
  for (let i = 13; i >= 4; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v === LEGACY_PTH_MAGIC;
}

function newStorage(pid: unknown, what: string): [TorchStorage, unknown[]] {
  if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
    throw new TypeError(`Cannot read .pth: current persistent id ${what} is not a storage`);
  }
  const [, type, key, , numel] = pid;
  const typeName = (type as { name?: unknown })?.name;
  const mod = (type as { module?: unknown })?.module;
  if (mod !== "torch" || typeof typeName !== "string" || typeof numel !== "number") {
    throw new TypeError(`Cannot read .pth: current storage id ${what} is malformed`);
  }
  const [dtype, elemBytes] = storageType(typeName);
  return [{ key: String(key), dtype, elemBytes, numel }, pid];
}

/**
 * Reads a zip-format checkpoint from an already parsed (and inflated) archive.
 *
 * @example
 * ```ts
 * import { readPthArchive } from "./pth.ts";
 * import { inflateZip, readZip } from "./zip.ts";
 * const zip = await inflateZip(readZip(await Deno.readFile("tests/testdata/lite_wz.pth")));
 * readPthArchive(zip).stateDict.size; // 686
 * ```
 */
export function readPthArchive(zip: ZipArchive): PthResult {
  const pkl = [...zip.keys()].find((k) => k === "data.pkl" || /^[^/]*\/data\.pkl$/.test(k));
  if (!pkl) throw new TypeError("Cannot read .pth: current zip has no data.pkl entry");
  const prefix = pkl.slice(0, -"data.pkl".length);
  const order = zip.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(zipEntryData(order)).trim() !== "little") {
    throw new TypeError("Cannot read .pth: current byte order is big-endian");
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown) => {
    const [s] = newStorage(pid, "");
    const known = storages.get(s.key);
    if (known) return known;
    const entry = zip.get(`${prefix}data/${s.key}`);
    if (!entry) throw new TypeError(`Cannot read .pth: current zip lacks storage "${s.key}"`);
    const bytes = zipEntryData(entry);
    if (bytes.byteLength < s.numel * s.elemBytes) {
      throw new RangeError(
        `Cannot read .pth: storage "${s.key}" has ${bytes.byteLength} bytes, ` +
          `needs ${s.numel * s.elemBytes}`,
      );
    }
    s.bytes = bytes.subarray(0, s.numel * s.elemBytes);
    storages.set(s.key, s);
    return s;
  };
  const { value } = unpickleAt(zipEntryData(zip.get(pkl)!), 0, { persistentLoad });
  return finish(value, "zip", storageBytes(storages.values()));
}

function readLegacy(bytes: Uint8Array): PthResult {
  let pos = unpickleAt(bytes, 0).end;
  const protocol = unpickleAt(bytes, pos);
  if (protocol.value !== 1001) {
    throw new TypeError(`Cannot read legacy .pth: current protocol version is ${protocol.value}`);
  }
  const sysInfo = unpickleAt(bytes, protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get("little_endian") === false) {
    throw new TypeError("Cannot read legacy .pth: current byte order is big-endian");
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown) => {
    if (Array.isArray(pid) && pid[0] === "module") {
      throw new TypeError("Cannot read legacy .pth: current file pickles a whole module");
    }
    const [s, raw] = newStorage(pid, "");
    let root = storages.get(s.key);
    if (!root) storages.set(s.key, root = s);
    const view = raw[5];
    if (!Array.isArray(view)) return root;
    const [viewKey, offset, size] = view as [unknown, number, number];
    const key = String(viewKey);
    if (!storages.has(key)) {
      storages.set(key, { ...s, key, numel: size, root: { storage: root, offset } });
    }
    return storages.get(key);
  };
  const main = unpickleAt(bytes, sysInfo.end, { persistentLoad });
  const keys = unpickleAt(bytes, main.end);
  if (!Array.isArray(keys.value)) {
    throw new TypeError("Cannot read legacy .pth: current storage key list is not a list");
  }
  pos = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value) {
    const s = storages.get(String(key));
    if (!s) throw new TypeError(`Cannot read legacy .pth: storage "${key}" is never used`);
    if (pos + 8 > bytes.byteLength) {
      throw new RangeError(`Cannot read legacy .pth: current file ends before storage "${key}"`);
    }
    const numel = Number(view.getBigInt64(pos, true));
    const end = pos + 8 + numel * s.elemBytes;
    if (numel !== s.numel || end > bytes.byteLength) {
      throw new RangeError(
        `Cannot read legacy .pth: storage "${key}" has ${numel} elements of ${s.numel} ` +
          `(or the file is truncated at ${bytes.byteLength} bytes)`,
      );
    }
    s.bytes = bytes.subarray(pos + 8, end);
    pos = end;
  }
  return finish(main.value, "legacy", storageBytes(storages.values()));
}

/** Bytes of the root storages (views are parts of theirs). */
function storageBytes(storages: Iterable<TorchStorage>): number {
  let n = 0;
  for (const s of storages) if (!s.root) n += s.bytes?.byteLength ?? 0;
  return n;
}

/**
 * Tensors may share storages, but a small pickle naming one large storage
 * many times would otherwise copy it out as often: the tensors' bytes are
 * held to twice their storages' (+1 MiB).
 */
function checkBudget(sd: Map<unknown, unknown>, budget: number): void {
  let total = 0;
  for (const v of sd.values()) {
    if (!(v instanceof PickleTensor)) continue;
    const s = v.storage as Partial<TorchStorage> | null;
    total += numElements(v.shape) * (s?.elemBytes ?? 1);
  }
  if (total > 2 * budget + 2 ** 20) {
    throw new RangeError(
      `Cannot read .pth: current tensors take ${total} bytes, more than twice their storages' ${budget}`,
    );
  }
}

function finish(value: unknown, format: "zip" | "legacy", budget: number): PthResult {
  if (!(value instanceof Map)) {
    throw new TypeError(`Cannot read .pth: current top-level object is not a dict`);
  }
  let sd: Map<unknown, unknown> = value;
  const ignoredKeys: string[] = [];
  let epoch: number | undefined;
  const inner = ["model", "state_dict"].find((k) => value.get(k) instanceof Map);
  if (inner) {
    sd = value.get(inner) as Map<unknown, unknown>;
    for (const k of value.keys()) if (k !== inner) ignoredKeys.push(String(k));
    const e = value.get("epoch");
    if (typeof e === "number") epoch = e;
  }
  checkBudget(sd, budget);
  const stateDict: StateDict = new Map();
  const strip = [...sd.keys()].every((k) => typeof k === "string" && k.startsWith("module."));
  for (const [k, v] of sd) {
    const name = strip ? String(k).slice("module.".length) : String(k);
    if (!(v instanceof PickleTensor)) {
      throw new TypeError(`Cannot read .pth: current entry "${name}" is not a tensor`);
    }
    stateDict.set(name, materialize(v, name));
  }
  return { stateDict, format, epoch, ignoredKeys };
}

/**
 * Reads a `.pth` state dict or training checkpoint (`{model, optimizer, lr_scheduler,
 * epoch, args}`: `model` is taken, the rest ignored). Deflated zip entries are not
 * handled here; use `readWeights` for those.
 *
 * @example
 * ```ts
 * import { readPth } from "./pth.ts";
 * const { stateDict, format } = readPth(await Deno.readFile("tests/testdata/lite_wz.pth"));
 * format; // "zip"
 * stateDict.get("encode_modules.0.conv_in.conv.weight")!.shape; // [64, 3, 3, 3]
 * ```
 */
export function readPth(bytes: Uint8Array): PthResult {
  if (isLegacyPth(bytes)) return readLegacy(bytes);
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return readPthArchive(readZip(bytes));
  const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new TypeError(
    `Cannot read .pth: current file starts with bytes [${head}], neither zip nor legacy format`,
  );
}
