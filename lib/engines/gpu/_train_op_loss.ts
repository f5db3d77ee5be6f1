/**
 * The criterion of the training-step planner: the seven BCE terms over the
 * logits `[fused, side1 … side6]` (partial sums, then the loss), and its
 * gradients: the fused logit's, and each side logit's (its own term's plus
 * its share of the fused term through the fuse conv's weight).
 *
 * @module
 */
import * as K from "../../kernels/trainer_wgsl.ts";
import { bcePartialCall, foldParts, lossSumCall } from "./_trainer_folds.ts";
import type { TrainLowering } from "./_trainer_tape.ts";
import { fuseRange } from "./_train_op_side.ts";
import { AMP_BUFFER, AMP_WORDS } from "../../kernels/adamw/adamw_amp_wgsl.ts";

/** The logit maps `[fused, side1 … side6]`. */
const logits = (l: TrainLowering) => l.graph.logits.map((id) => l.maps[id]);

/** The loss (into buffer `loss`); names the logits `logit0` … `logit6`. */
export function planLoss(l: TrainLowering): void {
  const { b, mask, io, seg, call } = l;
  const maps = logits(l);
  maps.forEach((map, k) => b.named.set(`logit${k}`, map.id));
  const [n, h, w] = l.batch, m = n * h * w;
  const [parts] = foldParts(m);
  const lossPart = l.alloc([7 * parts, 1, 1, 1]);
  maps.forEach((map, k) => {
    call(
      bcePartialCall(m, k * parts, 7 * parts),
      seg(lossPart),
      [io(map), io(mask)],
      "loss.partial",
    );
  });
  b.buffer("loss", 4);
  call(lossSumCall(m, 7), { buf: "loss", off: 0, len: 1 }, [{
    seg: seg(lossPart),
    shape: [7 * parts],
  }], "loss.sum");
}

/** The logits' gradients (named `dlogit0` … `dlogit6`). */
export function planLossGrad(l: TrainLowering): void {
  const { b, mask, io, seg, call, grads } = l;
  const [fused, ...sides] = logits(l);
  const { offW, all } = fuseRange(b);
  // Mixed precision: the seeds times the loss scale (amp[0]), so every gradient is scaled.
  if (l.half) b.buffer(AMP_BUFFER, AMP_WORDS);
  const amp = l.half
    ? [{ seg: { buf: AMP_BUFFER, off: 0, len: AMP_WORDS }, shape: [AMP_WORDS] }]
    : [];
  const grad = (offW: number) => K.bceGradCall(mask.shape, offW, l.half);
  const dF = l.alloc(mask.shape);
  call(grad(-1), seg(dF), [io(fused), io(mask), io(fused), all, ...amp], "loss.grad");
  grads.set(fused.id, dF);
  sides.forEach((s, k) => {
    const g = l.alloc(mask.shape);
    call(grad(offW + k), seg(g), [io(s), io(mask), io(dF), all, ...amp], "loss.grad");
    grads.set(s.id, g);
  });
  [fused, ...sides].forEach((s, k) => b.named.set(`dlogit${k}`, grads.get(s.id)!.id));
}
