import { assert, assertEquals } from "../../assert.ts";
import { CPU_ENGINE_SOURCE_SHA256 } from "../../../lib/engines/cpu/cpu_engine_wasm.ts";
import { loadCpuKernels } from "../../../lib/engines/cpu/cpu_kernels.ts";
import { packDirect, packWinograd, padBias } from "../../../lib/engines/cpu/cpu_engine_pack.ts";
import { Rng } from "../../../lib/data/rng.ts";

/** relu?(conv(a ‖ b) + bias) + res in float64, NHWC, HWIO weights, "same" padding. */
function reference(
  a: Float32Array,
  b: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  res: Float32Array | null,
  [h, wd, ca, cb, co, dil]: number[],
): Float64Array {
  const ci = ca + cb, out = new Float64Array(h * wd * co);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < wd; x++) {
      for (let o = 0; o < co; o++) {
        let s = bias[o];
        for (let ky = 0; ky < 3; ky++) {
          for (let kx = 0; kx < 3; kx++) {
            const iy = y + (ky - 1) * dil, ix = x + (kx - 1) * dil;
            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
            for (let c = 0; c < ci; c++) {
              const v = c < ca ? a[(iy * wd + ix) * ca + c] : b[(iy * wd + ix) * cb + c - ca];
              s += v * w[((ky * 3 + kx) * ci + c) * co + o];
            }
          }
        }
        const i = (y * wd + x) * co + o;
        out[i] = Math.max(s, 0) + (res ? res[i] : 0);
      }
    }
  }
  return out;
}

Deno.test("conv_direct, conv_wino and conv_wino4 match a float64 conv when dilated, concatenated, odd-sized and split in parts, plain and FMA", () => {
  const rng = new Rng(7);
  const rand = () => rng.float();
  const normal = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => (rand() + rand() + rand() - 1.5) * 2 * scale);
  for (
    const [h, wd, ca, cb, co, dil] of [[13, 18, 12, 8, 20, 1], [17, 9, 16, 0, 8, 2], [
      23,
      21,
      8,
      8,
      12,
      4,
    ]]
  ) {
    const ci = ca + cb;
    const a = normal(h * wd * ca, 1), b = normal(h * wd * Math.max(cb, 1), 1);
    const w = normal(9 * ci * co, 1 / Math.sqrt(9 * ci)), bias = normal(co, 0.1);
    const res = normal(h * wd * co, 1);
    const want = reference(a, b, w, bias, res, [h, wd, ca, cb, co, dil]);
    const peak = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const forms = {
      direct: packDirect(w, 3, ci, co),
      wino2: packWinograd(w, ci, co, 2),
      wino4: packWinograd(w, ci, co, 4),
    };
    // Blocks of 8 tiles (register tiles of 4) and 16 (6, 6 and 4).
    const scratch = 36 * (16 * (ci + 8 * Math.ceil(co / 8)) + 32);
    const sizes = [
      a.length,
      b.length,
      res.length,
      h * wd * co,
      forms.wino4.length,
      8 + co,
      scratch,
    ];
    for (const fma of [false, true]) {
      const loaded = loadCpuKernels(4 * sizes.reduce((s, n) => s + n + 16, 0), { fma });
      // Deno 2's V8 has relaxed SIMD: the FMA module is the one taken.
      assertEquals(loaded.fma, fma);
      const { kernels, memory, base } = loaded;
      const at: number[] = [];
      let top = base;
      for (const n of sizes) at.push(top), (top += 4 * (n + 16));
      const put = (i: number, data: Float32Array) =>
        new Float32Array(memory.buffer, at[i], data.length).set(data);
      put(0, a), put(1, b), put(2, res), put(5, padBias(bias));
      for (const [name, packed] of Object.entries(forms)) {
        put(4, packed);
        const args = [at[3], at[0], cb ? at[1] : at[0], at[2], at[4], at[5], h, wd, ca, cb, co];
        for (const nt of name === "direct" ? [0] : [8, 16]) {
          const got = new Float32Array(memory.buffer, at[3], h * wd * co).fill(NaN);
          // In three parts, one after the other, as three threads would split it.
          for (let part = 0; part < 3; part++) {
            if (name === "direct") kernels.conv_direct(...args, 3, dil, 1, dil, part, 3);
            else if (name === "wino2") kernels.conv_wino(...args, dil, 1, at[6], nt, part, 3);
            else kernels.conv_wino4(...args, dil, 1, at[6], nt, part, 3);
          }
          let err = 0;
          for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
          console.log(fma ? "fma" : "plain", name, `d${dil}`, `nt ${nt}`, err / peak);
          const tol = name === "wino4" ? 5e-6 : 5e-7;
          assert(err / peak < tol, `${name} ${h}x${wd} ${ca}+${cb}>${co} d${dil}: ${err / peak}`);
        }
      }
    }
  }
});

Deno.test("pool writes only its own channels when the channel count is not a multiple of 4", () => {
  const rng = new Rng(11);
  for (const c of [1, 2, 3, 4, 5, 6, 7, 8, 9, 22, 23]) {
    const [h, wd] = [7, 5], oh = 4, ow = 3, n = oh * ow * c;
    const x = Float32Array.from({ length: h * wd * c }, () => rng.float() * 2 - 1);
    const { kernels, memory, base } = loadCpuKernels(4 * (x.length + n + 64));
    const out = base + 4 * (x.length + 16);
    new Float32Array(memory.buffer, base, x.length).set(x);
    // Sentinels right after the output (where the next buffer would start).
    new Float32Array(memory.buffer, out, n + 16).fill(-7);
    // Parts in reverse order, as threads may finish: a part must not touch another's rows.
    for (let part = 2; part >= 0; part--) kernels.pool(out, base, h, wd, c, part, 3);
    const got = new Float32Array(memory.buffer, out, n + 16);
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        for (let k = 0; k < c; k++) {
          let want = -Infinity;
          for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            const iy = Math.min(2 * y + dy, h - 1), ix = Math.min(2 * xx + dx, wd - 1);
            want = Math.max(want, x[(iy * wd + ix) * c + k]);
          }
          assertEquals(got[(y * ow + xx) * c + k], want, `c ${c}: (${y}, ${xx}, ${k})`);
        }
      }
    }
    assertEquals([...got.subarray(n)], new Array(16).fill(-7), `c ${c}: past the output`);
  }
});

Deno.test("the embedded CPU engine module was built from the committed C source when checked by hash", async () => {
  const source = await Deno.readFile(
    new URL("../../../lib/engines/cpu/_wasm/cpu_engine.c", import.meta.url),
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", source));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  assertEquals(
    hex,
    CPU_ENGINE_SOURCE_SHA256,
    "run lib/engines/cpu/_wasm/build.sh after editing the C",
  );
});
