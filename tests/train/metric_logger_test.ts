import assert from "node:assert/strict";
import {
  formatDuration,
  formatProgressLine,
  SmoothedValue,
} from "../../lib/train/metric_logger.ts";

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
