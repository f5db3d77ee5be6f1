/**
 * A dependency-free SVG chart of a training run: train loss, lr, MAE and
 * max F-β over epochs, in four panels.
 *
 * @module
 */
import type { EpochRecord } from "./results.ts";

interface Panel {
  title: string;
  color: string;
  points: [number, number][];
  digits: number;
}

const W = 960;
const H = 560;
const PW = 380; // panel plot width
const PH = 170; // panel plot height

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Tick values: about `n` round steps covering [lo, hi]. */
function ticks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function fmt(v: number, digits: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(1);
  return v.toFixed(digits);
}

function panel(p: Panel, x0: number, y0: number, epochs: [number, number]): string {
  const out: string[] = [`<g transform="translate(${x0},${y0})">`];
  out.push(
    `<text x="${PW / 2}" y="-10" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
  );
  out.push(`<rect width="${PW}" height="${PH}" fill="#fff" stroke="#999"/>`);
  if (p.points.length === 0) {
    out.push(
      `<text x="${PW / 2}" y="${PH / 2}" text-anchor="middle" fill="#888">no data yet</text>`,
    );
    return out.join("") + "</g>";
  }
  const ys = p.points.map(([, y]) => y);
  let [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  if (hi - lo < 1e-12) {
    [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05];
  }
  const [e0, e1] = epochs[1] > epochs[0] ? epochs : [epochs[0] - 0.5, epochs[0] + 0.5];
  const sx = (e: number) => ((e - e0) / (e1 - e0)) * PW;
  const sy = (v: number) => PH - ((v - lo) / (hi - lo)) * PH;
  for (const t of ticks(lo, hi, 4)) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="0" x2="${PW}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="-6" y="${y}" text-anchor="end" dy="4">${fmt(t, p.digits)}</text>`);
  }
  for (const t of ticks(e0, e1, 6).filter((t) => Number.isInteger(t))) {
    out.push(`<text x="${sx(t).toFixed(1)}" y="${PH + 16}" text-anchor="middle">${t}</text>`);
  }
  const path = p.points.map(([e, v]) => `${sx(e).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
  out.push(`<polyline points="${path}" fill="none" stroke="${p.color}" stroke-width="2"/>`);
  for (const [e, v] of p.points) {
    out.push(
      `<circle cx="${sx(e).toFixed(1)}" cy="${sy(v).toFixed(1)}" r="3" fill="${p.color}">` +
        `<title>epoch ${e}: ${fmt(v, p.digits + 2)}</title></circle>`,
    );
  }
  out.push(`<text x="${PW / 2}" y="${PH + 32}" text-anchor="middle" fill="#555">epoch</text>`);
  return out.join("") + "</g>";
}

/**
 * Renders the run's history as a standalone SVG document (train loss and lr
 * at every epoch, MAE and maxF at evaluated epochs).
 *
 * @example
 * ```ts
 * import { renderTrainingChart } from "./training_chart.ts";
 * const svg = renderTrainingChart([
 *   { epoch: 0, trainLoss: 3.1, lr: 1e-3, mae: 0.2, maxF: 0.5, seconds: 10 },
 *   { epoch: 1, trainLoss: 2.4, lr: 5e-4, seconds: 10 },
 * ], { title: "u2net_lite" });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function renderTrainingChart(
  history: readonly EpochRecord[],
  options: { title?: string } = {},
): string {
  const evals = history.filter((r) => r.mae !== undefined && r.maxF !== undefined);
  const panels: Panel[] = [
    {
      title: "train loss",
      color: "#1f77b4",
      points: history.map((r) => [r.epoch, r.trainLoss]),
      digits: 3,
    },
    {
      title: "learning rate",
      color: "#ff7f0e",
      points: history.map((r) => [r.epoch, r.lr]),
      digits: 4,
    },
    {
      title: "validation MAE",
      color: "#d62728",
      points: evals.map((r) => [r.epoch, r.mae!]),
      digits: 3,
    },
    {
      title: "validation maxF (β²=0.3)",
      color: "#2ca02c",
      points: evals.map((r) => [r.epoch, r.maxF!]),
      digits: 3,
    },
  ];
  const es = history.map((r) => r.epoch);
  const range: [number, number] = es.length ? [Math.min(...es), Math.max(...es)] : [0, 1];
  const body = panels.map((p, i) =>
    panel(p, 80 + (i % 2) * 470, 70 + Math.floor(i / 2) * 250, range)
  );
  const title = esc(options.title ?? "training");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif" font-size="11">\n<rect width="${W}" height="${H}" fill="#fafafa"/>\n` +
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${title}</text>\n` +
    body.join("\n") + "\n</svg>\n";
}
