import assert from "node:assert/strict";
import { tf } from "../../lib/deps.ts";
import { U2Net } from "../../lib/model/u2net.ts";
import { AdamW } from "../../lib/optim/adamw.ts";
import { getParamsGroups } from "../../lib/optim/params_groups.ts";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { readWeights } from "../../lib/io/read_weights.ts";
import { trainStep } from "../../lib/train/train_step.ts";

await tf.setBackend("cpu");
const TMP = new URL("../.tmp/checkpoint_test/", import.meta.url).pathname;

async function freshDir(name: string): Promise<string> {
  const dir = `${TMP}${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

Deno.test("saveCheckpoint() round-trips weights, optimizer moments and loop state", async () => {
  const dir = await freshDir("roundtrip");
  const model = U2Net.create("lite", { seed: 4 });
  const optimizer = new AdamW(getParamsGroups(model.namedParameters()), { lr: 1e-3 });
  const images = tf.randomNormal([1, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const masks = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
  try {
    await trainStep({ model, optimizer }, { images, masks });
    const sd = await model.stateDict();
    const state = await optimizer.state();
    const path = await saveCheckpoint(`${dir}/model_7`, {
      epoch: 7,
      stateDict: sd,
      optimizer: state,
      extra: { note: "x", n: [1, 2] },
    });
    assert.equal(path, `${dir}/model_7.json`);
    for (const p of [path, `${dir}/model_7.safetensors`]) {
      const back = await loadCheckpoint<{ note: string; n: number[] }>(p);
      assert.equal(back.meta.epoch, 7);
      assert.deepEqual(back.meta.extra, { note: "x", n: [1, 2] });
      assert.deepEqual([...back.stateDict.keys()], [...sd.keys()]);
      for (const [k, v] of sd) assert.deepEqual(back.stateDict.get(k)!.data, v.data, k);
      assert.deepEqual(back.optimizer, state);
    }
    // the weights file is a plain seed-named state dict for readWeights / PyTorch
    const w = await readWeights(await Deno.readFile(`${dir}/model_7.safetensors`));
    assert.equal(w.arch, "lite");
    assert.equal(w.stateDict.size, sd.size);
    // leftover temporary files: none
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["model_7.json", "model_7.optim.safetensors", "model_7.safetensors"]);
  } finally {
    images.dispose();
    masks.dispose();
    optimizer.dispose();
    model.dispose();
  }
});

Deno.test("loadCheckpoint() refuses files of another save and latestCheckpoint() skips them", async () => {
  const dir = await freshDir("mismatch");
  const sd = new Map([["a", { dtype: "F32" as const, shape: [1], data: new Float32Array([1]) }]]);
  const opt = { groups: [], params: {} };
  await saveCheckpoint(`${dir}/model_1`, { epoch: 1, stateDict: sd, optimizer: opt, extra: {} });
  await saveCheckpoint(`${dir}/model_2`, { epoch: 2, stateDict: sd, optimizer: opt, extra: {} });
  assert.equal(await latestCheckpoint(dir), `${dir}/model_2.json`);
  // a save of epoch 2 interrupted after its weights: JSON of the old save, weights of the new
  const other = `${dir}/other`;
  await saveCheckpoint(other, { epoch: 2, stateDict: sd, optimizer: opt, extra: {} });
  await Deno.rename(`${other}.safetensors`, `${dir}/model_2.safetensors`);
  await assert.rejects(loadCheckpoint(`${dir}/model_2.json`), /interrupted save/);
  assert.equal(await latestCheckpoint(dir), `${dir}/model_1.json`);
  await assert.rejects(loadCheckpoint(`${dir}/nope.json`), /does not exist/);
  await Deno.writeTextFile(`${dir}/bad.json`, "{");
  await assert.rejects(loadCheckpoint(`${dir}/bad.json`), /not valid JSON/);
});

Deno.test("loadCheckpoint() names the truncated tensor file when a save was cut short", async () => {
  const dir = await freshDir("truncated");
  const sd = new Map([["a", { dtype: "F32" as const, shape: [64], data: new Float32Array(64) }]]);
  const opt = { groups: [], params: {} };
  await saveCheckpoint(`${dir}/model_1`, { epoch: 1, stateDict: sd, optimizer: opt, extra: {} });
  const weights = `${dir}/model_1.safetensors`;
  const bytes = await Deno.readFile(weights);
  await Deno.writeFile(weights, bytes.subarray(0, bytes.length - 100));
  const err = await loadCheckpoint(`${dir}/model_1.json`).then(() => null, (e) => e as Error);
  assert.ok(err instanceof RangeError, String(err));
  assert.ok(err.message.includes(weights), err.message);
  assert.ok(err.message.startsWith(`Cannot load checkpoint ${dir}/model_1.json`), err.message);
  assert.ok(!err.message.includes("\n"));
});
