import assert from "node:assert/strict";
import {
  formatResultsLine,
  isBetter,
  RESULTS_LINE_PATTERN,
  resultsFileName,
} from "../../lib/train/results.ts";

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
