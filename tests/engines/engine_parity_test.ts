/**
 * Engine parity: the same cases, with the same tolerances, run on every
 * engine `createEngine` makes (tfjs on each test backend, the WebAssembly cpu
 * engine on one and two threads, the WebGPU gpu engine where an adapter
 * exists). Engine-specific checks (Winograd variants, tiles, split K, thread
 * bit-identity, weight cache, RangeErrors) stay in the engines' own tests.
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { tf } from "../../lib/deps.ts";
import type { BackendName } from "../../lib/backend.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import type { ArchName } from "../../lib/net/config.ts";
import { createEngine, type EngineName } from "../../lib/engines/create_engine.ts";
import {
  fixture,
  maxAbsDiff,
  nchwToNhwc,
  testBackends,
  useBackend,
  webgpuOrSkip,
} from "../helpers.ts";

/** Largest |engine - reference| each case allows, the same on every engine. */
const TOLERANCE = { evalWz: 1e-5, oddSize: 1e-5 } as const;

/** Odd `[n, h, w]` shapes per variant (full kept small: llvmpipe runs the gpu cases). */
const ODD_SHAPES: Record<ArchName, [number, number, number]> = {
  lite: [1, 37, 45],
  full: [1, 19, 23],
};

/** One engine under test. */
interface EngineCase {
  engine: EngineName;
  backend: BackendName;
  threads: number;
}

const ENGINES: EngineCase[] = [
  ...(await testBackends()).map((backend): EngineCase => ({ engine: "tfjs", backend, threads: 1 })),
  { engine: "cpu", backend: "cpu", threads: 1 },
  { engine: "cpu", backend: "cpu", threads: 2 },
  { engine: "gpu", backend: "webgpu", threads: 1 },
];

/** `on cpu`, `on cpu, 2 threads`. */
function where(c: EngineCase): string {
  return `on ${c.backend}${c.threads > 1 ? `, ${c.threads} threads` : ""}`;
}

/** Activates the case's backend; false (an ignored step recorded) without WebGPU. */
async function activate(t: Deno.TestContext, c: EngineCase): Promise<boolean> {
  if (c.backend === "webgpu") return await webgpuOrSkip(t);
  await useBackend(c.backend);
  return true;
}

/** Host NHWC copy of an NHWC tensor's data, the tensor disposed. */
async function hostData(x: tf.Tensor): Promise<Float32Array> {
  try {
    return await x.data() as Float32Array;
  } finally {
    x.dispose();
  }
}

/** Deterministic normalised NHWC input of shape `[n, h, w, 3]`. */
function oddInput([n, h, w]: readonly number[]): Float32Array {
  return Float32Array.from({ length: n * h * w * 3 }, (_, i) => Math.sin(i * 0.37) * 2);
}

/** The `model.predict` map of {@linkcode oddInput} (on the cpu backend), per variant. */
const references = new Map<ArchName, Float32Array>();

async function reference(variant: ArchName, model: U2Net): Promise<Float32Array> {
  if (!references.has(variant)) {
    const [n, h, w] = ODD_SHAPES[variant];
    const x = tf.tensor4d(oddInput(ODD_SHAPES[variant]), [n, h, w, 3]);
    try {
      references.set(variant, await hostData(model.predict(x)));
    } finally {
      x.dispose();
    }
  }
  return references.get(variant)!;
}

for (const c of ENGINES) {
  const options = { engine: c.engine, threads: c.threads };

  Deno.test(`${c.engine} engine reproduces eval_wz within 1e-5 ${where(c)}`, async (t) => {
    if (!(await activate(t, c))) return;
    const io = await fixture("lite_io.safetensors");
    const xs = io.get("x")!;
    const [batch, , height, width] = xs.shape;
    const model = U2Net.create("lite");
    model.loadStateDict(await fixture("lite_wz.safetensors"));
    const engine = createEngine(model, options);
    try {
      assertEquals(engine.name, c.engine);
      const input = await hostData(nchwToNhwc(xs.data as Float32Array, xs.shape));
      const out = await engine.run(input, [batch, height, width]);
      // eval_wz is NCHW with one channel: the same order as the engine's [n, h, w].
      const want = io.get("eval_wz")!.data as Float32Array;
      assertEquals(out.length, want.length);
      const d = maxAbsDiff(out, want);
      assert(d < TOLERANCE.evalWz, `${engine.describe()}: max |Δ| ${d}`);
    } finally {
      engine.dispose();
      model.dispose();
    }
  });

  // tfjs on the cpu backend is the reference of this case (its own parity is eval_wz's, above).
  const isReference = c.engine === "tfjs" && c.backend === "cpu";
  for (const variant of isReference ? [] : ["lite", "full"] as const) {
    const shape = ODD_SHAPES[variant];
    Deno.test(
      `${c.engine} engine matches the tfjs cpu predict() for ${variant} at ${shape.join("x")} ${
        where(c)
      }`,
      async (t) => {
        if (!(await activate(t, c))) return;
        // Weights made on the cpu backend: the same bits for every engine.
        await useBackend("cpu");
        const model = U2Net.create(variant, { seed: 4 });
        try {
          const want = await reference(variant, model);
          await useBackend(c.backend);
          const engine = createEngine(model, options);
          try {
            const got = await engine.run(oddInput(shape), shape);
            const d = maxAbsDiff(got, want);
            assert(d < TOLERANCE.oddSize, `${engine.describe()}: max |Δ| ${d}`);
          } finally {
            engine.dispose();
          }
        } finally {
          model.dispose();
        }
      },
    );
  }

  Deno.test(`${c.engine} engine frees its tensors and disposes twice ${where(c)}`, async (t) => {
    if (!(await activate(t, c))) return;
    const model = U2Net.create("lite", { seed: 2 });
    const start = tf.memory().numTensors;
    try {
      const engine = createEngine(model, options);
      for (const shape of [[2, 16, 24], [1, 16, 24]] as const) {
        const out = await engine.run(oddInput(shape), shape);
        assertEquals(out.length, shape[0] * shape[1] * shape[2]);
      }
      assertEquals(tf.memory().numTensors, start, "run() leaves no tensor behind");
      engine.dispose();
      engine.dispose();
      assertEquals([engine.size, engine.keptBytes], [0, 0]);
      assertEquals(tf.memory().numTensors, start, "dispose() leaves no tensor behind");
    } finally {
      model.dispose();
    }
  });
}
