/**
 * The U2-Net network without the training code: architecture tables, the
 * network, its state dict, and backend selection.
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
} from "../net/config.ts";
export type { U2NetConfig } from "../net/config.ts";
export { type ForwardOptions, U2Net, type U2NetOptions } from "./u2net.ts";
export { buildRsu, type ConvLayerSpec, type RsuBlock } from "../net/rsu.ts";
export { type ConvLayerFn, rsuForward } from "../engines/tfjs/forward.ts";
export {
  type EntryInit,
  type EntryRole,
  stateDictSpec,
  type StateEntrySpec,
  type StructureOptions,
} from "../net/state_dict.ts";
export {
  type BackendInfo,
  type BackendName,
  selectBackend,
  type SelectBackendOptions,
} from "../backend.ts";
export { tf } from "../deps.ts";
export type { RawData, RawDType, RawTensor, StateDict } from "../io/raw_tensor.ts";
export type { Arch, Naming } from "../io/naming.ts";
export { readSafetensors, type SafetensorsFile, writeSafetensors } from "../io/safetensors.ts";
export {
  loadWeights,
  loadWeightsFile,
  type LoadWeightsOptions,
  modelFromWeights,
} from "./load_weights.ts";
export { foldBatchNorm, foldStateDict } from "./fold_bn.ts";
export { exportFolded, saveSafetensors } from "./export.ts";
export {
  type LoadedWeights,
  readWeights,
  type ReadWeightsOptions,
  type WeightsFormat,
} from "../io/read_weights.ts";
export {
  DEFAULT_MODEL_BASE_URL,
  isModelName,
  loadModelZoo,
  type LoadModelZooOptions,
  mergeManifest,
  MODEL_BASE_URL_ENV,
  MODEL_HOSTS,
  MODEL_MANIFEST_ENV,
  MODEL_ZOO,
  type ModelManifest,
  type ModelManifestEntry,
  modelUrl,
  type ModelZooEntry,
  type ZooArch,
} from "../io/model_zoo.ts";
export {
  type CachedModel,
  type EnsuredModel,
  ensureModel,
  type EnsureModelOptions,
  fileMd5,
  listCachedModels,
  MODEL_ENV_VARS,
  MODEL_HOME_ENV,
  modelCacheDir,
  type ModelEnv,
  type ModelZooOptions,
} from "../io/model_cache.ts";
export {
  DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS,
  DownloadError,
  type DownloadErrorKind,
  type DownloadOptions,
  downloadVerified,
} from "../io/download.ts";
