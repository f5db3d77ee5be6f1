/**
 * CpuEngine on custom channel widths (imported ONNX models such as rembg's
 * silueta may have any): widths that are not multiples of 4 or 8 take the
 * kernels' scalar tails and the direct conv instead of Winograd.
 */
import { assert } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { configFromWidths, type StageWidths, U2NET_LITE } from "../../../lib/net/config.ts";
import { U2Net } from "../../../lib/model/u2net.ts";
import { CpuEngine } from "../../../lib/engines/cpu/cpu_engine.ts";
import { maxAbsDiff, useBackend } from "../../helpers.ts";

/** The widths swept: 1..9 (every remainder mod 4 and 8), 22 and 23. */
const SWEEP = [1, 2, 3, 4, 5, 6, 7, 8, 9, 22, 23];

/** Stage widths En1…De1 from each stage's [mid, out], chained as U2-Net's. */
function chain(midOut: (s: number) => [number, number]): StageWidths[] {
  const rows = [...U2NET_LITE.encoder, ...U2NET_LITE.decoder].map((_, s) => midOut(s));
  return rows.map(([midCh, outCh], s) => ({
    inCh: s === 0 ? 3 : s < 6 ? rows[s - 1][1] : rows[s - 1][1] + rows[10 - s][1],
    midCh,
    outCh,
  }));
}

/** Uniform widths as reported (mid/out 6/22, 9/22, 6/24), then four mixed ones over SWEEP. */
const CASES: StageWidths[][] = [
  ...[[6, 22], [9, 22], [6, 24]].map(([m, o]) => chain(() => [m, o])),
  ...[0, 1, 2, 3].map((j) =>
    chain((s) => [SWEEP[(3 * j + s) % SWEEP.length], SWEEP[(3 * j + 5 * s + 1) % SWEEP.length]])
  ),
];

Deno.test("CpuEngine.run() matches predict() within 1e-5 when the channel widths are 1..9, 22 or 23", async () => {
  await useBackend("cpu");
  for (const [i, widths] of CASES.entries()) {
    const model = U2Net.create(configFromWidths(widths), { seed: 3 + i });
    const label = widths.map((w) => `${w.midCh}/${w.outCh}`).join(" ");
    try {
      for (const [h, w] of [[32, 32], [48, 40]]) {
        const x = tf.randomUniform([1, h, w, 3], -2, 2, "float32", 5 + i) as tf.Tensor4D;
        const y = model.predict(x);
        const want = await y.data() as Float32Array, input = await x.data() as Float32Array;
        tf.dispose([x, y]);
        // Direct and F(4x4) on one thread; F(4x4) split over two (the pool's rows in parts).
        for (const [winograd, threads] of [[0, 1], [4, 1], [4, 2]] as const) {
          if (threads > 1 && (i > 3 || h !== 48)) continue; // threads: a few cases suffice
          const engine = await CpuEngine.create(model, { height: h, width: w, winograd, threads });
          try {
            const d = maxAbsDiff(await engine.run(input), want);
            assert(d < 1e-5, `${label} at ${h}x${w}, winograd ${winograd} x${threads}: ${d}`);
          } finally {
            engine.dispose();
          }
        }
      }
    } finally {
      model.dispose();
    }
  }
});
