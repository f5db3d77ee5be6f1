/**
 * The unpickler's stack, memo and byte reader.
 *
 * @module
 */

/** Sentinel pushed by the MARK opcode. */
export const MARK: unique symbol = Symbol("mark");
const utf8 = new TextDecoder();

/** Stack, memo and reader of one unpickling run. */
export class PickleMachine {
  /** The value stack (MARK entries are pushed as a sentinel). */
  stack: unknown[] = [];
  /** Memo slots. */
  memo = new Map<number, unknown>();
  private view: DataView;
  /** Creates a machine reading `bytes` from `pos`. */
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly persistentLoad?: (pid: unknown) => unknown,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Returns the next `n` bytes (a view) and advances. */
  take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.bytes.byteLength) {
      throw new RangeError(
        `Cannot load pickle: current data ends at byte ${this.bytes.byteLength}, ` +
          `${n} bytes needed at ${this.pos}`,
      );
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** Reads a little-endian unsigned integer of 1, 2, 4 or 8 bytes. */
  uint(n: 1 | 2 | 4 | 8): number {
    const p = this.pos;
    this.take(n);
    if (n === 1) return this.view.getUint8(p);
    if (n === 2) return this.view.getUint16(p, true);
    if (n === 4) return this.view.getUint32(p, true);
    return Number(this.view.getBigUint64(p, true));
  }
  /** Reads a signed 32-bit little-endian integer. */
  int32(): number {
    const p = this.pos;
    this.take(4);
    return this.view.getInt32(p, true);
  }
  /** Reads a big-endian float64. */
  float64(): number {
    const p = this.pos;
    this.take(8);
    return this.view.getFloat64(p, false);
  }
  /** Reads a text line (protocol 0 arguments) without its newline, as raw bytes. */
  rawLine(): Uint8Array {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) {
      throw new RangeError(`Cannot load pickle: current line at byte ${this.pos} never ends`);
    }
    const b = this.bytes.subarray(this.pos, nl);
    this.pos = nl + 1;
    return b;
  }
  /** Reads a text line as UTF-8. */
  line(): string {
    return utf8.decode(this.rawLine());
  }
  /** Pops one value. */
  pop(at: number): unknown {
    if (this.stack.length === 0) {
      throw new TypeError(`Cannot load pickle: current stack is empty at byte ${at}`);
    }
    const v = this.stack.pop();
    if (v === MARK) {
      throw new TypeError(`Cannot load pickle: current value at byte ${at} is a MARK`);
    }
    return v;
  }
  /** Pops everything down to the topmost MARK. */
  popMark(at: number): unknown[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) throw new TypeError(`Cannot load pickle: current stack has no MARK at byte ${at}`);
    const items = this.stack.slice(i + 1);
    this.stack.length = i;
    return items;
  }
  /** The top value, not popped. */
  top(at: number): unknown {
    const v = this.pop(at);
    this.stack.push(v);
    return v;
  }
  /** Reads a memo slot. */
  get(i: number, at: number): unknown {
    if (!this.memo.has(i)) {
      throw new TypeError(`Cannot load pickle: memo ${i} is unset at byte ${at}`);
    }
    return this.memo.get(i);
  }
}
