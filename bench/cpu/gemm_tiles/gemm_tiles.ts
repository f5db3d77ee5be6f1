/**
 * Times gemm_tiles.c's register tiles (see its comment) side by side: each
 * round runs every variant once, alternating, for about 0.4 GFLOP; prints
 * each variant's median GFLOP/s over the rounds (the first two are warm-up),
 * its range, whether its bits equal today's tile's, and the FMA units' rate
 * with no memory (`peak`) measured in the same rounds. Run by run.sh.
 *
 * @module
 */
const [path, shape = "48,128,48", roundsArg = "15"] = Deno.args;
const [nt, ci, cop] = shape.split(",").map(Number);
const rounds = Number(roundsArg);
if (
  ![nt, ci, cop, rounds].every((v) => Number.isInteger(v) && v > 0) || nt % 12 || ci % 4 || cop % 24
) {
  throw new RangeError(
    `Cannot time: current shape is ${shape} (NT a multiple of 12, CI of 4, COP of 24; NT·CI and CI·COP ≤ 65,536)`,
  );
}
const { instance } = await WebAssembly.instantiate(Deno.readFileSync(path), {});
// deno-lint-ignore no-explicit-any
const e = instance.exports as any;
const f32 = () => new Float32Array((e.memory as WebAssembly.Memory).buffer);
let s = 1;
const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
f32().set(Float32Array.from({ length: nt * ci + ci * cop }, rand), e.input() / 4);
e.layout(nt, ci, cop);

const variants = ["A", "A2", "A3", "D", "C4", "E43"];
const flops = 2 * nt * ci * cop, reps = Math.max(1, Math.round(4e8 / flops));
/** This variant's output in [tile][channel] order. */
function result(name: string): Float32Array {
  if (name !== "E43") return f32().slice(e.output() / 4, e.output() / 4 + nt * cop);
  const mt = f32().subarray(e.output_t() / 4, e.output_t() / 4 + nt * cop);
  return Float32Array.from(
    { length: nt * cop },
    (_, i) => mt[(i % cop) * nt + Math.floor(i / cop)],
  );
}
e.gemm_A(nt, ci, cop, 1);
const ref = result("A");
const rates: Record<string, number[]> = {};
const same: Record<string, boolean> = {};
for (let r = 0; r < rounds + 2; r++) {
  for (const name of [...variants, "peak"]) {
    const t0 = performance.now();
    if (name === "peak") e.peak(reps * flops / 96, 0.5);
    else e[`gemm_${name}`](nt, ci, cop, reps);
    const ms = performance.now() - t0;
    if (r === 0 && name !== "peak") same[name] = result(name).every((v, i) => v === ref[i]);
    if (r >= 2) (rates[name] ??= []).push(reps * flops / ms / 1e6);
  }
}
for (const [name, a] of Object.entries(rates)) {
  a.sort((x, y) => x - y);
  console.log(JSON.stringify({
    variant: name,
    shape: [nt, ci, cop],
    median_gflops: +a[a.length >> 1].toFixed(1),
    range: [+a[0].toFixed(1), +a[a.length - 1].toFixed(1)],
    same_bits: name === "peak" ? null : same[name],
    rounds,
  }));
}
