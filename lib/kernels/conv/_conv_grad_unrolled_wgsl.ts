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
 * the channel concat of `x` and `x2`; `cols` vec4 column groups a thread
 * (`tn / 4 / cols` apart; 2: twice the products a workgroup-memory load,
 * the same sums). Bindings, uniforms, opening and loads are the looped
 * shader's (`_conv_grad_parts_wgsl.ts`).
 */
export function filterGradUnrolledCode(
  tn: number,
  { concat, rows, half = false, cols = 1 }: {
    concat: boolean;
    rows: 64 | 128;
    half?: boolean;
    cols?: 1 | 2;
  },
): string {
  const nq = tn / 4, wx = nq / cols, threads = wx * 16, rq = rows / 4, own = rq / 16;
  const per = (16 * rq) / threads, lanes = threads / rq;
  if (!Number.isInteger(wx) || !Number.isInteger(lanes)) {
    throw new RangeError(
      `Cannot tile a filter gradient: current value is ${rows}x${tn}, ${cols} groups`,
    );
  }
  const R = [...Array(per).keys()], J = [...Array(own).keys()], C = [...Array(cols).keys()];
  // Column group c's names: none for the first (the one-group shader's text).
  const sfx = (c: number) => c === 0 ? "" : `_${c}`;
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
  const A = [...Array(4 * own).keys()].flatMap((i) => C.map((c) => `${i}${sfx(c)}`));
  const math = (kk: number) =>
    [
      ...C.map((c) => `let b${kk}${sfx(c)} = Bs[${kk * nq} + tx${c ? ` + ${c * wx}` : ""}];`),
      ...J.flatMap((j) => [
        `let a${kk}_${j} = As[${kk * rq + 16 * j} + ty];`,
        ...C.flatMap((c) =>
          ["x", "y", "z", "w"].map((x, r) => {
            const acc = `${sum}${4 * j + r}${sfx(c)}`;
            return `${acc} = fma(${t}(a${kk}_${j}.${x}), b${kk}${sfx(c)}, ${acc});`;
          })
        ),
      ]),
    ].join("\n    ");
  const walkers = R.map((r) =>
    `let k${r} = kBegin + li / ${rq} + ${lanes * r};
  var px${r} = k${r} % W;
  var py${r} = (k${r} / W) % H;
  var pb${r} = k${r} / W / H;`
  ).join("\n  ");
  const writes = C.flatMap((c) => [
    ...(c ? [`let n${c} = n0 + 4 * (tx + ${c * wx});`] : []),
    ...J.flatMap((j) =>
      [0, 1, 2, 3].map((r) =>
        `if (m0 + ${4 * 16 * j + r} + 4 * ty < M && n${c || ""} < N) {
    result[((s * M + m0 + ${4 * 16 * j + r} + 4 * ty) * N + n${c || ""}) / 4] = acc${4 * j + r}${
          sfx(c)
        };
  }`
      )
    ),
  ]).join("\n  ");
  // dy's 16 x nq quads: one a thread, or `cols` a thread.
  const loadB = (idx: string) =>
    `{
      let k = k0 + ${idx} / ${nq};
      let n = n0 + 4 * (${idx} % ${nq});
      var v = vec4<f32>(0.0);
      if (k < kEnd && n < N) { v = dy[(k * N + n) / 4]; }
      Bs[${idx}] = ${half ? "vec4<f16>(v)" : "v"};
    }`;
  return /* wgsl */ `${vec4TileHead(tn, concat, rows, half, wx)}
  ${walkers}
  ${A.map((i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    ${R.map(fetch).join("\n    ")}
    ${C.map((c) => loadB(c ? `(li + ${c * threads})` : "li")).join("\n    ")}
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
