/**
 * The recorded engine's setup (`gpu_engine.ts`): the WGSL of each planned
 * shader key and the folded network's weights on the host (the device,
 * pipelines and buffers come from `gpu_runtime.ts`).
 *
 * @module
 */
import type { U2Net } from "../../model/u2net.ts";
import { foldBatchNorm } from "../../model/fold_bn.ts";
import { convShaderVec4, convWideTile } from "../../kernels/conv/conv_wgsl.ts";
import { convToOneShader } from "../../kernels/conv/conv_one_wgsl.ts";
import {
  convShader,
  FUSE_SHADER,
  poolShader,
  resizeShader,
  splitsumShader,
} from "../../kernels/engine_wgsl.ts";

/**
 * WGSL source of a planned shader key (see `PlannedStep.shader`: a
 * mixed-precision key ends in `.` and its read and written types).
 *
 * @throws {RangeError} For a key no plan makes.
 */
export function shaderSource(key: string): string {
  const [base, types = ""] = key.split(".");
  const inHalf = types[0] === "h", outHalf = types[1] === "h";
  const vec = /^convv(\d+)x(\d+)(u?)(r8)?(p?)(k?)$/.exec(base);
  const scalar = /^conv(\d+)(u?)$/.exec(base);
  const code = vec
    ? convShaderVec4(Number(vec[1]), Number(vec[2]), {
      unrolled: vec[3] === "u",
      ...(vec[4] ? convWideTile(8, Number(vec[2])) : {}),
      ...(vec[5] ? { prefetch: true } : {}),
      splitK: vec[6] === "k",
      ...(types ? { half: true, halfSums: types === "hh" } : {}),
    })
    : scalar
    ? convShader(Number(scalar[1]), scalar[2] === "u", types ? { inHalf, outHalf } : {})
    : base === "side"
    ? convToOneShader(inHalf ? { half: true } : {})
    : base === "pool"
    ? poolShader(inHalf)
    : base === "resize"
    ? resizeShader(inHalf)
    : base === "fuse" && !types
    ? FUSE_SHADER
    : base === "splitsum"
    ? splitsumShader(outHalf)
    : undefined;
  if (code === undefined || !/^(|[hf][hfw])$/.test(types)) {
    throw new RangeError(`Cannot make a shader: current key is "${key}"`);
  }
  return code;
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
