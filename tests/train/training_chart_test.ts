import assert from "node:assert/strict";
import { renderTrainingChart } from "../../lib/train/training_chart.ts";

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
