import assert from "node:assert/strict";
import { tf } from "../../../lib/deps.ts";
import { AdamW, type AdamWState } from "../../../lib/optim/adamw.ts";
import { withTuning } from "../../../lib/kernels/webgpu.ts";
import { useBackend, webgpuOrSkip } from "../../helpers.ts";

// webgpu cases: 200 and 3·3·4·5 = 180 are not multiples of the workgroup size
const SHAPES = [[3, 3, 4, 5], [200], [64], [2, 3]];
const NAMES = ["c.weight", "c.bias", "bn.weight", "s.weight"];
type Run = { vars: tf.Variable[]; opt: AdamW };
const gpuSetup = (): Run => {
  const v = SHAPES.map((s, i) =>
    tf.tidy(() => tf.variable(tf.randomNormal(s, 0, 1, "float32", i + 1)))
  );
  const n = NAMES;
  const opt = new AdamW([
    { params: [v[1], v[2]], names: [n[1], n[2]], weightDecay: 0, lr: 0.02 },
    { params: [v[0], v[3]], names: [n[0], n[3]], weightDecay: 0.05 },
  ], { lr: 3e-3 });
  return { vars: v, opt };
};
function gpuStep({ opt }: Run, s: number, fused = true): void {
  const g = SHAPES.map((sh, i) =>
    tf.randomNormal(sh, 0, 10 ** (i - 2), "float32", 100 + 10 * s + i)
  );
  withTuning(
    { adamw: fused },
    () => opt.applyGradients(Object.fromEntries(NAMES.map((n, i) => [n, g[i]]))),
  );
  tf.dispose(g);
}
const momentsOf = (st: AdamWState) =>
  NAMES.flatMap((n) => [st.params[n].expAvg, st.params[n].expAvgSq]);
/** Parameters, then moments, on the host; `free` disposes the run. */
async function snapshot({ vars, opt }: Run, free = false): Promise<ArrayLike<number>[]> {
  const out = [...await Promise.all(vars.map((v) => v.data())), ...momentsOf(await opt.state())];
  if (free) opt.dispose(), tf.dispose(vars);
  return out;
}
function assertRel(as: ArrayLike<number>[], bs: ArrayLike<number>[], tol: number, what: string) {
  assert.deepEqual(as.map((x) => x.length), bs.map((x) => x.length), what);
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) =>
    Array.from(a, (x, i) => Math.abs(x - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
  const worst = Math.max(...as.flatMap((a, k) => rel(a, bs[k]))); // NaN if any is
  assert.ok(worst <= tol, `${what}: max relative difference ${worst}`);
}
/**
 * Like {@linkcode assertRel}, relative to each tensor's largest magnitude: a
 * moment that cancels to near zero may differ by a rounding (fused multiply-add
 * on one GPU, not another) far above its own size.
 */
function assertNear(as: ArrayLike<number>[], bs: ArrayLike<number>[], tol: number, what: string) {
  assert.deepEqual(as.map((x) => x.length), bs.map((x) => x.length), what);
  const worst = Math.max(...as.map((a, k) => {
    const b = bs[k];
    const scale = Math.max(...Array.from(b, Math.abs), 1e-30);
    return Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]) / scale));
  }));
  assert.ok(worst <= tol, `${what}: max difference ${worst} of the largest magnitude`);
}
/** Runs `fn` on webgpu (skipped without an adapter), restoring the backend and tensors. */
async function withWebgpu(t: Deno.TestContext, fn: () => Promise<void>): Promise<void> {
  if (!(await webgpuOrSkip(t))) return;
  const start = tf.memory().numTensors;
  try {
    await fn();
    assert.equal(tf.memory().numTensors, start);
  } finally {
    await useBackend("cpu");
  }
}

Deno.test("AdamW.applyGradients() matches the tf-op path when fused on webgpu", async (t) => {
  await withWebgpu(t, async () => {
    const run = async (fused: boolean) => {
      const r = gpuSetup();
      const created = tf.memory().numTensors;
      for (let s = 0; s < 4; s++) {
        const { kernels } = await tf.profile(() => gpuStep(r, s, fused));
        if (fused) assert.equal(kernels.filter((k) => k.name.startsWith("U2NetAdamW")).length, 8);
        // fused: one packed moment tensor per parameter; tf ops: m and v
        assert.equal(tf.memory().numTensors, created + (fused ? 1 : 2) * 4, `step ${s + 1}`);
      }
      return await snapshot(r, true);
    };
    assertRel(await run(true), await run(false), 1e-5, "fused vs tf ops");
  });
});

Deno.test("AdamW.state() unpacks the fused webgpu moments when loadState() resumes from it", async (t) => {
  await withWebgpu(t, async () => {
    const [ops, a, b, c] = [gpuSetup(), gpuSetup(), gpuSetup(), gpuSetup()];
    for (let s = 0; s < 3; s++) gpuStep(ops, s, false), gpuStep(a, s, true);
    const saved = await a.opt.state();
    assert.deepEqual(Object.values(saved.params).map((p) => p.step), [3, 3, 3, 3]);
    const sizes = momentsOf(saved).map((m) => m instanceof Float32Array && m.length);
    assert.deepEqual(sizes, a.vars.flatMap((v) => [v.size, v.size]));
    assertNear(momentsOf(saved), momentsOf(await ops.opt.state()), 1e-6, "state after 3");
    // b resumes fused (packed on load); c loads unfused, then switches layout twice
    for (const [i, v] of [...b.vars, ...c.vars].entries()) {
      const now = await a.vars[i % NAMES.length].data();
      tf.tidy(() => v.assign(tf.tensor(now, v.shape)));
    }
    b.opt.loadState(structuredClone(saved));
    withTuning({ adamw: false }, () => c.opt.loadState(structuredClone(saved)));
    for (let s = 3; s < 5; s++) gpuStep(a, s, true), gpuStep(b, s), gpuStep(c, s, s === 3);
    const snapA = await snapshot(a, true);
    assert.deepEqual(await snapshot(b, true), snapA);
    assertNear(await snapshot(c, true), snapA, 1e-5, "layout switches");
    await snapshot(ops, true);
  });
});
