/**
 * Progress for CLI commands over many items: a bar with elapsed time and ETA
 * redrawn in place on a terminal, one plain line per item when piped.
 *
 * @module
 */

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
      out.writeSync(enc.encode(`${tty ? "\r\x1b[2K" : ""}${line}\n`));
    },
    done() {
      if (tty && n) out.writeSync(enc.encode("\n"));
    },
  };
}
