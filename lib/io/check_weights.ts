/**
 * Refuses weights that would load and then predict nonsense: NaN or ±Inf in
 * any floating tensor, or a negative BatchNorm `running_var` (its square
 * root is NaN). One tight pass over the floats (the full network's 44M in
 * ~40 ms).
 *
 * @module
 */
import type { RawTensor, StateDict } from "./raw_tensor.ts";

/** Index of the first NaN or ±Inf of a float array, or -1. */
function firstNonFinite(data: Float32Array | Float64Array): number {
  // x - x is 0 for every finite x and NaN for NaN and ±Inf.
  const n = data.length;
  let acc = 0;
  const block = 4096;
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    for (let i = start; i < end; i++) acc += data[i] - data[i];
    if (acc !== 0) {
      for (let i = start; i < end; i++) if (data[i] - data[i] !== 0) return i;
    }
  }
  return -1;
}

/** Half-precision bits (F16): exponent all ones is Inf or NaN. */
function firstNonFiniteF16(data: Uint16Array): number {
  for (let i = 0; i < data.length; i++) if ((data[i] & 0x7c00) === 0x7c00) return i;
  return -1;
}

/** What is wrong with one tensor (`"has NaN at index 17"`), or null. */
function tensorProblem(name: string, t: RawTensor): string | null {
  let i = -1;
  if (t.dtype === "F32" || t.dtype === "F64") i = firstNonFinite(t.data as Float32Array);
  else if (t.dtype === "F16") i = firstNonFiniteF16(t.data as Uint16Array);
  else return null;
  if (i >= 0) {
    const v = t.dtype === "F16" ? ((t.data[i] as number) & 0x3ff ? NaN : Infinity) : t.data[i];
    return `has ${Number.isNaN(v) ? "NaN" : v} at index ${i}`;
  }
  if (/(^|\.)running_var$/.test(name) && t.dtype !== "F16") {
    const d = t.data as Float32Array;
    for (let j = 0; j < d.length; j++) {
      if (d[j] < 0) return `has a negative variance ${d[j]} at index ${j}`;
    }
  }
  return null;
}

/**
 * Throws a one-line `RangeError` naming the file and the first bad tensor
 * when any floating tensor holds NaN or ±Inf or a `running_var` is negative;
 * returns the state dict unchanged otherwise.
 *
 * @param stateDict The tensors just read.
 * @param filename The file, for the message ("" when unknown).
 * @throws {RangeError} "Cannot load weights from FILE: tensor NAME has NaN at index I".
 * @example
 * ```ts
 * import { checkWeights } from "./check_weights.ts";
 * const sd = new Map([["w", { dtype: "F32" as const, shape: [2], data: new Float32Array([1, NaN]) }]]);
 * try {
 *   checkWeights(sd, "a.pth");
 * } catch (e) {
 *   console.log((e as Error).message); // Cannot load weights from a.pth: tensor w has NaN at index 1
 * }
 * ```
 */
export function checkWeights<T extends StateDict>(stateDict: T, filename = ""): T {
  for (const [name, t] of stateDict) {
    const problem = tensorProblem(name, t);
    if (problem) {
      throw new RangeError(
        `Cannot load weights${filename ? ` from ${filename}` : ""}: tensor ${name} ${problem}`,
      );
    }
  }
  return stateDict;
}

/**
 * The same error with `filename` in its message, when it does not name it yet
 * ("Cannot read zip (w.pth): current file …"); other values come back as they are.
 *
 * @example
 * ```ts
 * import { namingFile } from "./check_weights.ts";
 * namingFile(new RangeError("Cannot read zip: current file is short"), "w.pth").message;
 * // "Cannot read zip (w.pth): current file is short"
 * ```
 */
export function namingFile<E>(e: E, filename: string): E {
  if (!filename || !(e instanceof TypeError || e instanceof RangeError)) return e;
  if (e.message.includes(filename) || !/^Cannot [^:\n]*:/.test(e.message)) return e;
  const Ctor = e instanceof RangeError ? RangeError : TypeError;
  return new Ctor(e.message.replace(/^(Cannot [^:\n]*):/, `$1 (${filename}):`)) as E;
}
