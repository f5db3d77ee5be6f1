/**
 * The WebGPU correctness tests, for the GPU machine's second bundle
 * (`.gpu/check.js`, made by `bench/gpu/prepare.sh`): the kernels against
 * tfjs' own, the inference engine against the tfjs path, and the recorded
 * training step against PyTorch's three AdamW steps and tfjs' gradients. The
 * speed rows mean little if these fail on the GPU that measured them.
 *
 * `bench/gpu/run.sh` copies the bundle to `tests/_gpu_check.js` (so the
 * fixtures resolve as `tests/testdata/`) and runs `deno test` on it.
 *
 * @module
 */
import "../../tests/model/bn_webgpu_test.ts";
import "../../tests/model/conv_grad_webgpu_test.ts";
import "../../tests/model/resize_webgpu_test.ts";
import "../../tests/model/running_stats_webgpu_test.ts";
import "../../tests/train/loss_webgpu_test.ts";
import "../../tests/train/adamw_webgpu_test.ts";
import "../../tests/predict/gpu_engine_test.ts";
import "../../tests/train/gpu_trainer_test.ts";
import "../../tests/train/step_runner_test.ts";
