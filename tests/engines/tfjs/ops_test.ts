import { assert, assertEquals } from "../../assert.ts";
import { tf } from "../../../lib/deps.ts";
import { conv2d, maxPoolCeil, resizeBilinear } from "../../../lib/engines/tfjs/ops.ts";
import { maxAbsDiff, testBackends, useBackend } from "../../helpers.ts";

async function dot(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const s = tf.sum(tf.mul(a, b));
  const v = (await s.data())[0];
  s.dispose();
  return v;
}

function bruteConv(x: Float32Array, xs: number[], w: Float32Array, o: number, d: number) {
  const [b, h, wd, c] = xs;
  const out = new Float32Array(b * h * wd * o);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < wd; j++) {
        for (let oc = 0; oc < o; oc++) {
          let s = 0;
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const yi = i + (ky - 1) * d;
              const xj = j + (kx - 1) * d;
              if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
              for (let ic = 0; ic < c; ic++) {
                s += x[((n * h + yi) * wd + xj) * c + ic] * w[((ky * 3 + kx) * c + ic) * o + oc];
              }
            }
          }
          out[((n * h + i) * wd + j) * o + oc] = s;
        }
      }
    }
  }
  return out;
}

for (const backend of await testBackends()) {
  Deno.test(`resizeBilinear() gives PyTorch's align_corners=False values on ${backend}`, async () => {
    await useBackend(backend);
    const x = tf.tensor4d([0, .2, .4, .6, .8, 1], [1, 2, 3, 1]);
    const y = resizeBilinear(x, [4, 6]);
    const expected = [
      0,
      .05,
      .15,
      .25,
      .35,
      .4,
      .15,
      .2,
      .3,
      .4,
      .5,
      .55,
      .45,
      .5,
      .6,
      .7,
      .8,
      .85,
      .6,
      .65,
      .75,
      .85,
      .95,
      1,
    ];
    assert(maxAbsDiff(await y.data(), expected) < 1e-6);
    const x2 = tf.tensor4d([.1, .9, .3, .7, .2, .8, .05, .6, 1], [1, 3, 3, 1]);
    const down = resizeBilinear(x2, [2, 2]);
    assert(maxAbsDiff(await down.data(), [.36875, .5, .284375, .8375]) < 1e-6);
    const up = resizeBilinear(x2, [5, 4]);
    const e54 = [
      .1,
      .6,
      .675,
      .3,
      .34,
      .515,
      .575,
      .5,
      .7,
      .3875,
      .425,
      .8,
      .31,
      .39125,
      .62,
      .92,
      .05,
      .39375,
      .75,
      1,
    ];
    assert(maxAbsDiff(await up.data(), e54) < 1e-6);
    assertEquals(resizeBilinear(x2, [3, 3]), x2);
    tf.dispose([x, y, x2, down, up]);
  });

  Deno.test(`resizeBilinear() has the adjoint as its gradient when sizes are odd on ${backend}`, async () => {
    await useBackend(backend);
    const x = tf.randomNormal([2, 3, 5, 2], 0, 1, "float32", 1) as tf.Tensor4D;
    for (const size of [[7, 11], [2, 2], [3, 9], [6, 10]] as [number, number][]) {
      const gy = tf.randomNormal([2, ...size, 2], 0, 1, "float32", 2);
      const [g] = tf.grads((a: tf.Tensor) =>
        tf.sum(tf.mul(resizeBilinear(a as tf.Tensor4D, size), gy))
      )([x]);
      const y = resizeBilinear(x, size);
      const lhs = await dot(y, gy);
      const rhs = await dot(x, g);
      assert(Math.abs(lhs - rhs) < 1e-4 * (1 + Math.abs(lhs)), `${size}: ${lhs} vs ${rhs}`);
      tf.dispose([gy, g, y]);
    }
    x.dispose();
  });

  Deno.test(`maxPoolCeil() pools partial edge windows like ceil_mode on ${backend}`, async () => {
    await useBackend(backend);
    const x = tf.reshape(tf.range(0, 25), [1, 5, 5, 1]) as tf.Tensor4D;
    const y = maxPoolCeil(x);
    assertEquals(y.shape, [1, 3, 3, 1]);
    assertEquals(Array.from(await y.data()), [6, 8, 9, 16, 18, 19, 21, 23, 24]);
    tf.dispose([x, y]);
  });

  Deno.test(`conv2d() matches a direct dilated convolution and its adjoints on ${backend}`, async () => {
    await useBackend(backend);
    const xs: [number, number, number, number] = [2, 7, 5, 3];
    const x = tf.randomNormal(xs, 0, 1, "float32", 3) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 4) as tf.Tensor4D;
    const gy = tf.randomNormal([2, 7, 5, 4], 0, 1, "float32", 5);
    const xd = await x.data() as Float32Array;
    const wd = await w.data() as Float32Array;
    for (const d of [1, 2, 4, 8]) {
      const y = conv2d(x, w, d);
      assert(maxAbsDiff(await y.data(), bruteConv(xd, xs, wd, 4, d)) < 1e-4, `forward d=${d}`);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, d), gy))
      )([x, w]);
      const lhs = await dot(y, gy);
      const tol = 1e-4 * (1 + Math.abs(lhs));
      assert(Math.abs(lhs - await dot(x, gx)) < tol, `input gradient d=${d}`);
      assert(Math.abs(lhs - await dot(w, gw)) < tol, `filter gradient d=${d}`);
      tf.dispose([y, gx, gw]);
    }
    tf.dispose([x, w, gy]);
  });
}
