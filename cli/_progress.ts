/**
 * Progress for CLI commands over many items: a bar with elapsed time and ETA
 * redrawn in place on a terminal, one plain line per item when piped. Notes
 * and lines are printed with control characters escaped (a file name with a
 * newline or an ANSI escape cannot forge lines or drive the terminal).
 *
 * @module
 */

// C0, DEL, C1, line/paragraph separators and the bidi controls.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_ONE = new RegExp(UNSAFE.source);
const hex4 = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * A name as it may be printed: unchanged when it holds no control
 * characters, else quoted and escaped like `JSON.stringify` (plus DEL, C1,
 * U+2028/9 and the bidi controls).
 *
 * @example
 * ```ts
 * import { printable } from "./_progress.ts";
 * printable("a.png"); // a.png
 * printable("a\nb.png"); // "a\nb.png" (quoted, with a backslash-n)
 * ```
 */
export function printable(name: string): string {
  return UNSAFE_ONE.test(name) ? JSON.stringify(name).replace(UNSAFE, hex4) : name;
}

/** `text` with every control character written as `\uXXXX` (no quotes added). */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, hex4);
}

/**
 * `n` and the noun, singular for 1: "1 file", "3 files".
 *
 * @example
 * ```ts
 * import { count } from "./_progress.ts";
 * [count(1, "file"), count(2, "entry", "entries")]; // ["1 file", "2 entries"]
 * ```
 */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** A progress reporter. */
export interface Progress {
  /** Marks one more item done, with an optional note (file name, status). */
  tick(note?: string): void;
  /** Prints a line (an error, a warning) without breaking the bar. */
  log(line: string): void;
  /** Ends the bar (a newline on a TTY). */
  done(): void;
}

/** Options of {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Prefix of each line. @default {""} */
  label?: string;
  /** Where to write. @default {Deno.stderr} */
  out?: { isTerminal(): boolean; writeSync(p: Uint8Array): number };
  /** Clock in ms. @default {performance.now} */
  now?: () => number;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return `${h ? `${h}:` : ""}${String(m).padStart(h ? 2 : 1, "0")}:${String(r).padStart(2, "0")}`;
}

/**
 * A bar with ETA on a terminal (`\r`-redrawn), plain lines otherwise.
 *
 * @example
 * ```ts
 * import { createProgress } from "./_common.ts";
 * const p = createProgress(2, { label: "predict" });
 * p.tick("a.png");
 * p.tick("b.png");
 * p.done();
 * ```
 */
export function createProgress(total: number, options: ProgressOptions = {}): Progress {
  const out = options.out ?? Deno.stderr;
  const now = options.now ?? (() => performance.now());
  const tty = out.isTerminal();
  const enc = new TextEncoder();
  const start = now();
  let n = 0;
  const label = options.label ? `${options.label} ` : "";
  return {
    tick(note = "") {
      n++;
      note = escapeControls(note);
      const elapsed = (now() - start) / 1000;
      const eta = n ? (elapsed / n) * (total - n) : Infinity;
      if (tty) {
        const width = 24, fill = Math.round((n / Math.max(total, 1)) * width);
        const bar = "#".repeat(fill) + "-".repeat(width - fill);
        const pct = Math.round((100 * n) / Math.max(total, 1));
        out.writeSync(enc.encode(
          `\r\x1b[2K${label}[${bar}] ${n}/${total} ${pct}% ${clock(elapsed)} ETA ${
            clock(eta)
          } ${note}`.slice(0, 200),
        ));
      } else {
        out.writeSync(enc.encode(`${label}${n}/${total} ${note} (${elapsed.toFixed(1)} s)\n`));
      }
    },
    log(line: string) {
      out.writeSync(enc.encode(`${tty ? "\r\x1b[2K" : ""}${escapeControls(line)}\n`));
    },
    done() {
      if (tty && n) out.writeSync(enc.encode("\n"));
    },
  };
}
