import assert from "node:assert/strict";
import {
  formatResultsLine,
  isBetter,
  RESULTS_LINE_PATTERN,
  resultsFileName,
} from "../../lib/train/results.ts";
import { formatDuration, formatProgressLine, SmoothedValue } from "../../lib/train/metric_logger.ts";
import { renderTrainingChart } from "../../lib/train/training_chart.ts";
import { formatProgressBar } from "../../lib/train/progress_bar.ts";

Deno.test("formatResultsLine() writes the seed's line, trailing space included", () => {
  const line = formatResultsLine({
    epoch: 10,
    trainLoss: 1.234567,
    lr: 0.0039991234,
    mae: 0.04449,
    maxF: 0.8681,
    seconds: 1,
  });
  assert.equal(line, "[epoch: 10] train_loss: 1.2346 lr: 0.003999 MAE: 0.044 maxF1: 0.868 \n");
  assert.match(line.slice(0, -1), RESULTS_LINE_PATTERN);
  assert.throws(() => formatResultsLine({ epoch: 1, trainLoss: 1, lr: 1, seconds: 0 }), RangeError);
});

Deno.test("resultsFileName() uses the seed's %Y%m%d-%H%M%S stamp", () => {
  assert.equal(resultsFileName(new Date(2022, 6, 23, 12, 36, 32)), "results20220723-123632.txt");
  assert.equal(resultsFileName(new Date(2023, 0, 2, 3, 4, 5)), "results20230102-030405.txt");
});

Deno.test("isBetter() requires MAE not worse and maxF not worse", () => {
  assert.ok(isBetter({ mae: 0.1, maxF: 0.5 }, null));
  const best = { epoch: 0, mae: 0.1, maxF: 0.5 };
  assert.ok(isBetter({ mae: 0.1, maxF: 0.5 }, best));
  assert.ok(isBetter({ mae: 0.09, maxF: 0.6 }, best));
  assert.ok(!isBetter({ mae: 0.09, maxF: 0.49 }, best));
  assert.ok(!isBetter({ mae: 0.11, maxF: 0.6 }, best));
  assert.ok(!isBetter({ mae: NaN, maxF: 0.6 }, null));
});

Deno.test("SmoothedValue() keeps a window median and a global average", () => {
  const v = new SmoothedValue(3);
  [5, 1, 4, 2, 3].forEach((x) => v.update(x));
  assert.equal(v.median, 3); // window [4, 2, 3]
  assert.equal(v.avg, 3);
  assert.equal(v.globalAvg, 3);
  v.update(10);
  assert.equal(v.median, 3); // window [2, 3, 10]
  assert.equal(v.count, 6);
  const even = new SmoothedValue(4);
  [1, 2, 3, 4].forEach((x) => even.update(x));
  assert.equal(even.median, 2); // torch.median: lower middle
});

Deno.test("formatDuration() matches Python's str(timedelta)", () => {
  assert.equal(formatDuration(0), "0:00:00");
  assert.equal(formatDuration(59.9), "0:00:59");
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatDuration(90061), "1 day, 1:01:01");
  assert.equal(formatDuration(2 * 86400), "2 days, 0:00:00");
});

Deno.test("formatProgressLine() joins the MetricLogger fields with two spaces", () => {
  const s = (...xs: number[]) => {
    const v = new SmoothedValue();
    xs.forEach((x) => v.update(x));
    return v;
  };
  const line = formatProgressLine({
    epoch: 3,
    step: 5,
    steps: 660,
    etaSeconds: 3725,
    lr: 0.000123,
    loss: s(1, 2, 4),
    iterTime: s(0.5),
    dataTime: s(0.01),
  });
  assert.equal(
    line,
    "Epoch: [3]  [  5/660]  eta: 1:02:05  lr: 0.000123  loss: 2.0000 (2.3333)  time: 0.5000  data: 0.0100",
  );
});

Deno.test("renderTrainingChart() draws four panels with one point per epoch", () => {
  const svg = renderTrainingChart([
    { epoch: 0, trainLoss: 3, lr: 1e-3, mae: 0.2, maxF: 0.5, seconds: 1 },
    { epoch: 1, trainLoss: 2, lr: 5e-4, seconds: 1 },
    { epoch: 2, trainLoss: 1.5, lr: 1e-6, mae: 0.1, maxF: 0.7, seconds: 1 },
  ], { title: "a<b" });
  assert.ok(svg.startsWith("<svg xmlns="));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.equal((svg.match(/<polyline/g) ?? []).length, 4);
  assert.equal((svg.match(/<circle/g) ?? []).length, 3 + 3 + 2 + 2);
  assert.ok(svg.includes("a&lt;b"));
  assert.ok(!svg.includes("NaN"));
  const empty = renderTrainingChart([]);
  assert.ok(empty.includes("no data yet"));
});

Deno.test("formatProgressBar() shows phase, bar, counts, loss and eta", () => {
  const line = formatProgressBar(
    { phase: "train", epoch: 2, done: 6, total: 12, loss: 1.5, lr: 0.0005, etaSeconds: 31 },
    { width: 4, epochs: 5 },
  );
  assert.equal(line, "epoch 2/5 train [██··]   6/12  loss 1.5000  lr 0.000500  eta 0:00:31");
});
