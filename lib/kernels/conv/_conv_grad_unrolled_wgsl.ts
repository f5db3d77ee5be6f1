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
  { concat, rows, half = false, cols = 1, prefetch = false }: {
    concat: boolean;
    rows: 64 | 128;
    half?: boolean;
    cols?: 1 | 2;
    prefetch?: boolean;
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
  // Pixel quads into As (or, double-buffered, into registers pa<r> for the next step).
  const fetch = (r: number, k0 = "k0", into?: string) =>
    fetchQuad({
      concat,
      k: `${k0} + li / ${rq} + ${lanes * r}`,
      slot: `li + ${threads * r}`,
      w: { px: `px${r}`, py: `py${r}`, pb: `pb${r}` },
      half,
      ...(into ? { into } : {}),
    });
  const [aOff, bOff] = prefetch ? ["aOff + ", "bOff + "] : ["", ""];
  // f16: each 16-pixel step into f16 partial sums h<i>, added to acc<i> after it.
  const sum = half ? "h" : "acc", t = half ? "vec4<f16>" : "vec4<f32>";
  const A = [...Array(4 * own).keys()].flatMap((i) => C.map((c) => `${i}${sfx(c)}`));
  const math = (kk: number) =>
    [
      ...C.map((c) =>
        `let b${kk}${sfx(c)} = Bs[${bOff}${kk * nq} + tx${c ? ` + ${c * wx}` : ""}];`
      ),
      ...J.flatMap((j) => [
        `let a${kk}_${j} = As[${aOff}${kk * rq + 16 * j} + ty];`,
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
  const loadB = (idx: string, k0 = "k0", into = `Bs[${idx}]`) =>
    `{
      let k = ${k0} + ${idx} / ${nq};
      let n = n0 + 4 * (${idx} % ${nq});
      var v = vec4<f32>(0.0);
      if (k < kEnd && n < N) { v = dy[(k * N + n) / 4]; }
      ${into} = ${half ? "vec4<f16>(v)" : "v"};
    }`;
  const bIdx = (c: number) => c ? `(li + ${c * threads})` : "li";
  const partDecl = half
    ? `\n    ${A.map((i) => `var h${i} = vec4<f16>(0.0);`).join("\n    ")}`
    : "";
  const partAdd = half
    ? `\n    ${A.map((i) => `acc${i} = acc${i} + vec4<f32>(h${i});`).join("\n    ")}`
    : "";
  const products = [...Array(16).keys()].map(math).join("\n    ");
  // Double buffering: the next step into registers before the products, to the other half after.
  const fetchNext = (k0: string) =>
    [
      ...R.map((r) => fetch(r, k0, `pa${r}`)),
      ...C.map((c) => loadB(bIdx(c), k0, `pw${c}`)),
    ].join("\n    ");
  const storeNext = (a: string, b: string) =>
    [
      ...R.map((r) => `As[${a} + li + ${threads * r}] = pa${r};`),
      ...C.map((c) => `Bs[${b} + ${bIdx(c)}] = pw${c};`),
    ].join("\n    ");
  const loop = prefetch
    ? `${
      [...R.map((r) => `pa${r}`), ...C.map((c) => `pw${c}`)].map((v) => `var ${v} = ${t}(0.0);`)
        .join("\n  ")
    }
  ${fetchNext("kBegin")}
  ${storeNext("0", "0")}
  workgroupBarrier();
  var aOff = 0;
  var bOff = 0;
  for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    let more = k0 + 16 < kEnd;
    if (more) {
    ${fetchNext("k0 + 16")}
    }${partDecl}
    ${products}${partAdd}
    if (more) {
    ${storeNext(`${16 * rq} - aOff`, `${16 * nq} - bOff`)}
    }
    workgroupBarrier();
    aOff = ${16 * rq} - aOff;
    bOff = ${16 * nq} - bOff;
  }`
    : `for (var k0 = kBegin; k0 < kEnd; k0 += 16) {
    ${R.map((r) => fetch(r)).join("\n    ")}
    ${C.map((c) => loadB(bIdx(c))).join("\n    ")}
    workgroupBarrier();${partDecl}
    ${products}${partAdd}
    workgroupBarrier();
  }`;
  return /* wgsl */ `${vec4TileHead(tn, concat, rows, half, wx, prefetch ? 2 : 1)}
  ${walkers}
  ${A.map((i) => `var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  ${loop}
  let n = n0 + 4 * tx;
  ${writes}
}`;
}
