import assert from "node:assert/strict";
import { formatProgressBar } from "../../lib/train/progress_bar.ts";

Deno.test("formatProgressBar() shows phase, bar, counts, loss and eta", () => {
  const line = formatProgressBar(
    { phase: "train", epoch: 2, done: 6, total: 12, loss: 1.5, lr: 0.0005, etaSeconds: 31 },
    { width: 4, epochs: 5 },
  );
  assert.equal(line, "epoch 2/5 train [██··]   6/12  loss 1.5000  lr 0.000500  eta 0:00:31");
});
