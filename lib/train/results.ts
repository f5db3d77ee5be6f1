/**
 * The seed's results file: `results{YYYYmmdd-HHMMSS}.txt`, one line per
 * evaluated epoch (spec §5.1).
 *
 * @module
 */

/** One epoch of a training run. */
export interface EpochRecord {
  /** Epoch (0-based). */
  epoch: number;
  /** Mean training loss of the epoch. */
  trainLoss: number;
  /** Lr after the epoch's last scheduler step (group 0). */
  lr: number;
  /** Validation MAE, when the epoch was evaluated. */
  mae?: number;
  /** Validation max F-β (β² = 0.3), when the epoch was evaluated. */
  maxF?: number;
  /** Seconds the epoch took (training and evaluation). */
  seconds: number;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/**
 * `results{YYYYmmdd-HHMMSS}.txt` for a local time, like the seed's
 * `datetime.datetime.now().strftime("%Y%m%d-%H%M%S")`.
 *
 * @example
 * ```ts
 * import { resultsFileName } from "./results.ts";
 * console.log(resultsFileName(new Date(2022, 6, 23, 12, 36, 32))); // "results20220723-123632.txt"
 * ```
 */
export function resultsFileName(date: Date = new Date()): string {
  const d = `${date.getFullYear()}${pad2(date.getMonth() + 1)}${pad2(date.getDate())}`;
  const t = `${pad2(date.getHours())}${pad2(date.getMinutes())}${pad2(date.getSeconds())}`;
  return `results${d}-${t}.txt`;
}

/**
 * The seed's results line, trailing space and newline included:
 * `[epoch: {e}] train_loss: {loss:.4f} lr: {lr:.6f} MAE: {mae:.3f} maxF1: {f:.3f} \n`.
 *
 * @throws {RangeError} When the record has no evaluation.
 * @example
 * ```ts
 * import { formatResultsLine } from "./results.ts";
 * formatResultsLine({ epoch: 0, trainLoss: 1.23456, lr: 0.002, mae: 0.0444, maxF: 0.8681, seconds: 1 });
 * // "[epoch: 0] train_loss: 1.2346 lr: 0.002000 MAE: 0.044 maxF1: 0.868 \n"
 * ```
 */
export function formatResultsLine(r: EpochRecord): string {
  if (r.mae === undefined || r.maxF === undefined) {
    throw new RangeError(`Cannot format results line: current epoch ${r.epoch} was not evaluated`);
  }
  return `[epoch: ${r.epoch}] train_loss: ${r.trainLoss.toFixed(4)} lr: ${r.lr.toFixed(6)} ` +
    `MAE: ${r.mae.toFixed(3)} maxF1: ${r.maxF.toFixed(3)} \n`;
}

/** Regular expression of a results line; groups: epoch, loss, lr, MAE, maxF. */
export const RESULTS_LINE_PATTERN =
  /^\[epoch: (\d+)\] train_loss: (\d+\.\d{4}) lr: (\d+\.\d{6}) MAE: (\d+\.\d{3}) maxF1: (\d+\.\d{3}) $/;

/** Best validation scores so far (this port updates them; the seed never did). */
export interface BestScores {
  /** Epoch of the best checkpoint. */
  epoch: number;
  /** Its MAE. */
  mae: number;
  /** Its max F-β. */
  maxF: number;
}

/**
 * The intended best-model rule: MAE not worse **and** maxF not worse than the
 * best so far (the first evaluation always qualifies). The seed writes
 * `if current_mae >= mae and current_f1 <= f1` but never updates its trackers,
 * so it saves at every evaluation; here the trackers are updated on save.
 *
 * @example
 * ```ts
 * import { isBetter } from "./results.ts";
 * isBetter({ mae: 0.05, maxF: 0.8 }, { epoch: 0, mae: 0.06, maxF: 0.8 }); // true
 * isBetter({ mae: 0.05, maxF: 0.7 }, { epoch: 0, mae: 0.06, maxF: 0.8 }); // false
 * ```
 */
export function isBetter(
  current: { mae: number; maxF: number },
  best: BestScores | null | undefined,
): boolean {
  if (!Number.isFinite(current.mae) || !Number.isFinite(current.maxF)) return false;
  return !best || (current.mae <= best.mae && current.maxF >= best.maxF);
}
