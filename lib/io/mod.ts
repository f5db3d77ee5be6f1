/**
 * Weight files and where they come from: safetensors (read and write),
 * PyTorch `.pth` (zip and legacy, through a restricted unpickler), ONNX
 * import (parsed, then mapped to the seed's state-dict keys with BN folded),
 * key naming (the seed's and the original U-2-Net's), the model zoo
 * (rembg's release files), its on-disk cache and the verified download.
 * Formats only: building a network from the weights is `./model`.
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./mod.ts";
 * const sd = new Map([["w", { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) }]]);
 * const file = readSafetensors(writeSafetensors(sd));
 * console.log(file.tensors.get("w")!.shape); // [2]
 * ```
 *
 * @module
 */
export * from "./raw_tensor.ts";
export * from "./read_weights.ts";
export * from "./safetensors.ts";
export { isLegacyPth, LEGACY_PTH_MAGIC, type PthResult, readPth } from "./pth.ts";
export * from "./onnx.ts";
export * from "./naming.ts";
export type { ArchKind } from "./arch_shapes.ts";
export * from "./check_weights.ts";
export * from "./model_zoo.ts";
export * from "./model_cache.ts";
export * from "./download.ts";
