/**
 * Text progress bars for terminals (the CLI draws them; this only formats).
 *
 * @module
 */
import { formatDuration } from "./metric_logger.ts";
import type { TrainProgress } from "./train_one_epoch.ts";

/** Options of {@linkcode formatProgressBar}. */
export interface ProgressBarOptions {
  /** Cells of the bar. @default {24} */
  width?: number;
  /** Total epochs, shown as `epoch e/E`. @default {undefined} */
  epochs?: number;
}

/**
 * One terminal line for a progress record, e.g.
 * `epoch 2/5 train [██████······]  12/24  loss 1.2345  lr 0.000500  eta 0:00:31`.
 *
 * @example
 * ```ts
 * import { formatProgressBar } from "./progress_bar.ts";
 * formatProgressBar({ phase: "eval", epoch: 1, done: 5, total: 10 }, { width: 4 });
 * // "epoch 1 eval  [██··]  5/10"
 * ```
 */
export function formatProgressBar(p: TrainProgress, options: ProgressBarOptions = {}): string {
  const width = options.width ?? 24;
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  const full = Math.round(frac * width);
  const bar = "█".repeat(full) + "·".repeat(width - full);
  const epoch = p.phase === "check"
    ? "checking data"
    : `epoch ${p.epoch}${options.epochs ? `/${options.epochs}` : ""} ${p.phase.padEnd(5)}`;
  const parts = [
    `${epoch} [${bar}]`,
    `${String(p.done).padStart(String(p.total).length)}/${p.total}`,
  ];
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.lr !== undefined) parts.push(`lr ${p.lr.toFixed(6)}`);
  if (p.etaSeconds !== undefined) parts.push(`eta ${formatDuration(p.etaSeconds)}`);
  return parts.join("  ");
}
