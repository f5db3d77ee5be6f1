/**
 * Writes a network's weights as safetensors with the seed's key names and
 * PyTorch layout (OIHW kernels, int64 `num_batches_tracked` scalars), so that
 * `safetensors.torch.load_file` + `load_state_dict` loads them in PyTorch, and
 * as a BN-folded inference export.
 *
 * @module
 */
import { foldBatchNorm } from "./fold_bn.ts";
import type { U2Net } from "./u2net.ts";
import { writeSafetensors } from "../io/safetensors.ts";

/** The `__metadata__` an export carries (all values are strings, as safetensors requires). */
export interface ExportMetadata extends Record<string, string> {
  /** `"full"` or `"lite"`. */
  arch: string;
  /** `"true"` when ConvBNReLU convs have biases. */
  convBias: string;
  /** `"false"` for a BN-folded inference network. */
  batchNorm: string;
  /** Always `"pt"` (PyTorch tensors), as `safetensors.torch.save_file` writes. */
  format: string;
}

/**
 * The metadata {@linkcode saveSafetensors} writes for a network.
 *
 * @example
 * ```ts
 * import { exportMetadata } from "./export.ts";
 * import { U2Net } from "./u2net.ts";
 * const m = U2Net.create("lite");
 * exportMetadata(m); // { arch: "lite", convBias: "false", batchNorm: "true", format: "pt" }
 * m.dispose();
 * ```
 */
export function exportMetadata(model: U2Net): ExportMetadata {
  return {
    arch: model.config.name,
    convBias: String(model.convBias),
    batchNorm: String(model.batchNorm),
    format: "pt",
  };
}

/**
 * Serialises the network's state dict (seed keys, PyTorch layout, state-dict
 * order) to safetensors bytes with {@linkcode exportMetadata}.
 *
 * @example
 * ```ts
 * import { saveSafetensors } from "./export.ts";
 * import { U2Net } from "./u2net.ts";
 * const model = U2Net.create("lite");
 * await Deno.writeFile("tests/.tmp/lite.safetensors", await saveSafetensors(model));
 * model.dispose();
 * ```
 */
export async function saveSafetensors(model: U2Net): Promise<Uint8Array> {
  return writeSafetensors(await model.stateDict(), exportMetadata(model));
}

/**
 * Folds BatchNorm into the convs (see `foldBatchNorm`) and serialises the
 * resulting inference network (metadata `batchNorm: "false"`); `loadWeights`
 * loads it back as a folded-BN network. The input network is left untouched.
 *
 * @example
 * ```ts
 * import { exportFolded } from "./export.ts";
 * import { U2Net } from "./u2net.ts";
 * const model = U2Net.create("lite");
 * const bytes = await exportFolded(model); // 238 tensors, no bn.* keys
 * model.dispose();
 * ```
 */
export async function exportFolded(model: U2Net): Promise<Uint8Array> {
  const folded = await foldBatchNorm(model);
  try {
    return await saveSafetensors(folded);
  } finally {
    folded.dispose();
  }
}
