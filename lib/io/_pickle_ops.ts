/**
 * The unpickler's state machine and opcode table (protocols 0-5, minus
 * extension registries and out-of-band buffers). Globals go through the
 * allowlist in `_pickle_globals.ts`; state lives in `_pickle_machine.ts`.
 *
 * @module
 */
import { callGlobal, describe, findGlobal, PickleObject, PickleTensor } from "./_pickle_globals.ts";
import { MARK, type PickleMachine } from "./_pickle_machine.ts";

const utf8 = new TextDecoder();

function fromLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

function parseIntText(s: string, at: number): number | bigint | boolean {
  if (s === "00") return false;
  if (s === "01") return true;
  const t = s.endsWith("L") ? s.slice(0, -1) : s;
  if (!/^[-+]?\d+$/.test(t)) {
    throw new TypeError(`Cannot load pickle: integer "${s}" at byte ${at}`);
  }
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode(...b.subarray(i, i + 4096));
  }
  return s;
}

/** Protocol 0 UNICODE: latin-1 text with `\\uXXXX` / `\\UXXXXXXXX` escapes. */
function rawUnicodeEscape(s: string): string {
  return s.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, u, U) => String.fromCodePoint(parseInt(u ?? U, 16)),
  );
}

function setItems(target: unknown, items: unknown[], at: number): void {
  if (!(target instanceof Map)) {
    throw new TypeError(`Cannot load pickle: SETITEM on a ${describe(target)} at byte ${at}`);
  }
  for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
}

function appendItems(target: unknown, items: unknown[], at: number): void {
  if (Array.isArray(target)) target.push(...items);
  else if (target instanceof Set) items.forEach((x) => target.add(x));
  else throw new TypeError(`Cannot load pickle: APPEND on a ${describe(target)} at byte ${at}`);
}

function build(target: unknown, state: unknown, at: number): void {
  if (target instanceof PickleObject) target.state = state;
  else if (!(target instanceof Map) && !(target instanceof PickleTensor)) {
    throw new TypeError(`Cannot load pickle: BUILD on a ${describe(target)} at byte ${at}`);
  }
}

function persistent(m: PickleMachine, pid: unknown, at: number): unknown {
  if (!m.persistentLoad) {
    throw new TypeError(`Cannot load pickle: persistent id at byte ${at} has no loader`);
  }
  return m.persistentLoad(pid);
}

/** The opcode table, indexed by opcode byte; each entry runs one opcode (its byte at `at`). */
export function createOpcodes(m: PickleMachine): Array<((at: number) => void) | undefined> {
  const ops: Array<((at: number) => void) | undefined> = new Array(256);
  const op = (c: string | number, f: (at: number) => void) => {
    ops[typeof c === "number" ? c : c.charCodeAt(0)] = f;
  };
  const push = (v: unknown) => m.stack.push(v);
  const tuple = (n: number) => (at: number) => {
    const items = Array.from({ length: n }, () => m.pop(at)).reverse();
    push(items);
  };
  // Framing and protocol.
  op(0x80, () => m.uint(1));
  op(0x95, () => m.uint(8));
  // Stack manipulation.
  op("(", () => push(MARK));
  op("0", (at) => m.pop(at));
  op("1", (at) => m.popMark(at));
  op("2", (at) => push(m.top(at)));
  // Constants and numbers.
  op("N", () => push(null));
  op(0x88, () => push(true));
  op(0x89, () => push(false));
  op("I", (at) => push(parseIntText(m.line(), at)));
  op("L", (at) => push(parseIntText(m.line(), at)));
  op("J", () => push(m.int32()));
  op("K", () => push(m.uint(1)));
  op("M", () => push(m.uint(2)));
  op(0x8a, () => push(fromLong(m.take(m.uint(1)))));
  op(0x8b, () => push(fromLong(m.take(m.int32()))));
  op("F", () => push(parseFloat(m.line())));
  op("G", () => push(m.float64()));
  // Strings and bytes.
  op("S", () => push(latin1(m.rawLine()).replace(/^(['"])(.*)\1$/, "$2")));
  op("T", () => push(latin1(m.take(m.int32()))));
  op("U", () => push(latin1(m.take(m.uint(1)))));
  op("V", () => push(rawUnicodeEscape(latin1(m.rawLine()))));
  op("X", () => push(utf8.decode(m.take(m.uint(4)))));
  op(0x8c, () => push(utf8.decode(m.take(m.uint(1)))));
  op(0x8d, () => push(utf8.decode(m.take(m.uint(8)))));
  op("B", () => push(m.take(m.uint(4)).slice()));
  op("C", () => push(m.take(m.uint(1)).slice()));
  op(0x8e, () => push(m.take(m.uint(8)).slice()));
  op(0x96, () => push(m.take(m.uint(8)).slice()));
  // Containers.
  op(")", () => push([]));
  op("t", (at) => push(m.popMark(at)));
  op(0x85, tuple(1));
  op(0x86, tuple(2));
  op(0x87, tuple(3));
  op("]", () => push([]));
  op("l", (at) => push(m.popMark(at)));
  op("a", (at) => {
    const v = m.pop(at);
    appendItems(m.top(at), [v], at);
  });
  op("e", (at) => {
    const items = m.popMark(at);
    appendItems(m.top(at), items, at);
  });
  op("}", () => push(new Map()));
  op("d", (at) => {
    const d = new Map();
    setItems(d, m.popMark(at), at);
    push(d);
  });
  op("s", (at) => {
    const v = m.pop(at);
    const k = m.pop(at);
    setItems(m.top(at), [k, v], at);
  });
  op("u", (at) => {
    const items = m.popMark(at);
    setItems(m.top(at), items, at);
  });
  op(0x8f, () => push(new Set()));
  op(0x90, (at) => {
    const items = m.popMark(at);
    appendItems(m.top(at), items, at);
  });
  op(0x91, (at) => push(new Set(m.popMark(at))));
  // Globals and object construction (allowlisted only).
  op("c", () => {
    const module = m.line();
    push(findGlobal(module, m.line()));
  });
  op(0x93, (at) => {
    const name = m.pop(at);
    const module = m.pop(at);
    if (typeof module !== "string" || typeof name !== "string") {
      throw new TypeError(`Cannot load pickle: STACK_GLOBAL needs strings at byte ${at}`);
    }
    push(findGlobal(module, name));
  });
  op("i", (at) => {
    const module = m.line();
    const cls = findGlobal(module, m.line());
    push(callGlobal(cls, m.popMark(at)));
  });
  op("o", (at) => {
    const [cls, ...args] = m.popMark(at);
    push(callGlobal(cls, args));
  });
  op("R", (at) => {
    const args = m.pop(at);
    const fn = m.pop(at);
    if (!Array.isArray(args)) throw new TypeError(`Cannot load pickle: REDUCE args at byte ${at}`);
    push(callGlobal(fn, args));
  });
  op(0x81, (at) => {
    const args = m.pop(at);
    const cls = m.pop(at);
    push(callGlobal(cls, Array.isArray(args) ? args : []));
  });
  op(0x92, (at) => {
    m.pop(at); // kwargs
    const args = m.pop(at);
    const cls = m.pop(at);
    push(callGlobal(cls, Array.isArray(args) ? args : []));
  });
  op("b", (at) => {
    const state = m.pop(at);
    build(m.top(at), state, at);
  });
  op("P", (at) => push(persistent(m, m.line(), at)));
  op("Q", (at) => push(persistent(m, m.pop(at), at)));
  // Memo.
  op("p", (at) => m.memo.set(Number(parseIntText(m.line(), at)), m.top(at)));
  op("q", (at) => m.memo.set(m.uint(1), m.top(at)));
  op("r", (at) => m.memo.set(m.uint(4), m.top(at)));
  op(0x94, (at) => m.memo.set(m.memo.size, m.top(at)));
  op("g", (at) => push(m.get(Number(parseIntText(m.line(), at)), at)));
  op("h", (at) => push(m.get(m.uint(1), at)));
  op("j", (at) => push(m.get(m.uint(4), at)));
  return ops;
}
