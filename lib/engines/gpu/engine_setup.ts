/**
 * The recorded engine's setup (`gpu_engine.ts`): the WGSL of each planned
 * shader key and the folded network's weights on the host (the device,
 * pipelines and buffers come from `gpu_runtime.ts`).
 *
 * @module
 */
import type { U2Net } from "../../model/u2net.ts";
import { foldBatchNorm } from "../../model/fold_bn.ts";
import { convShaderVec4 } from "../../kernels/conv/conv_wgsl.ts";
import { convToOneShader } from "../../kernels/conv/conv_one_wgsl.ts";
import {
  convShader,
  FUSE_SHADER,
  POOL_SHADER,
  RESIZE_SHADER,
  SPLITSUM_SHADER,
} from "../../kernels/engine_wgsl.ts";

/** WGSL source of a planned shader key. */
export function shaderSource(key: string): string {
  const vec = /^convv(\d+)x(\d+)(u?)(k?)$/.exec(key);
  if (vec) {
    return convShaderVec4(Number(vec[1]), Number(vec[2]), {
      unrolled: vec[3] === "u",
      splitK: vec[4] === "k",
    });
  }
  const scalar = /^conv(\d+)(u?)$/.exec(key);
  if (scalar) return convShader(Number(scalar[1]), scalar[2] === "u");
  const fixed: Record<string, string> = {
    side: convToOneShader(),
    pool: POOL_SHADER,
    resize: RESIZE_SHADER,
    fuse: FUSE_SHADER,
    splitsum: SPLITSUM_SHADER,
  };
  return fixed[key];
}

/** Reads a (folded) network's parameters to host arrays by seed key. */
export async function hostWeights(model: U2Net): Promise<Map<string, Float32Array>> {
  const folded = model.batchNorm ? await foldBatchNorm(model) : model;
  try {
    const out = new Map<string, Float32Array>();
    for (const [key, v] of folded.namedParameters()) out.set(key, await v.data() as Float32Array);
    return out;
  } finally {
    if (folded !== model) folded.dispose();
  }
}
