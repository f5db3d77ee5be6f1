/**
 * A byte progress bar for downloads: bytes, rate and ETA redrawn in place on
 * a terminal (at most every 100 ms), a plain line at each quarter when piped.
 *
 * @module
 */

/** A download progress reporter. */
export interface ByteProgress {
  /** Reports the bytes received so far. */
  update(received: number): void;
  /** Ends the bar (a newline on a terminal). */
  done(): void;
}

/** Options of {@linkcode createByteProgress}. */
export interface ByteProgressOptions {
  /** Prefix of each line. @default {""} */
  label?: string;
  /** Where to write. @default {Deno.stderr} */
  out?: { isTerminal(): boolean; writeSync(p: Uint8Array): number };
  /** Clock in ms. @default {performance.now} */
  now?: () => number;
}

/** Bytes in decimal megabytes, e.g. "4.6 MB". */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return `${h ? `${h}:` : ""}${String(m).padStart(h ? 2 : 1, "0")}:${String(r).padStart(2, "0")}`;
}

/**
 * A progress bar for a download of `total` bytes.
 *
 * @example
 * ```ts
 * import { createByteProgress } from "./download_progress.ts";
 * const bar = createByteProgress(4_574_861, { label: "u2netp" });
 * bar.update(4_574_861);
 * bar.done();
 * ```
 */
export function createByteProgress(total: number, options: ByteProgressOptions = {}): ByteProgress {
  const out = options.out ?? Deno.stderr;
  const now = options.now ?? (() => performance.now());
  const tty = out.isTerminal();
  const enc = new TextEncoder();
  const label = options.label ? `${options.label} ` : "";
  const start = now();
  let lastDraw = -Infinity, quarter = 0, last = 0, drawn = false;
  const line = (received: number) => {
    const elapsed = (now() - start) / 1000;
    const rate = elapsed > 0 ? received / elapsed : 0;
    const eta = rate > 0 ? (total - received) / rate : Infinity;
    const pct = Math.floor((100 * received) / Math.max(total, 1));
    return `${formatBytes(received)} / ${formatBytes(total)} ${pct}% ${formatBytes(rate)}/s ETA ${
      clock(eta)
    }`;
  };
  return {
    update(received) {
      last = received;
      if (tty) {
        const t = now();
        if (t - lastDraw < 100 && received < total) return;
        lastDraw = t;
        const width = 24, fill = Math.round((received / Math.max(total, 1)) * width);
        out.writeSync(
          enc.encode(
            `\r\x1b[2K${label}[${"#".repeat(fill)}${"-".repeat(width - fill)}] ${line(received)}`,
          ),
        );
        drawn = true;
      } else {
        const q = Math.floor((4 * received) / Math.max(total, 1));
        if (q > quarter) {
          quarter = q;
          out.writeSync(enc.encode(`${label}${line(received)}\n`));
        }
      }
    },
    done() {
      if (tty && drawn) out.writeSync(enc.encode("\n"));
      else if (!tty && last > 0 && quarter === 0) {
        out.writeSync(enc.encode(`${label}${line(last)}\n`));
      }
    },
  };
}
