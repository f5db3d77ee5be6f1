/**
 * The U2-Net network on tfjs, without the training code: the network
 * (`U2Net`, full and lite), its stage tables and state-dict layout, weights
 * in (any format `./io` reads) and out (safetensors, BN folded or not),
 * backend selection, and `tf`, the tfjs namespace the network's tensors
 * belong to (exported here only).
 *
 * @example
 * ```ts
 * import { selectBackend, tf, U2Net } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = U2Net.create("lite");
 * const prob = tf.tidy(() => model.predict(tf.zeros([1, 64, 64, 3])));
 * console.log(prob.shape); // [1, 64, 64, 1]
 * prob.dispose();
 * model.dispose();
 * ```
 *
 * @module
 */
export {
  type ArchName,
  configFromWidths,
  resolveConfig,
  type StageConfig,
  type StageWidths,
  U2NET_FULL,
  U2NET_LITE,
  type U2NetConfig,
} from "../net/config.ts";
export { type ForwardOptions, U2Net, type U2NetOptions } from "./u2net.ts";
export {
  type EntryInit,
  type EntryRole,
  stateDictSpec,
  type StateEntrySpec,
  type StructureOptions,
} from "../net/state_dict.ts";
export {
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  selectBackend,
  type SelectBackendOptions,
} from "../backend.ts";
export { tf } from "../deps.ts";
export type { RawData, RawDType, RawTensor, StateDict } from "../io/raw_tensor.ts";
export type { Arch, Naming } from "../io/naming.ts";
export {
  DEFAULT_IDENTITY_BN,
  loadInferenceModel,
  loadWeights,
  loadWeightsFile,
  type LoadWeightsOptions,
  modelFromWeights,
} from "./load_weights.ts";
export { foldBatchNorm, foldStateDict } from "./fold_bn.ts";
export { exportFolded, type ExportMetadata, exportMetadata, saveSafetensors } from "./export.ts";
export {
  type LoadedWeights,
  readWeights,
  type ReadWeightsOptions,
  type WeightsFormat,
} from "../io/read_weights.ts";
