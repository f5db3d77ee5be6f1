/**
 * The vec4 filter-gradient shader (`_conv_grad_wgsl.ts`) with every
 * per-thread array and fixed-count loop unrolled when the WGSL is written:
 * accumulators and pixel walkers are scalar `var`s, a step's loads and its
 * 16 pixels' products are straight-line blocks. Same tiles, same loads,
 * same summation order per output (so the same results, bit for bit) as
 * the looped shader; what changes is only what a driver must promote to
 * registers. Measured on an H200 (Deno 2.9.6, Vulkan, 2026-11-27), the
 * looped shader ran every shape at 2.25 TFLOP/s; unrolled, a lite b16
 * training step's filter gradients took 36 ms instead of 243 (so private
 * arrays were the cause). The default (`convGradTuning.unrolled`).
 *
 * @module
 */

import { fetchQuad, vec4TileHead } from "./_conv_grad_parts_wgsl.ts";

/**
 * WGSL of the unrolled vec4 filter-gradient tile: `rows` dW rows x `tn`
 * output channels, 16 threads along y; `concat` reads the conv's input as
 * the channel concat of `x` and `x2`. Bindings, uniforms, opening and loads
 * are the looped shader's (`_conv_grad_parts_wgsl.ts`).
 */
export function filterGradUnrolledCode(
  tn: number,
  { concat, rows, half = false }: { concat: boolean; rows: 64 | 128; half?: boolean },
): string {
  const nq = tn / 4, threads = nq * 16, rq = rows / 4, own = rq / 16;
  const per = (16 * rq) / threads, lanes = threads / rq;
  const R = [...Array(per).keys()], J = [...Array(own).keys()];
  const fetch = (r: number) =>
    fetchQuad({
      concat,
      k: `k0 + li / ${rq} + ${lanes * r}`,
      slot: `li + ${threads * r}`,
      w: { px: `px${r}`, py: `py${r}`, pb: `pb${r}` },
      half,
    });
  // f16: each 16-pixel step into f16 partial sums h<i>, added to acc<i> after it.
  const sum = half ? "h" : "acc", t = half ? "vec4<f16>" : "vec4<f32>";
  const A = [...Array(4 * own).keys()];
  const math = (kk: number) =>
    [
      `let b${kk} = Bs[${kk * nq} + tx];`,
      ...J.flatMap((j) => [
        `let a${kk}_${j} = As[${kk * rq + 16 * j} + ty];`,
        ...["x", "y", "z", "w"].map((c, r) =>
          `${sum}${4 * j + r} = fma(${t}(a${kk}_${j}.${c}), b${kk}, ${sum}${4 * j + r});`
        ),
      ]),
    ].join("\n    ");
  const walkers = R.map((r) =>
    `let k${r} = kBegin + li / ${rq} + ${lanes * r};
  var px${r} = k${r} % W;
  var py${r} = (k${r} / W) % H;
  var pb${r} = k${r} / W / H;`
  ).join("\n  ");
  const writes = J.flatMap((j) =>
    [0, 1, 2, 3].map((r) =>
      `if (m0 + ${4 * 16 * j + r} + 4 * ty < M && n < N) {
    result[((s * M + m0 + ${4 * 16 * j + r} + 4 * ty) * N + n) / 4] = acc${4 * j + r};
  }`
    )
  ).join("\n  ");
  return /* wgsl */ `${vec4TileHead(tn, concat, rows, half)}
  ${walkers}
  ${[...Array(4 * own).keys()].map((i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    ${R.map(fetch).join("\n    ")}
    {
      let k = k0 + li / ${nq};
      let n = n0 + 4 * (li % ${nq});
      var v = vec4<f32>(0.0);
      if (k < kEnd && n < N) { v = dy[(k * N + n) / 4]; }
      Bs[li] = ${half ? "vec4<f16>(v)" : "v"};
    }
    workgroupBarrier();${
    half ? `\n    ${A.map((i) => `var h${i} = vec4<f16>(0.0);`).join("\n    ")}` : ""
  }
    ${[...Array(16).keys()].map(math).join("\n    ")}${
    half ? `\n    ${A.map((i) => `acc${i} = acc${i} + vec4<f32>(h${i});`).join("\n    ")}` : ""
  }
    workgroupBarrier();
  }
  let n = n0 + 4 * tx;
  ${writes}
}`;
}
