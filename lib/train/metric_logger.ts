/**
 * The seed's console progress (torchvision-style `MetricLogger` /
 * `SmoothedValue`), as strings handed to a callback: this library never prints.
 *
 * @module
 */

/**
 * A running series: the median and mean of the last `window` values plus the
 * global average (the seed's `SmoothedValue`).
 *
 * @example
 * ```ts
 * import { SmoothedValue } from "./metric_logger.ts";
 * const v = new SmoothedValue(2);
 * [1, 2, 6].forEach((x) => v.update(x));
 * console.log(v.median, v.globalAvg); // 2 3  (window [2, 6]: torch.median takes the lower middle)
 * ```
 */
export class SmoothedValue {
  readonly #window: number;
  readonly #values: number[] = [];
  #total = 0;
  #count = 0;

  /** Keeps the last `window` values (the seed uses 20). */
  constructor(window = 20) {
    this.#window = window;
  }

  /** Adds a value. */
  update(value: number): void {
    this.#values.push(value);
    if (this.#values.length > this.#window) this.#values.shift();
    this.#total += value;
    this.#count++;
  }

  /** Lower median of the window (`torch.median` semantics); NaN when empty. */
  get median(): number {
    if (!this.#values.length) return NaN;
    const s = [...this.#values].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)];
  }

  /** Mean of the window. */
  get avg(): number {
    return this.#values.reduce((a, b) => a + b, 0) / this.#values.length;
  }

  /** Mean of every value seen. */
  get globalAvg(): number {
    return this.#total / this.#count;
  }

  /** Last value. */
  get value(): number {
    return this.#values[this.#values.length - 1];
  }

  /** Number of values seen. */
  get count(): number {
    return this.#count;
  }
}

/**
 * Seconds as Python's `str(datetime.timedelta(seconds=int(s)))`: `H:MM:SS`,
 * with `N day(s), ` in front past 24 h.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./metric_logger.ts";
 * console.log(formatDuration(3725.9)); // "1:02:05"
 * ```
 */
export function formatDuration(seconds: number): string {
  const s = Number.isFinite(seconds) ? Math.max(0, Math.floor(seconds)) : 0;
  const days = Math.floor(s / 86400);
  const rest = s % 86400;
  const hms = `${Math.floor(rest / 3600)}:${
    String(Math.floor((rest % 3600) / 60)).padStart(2, "0")
  }:${String(rest % 60).padStart(2, "0")}`;
  return days ? `${days} day${days > 1 ? "s" : ""}, ${hms}` : hms;
}

/** One iteration's numbers for {@linkcode formatProgressLine}. */
export interface ProgressFields {
  /** Epoch. */
  epoch: number;
  /** Iteration in the epoch (0-based). */
  step: number;
  /** Iterations in the epoch. */
  steps: number;
  /** Estimated seconds left in the epoch. */
  etaSeconds: number;
  /** Current lr. */
  lr: number;
  /** Loss series. */
  loss: SmoothedValue;
  /** Seconds per iteration series. */
  iterTime: SmoothedValue;
  /** Seconds waiting for data series. */
  dataTime: SmoothedValue;
}

/**
 * The seed's progress line, fields joined by two spaces:
 * `Epoch: [e]  [ i/N]  eta: H:MM:SS  lr: 0.000123  loss: 0.1234 (0.2345)  time: 0.5123  data: 0.0012`
 * (loss: median of the last 20 (global average); time, data: means of the last 20).
 *
 * @example
 * ```ts
 * import { formatProgressLine, SmoothedValue } from "./metric_logger.ts";
 * const v = () => { const s = new SmoothedValue(); s.update(0.5); return s; };
 * formatProgressLine({ epoch: 0, step: 0, steps: 10, etaSeconds: 5, lr: 1e-3,
 *   loss: v(), iterTime: v(), dataTime: v() });
 * ```
 */
export function formatProgressLine(f: ProgressFields): string {
  const width = String(f.steps).length;
  return [
    `Epoch: [${f.epoch}]`,
    `[${String(f.step).padStart(width)}/${f.steps}]`,
    `eta: ${formatDuration(f.etaSeconds)}`,
    `lr: ${f.lr.toFixed(6)}`,
    `loss: ${f.loss.median.toFixed(4)} (${f.loss.globalAvg.toFixed(4)})`,
    `time: ${f.iterTime.avg.toFixed(4)}`,
    `data: ${f.dataTime.avg.toFixed(4)}`,
  ].join("  ");
}
