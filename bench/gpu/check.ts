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
import "../../tests/kernels/bn/bn_webgpu_test.ts";
import "../../tests/kernels/conv/conv_grad_webgpu_test.ts";
import "../../tests/kernels/resize/resize_webgpu_test.ts";
import "../../tests/kernels/bn/running_stats_webgpu_test.ts";
import "../../tests/kernels/loss/loss_webgpu_test.ts";
import "../../tests/kernels/adamw/adamw_webgpu_test.ts";
import "../../tests/engines/gpu/gpu_engine_test.ts";
import "../../tests/engines/gpu/gpu_engine_f16_test.ts";
import "../../tests/engines/gpu/gpu_trainer_f16_test.ts";
import "../../tests/kernels/conv/conv_half_webgpu_test.ts";
import "../../tests/kernels/wgsl_standalone_half_test.ts";
import "../../tests/kernels/conv/conv_tile_webgpu_test.ts";
import "../../tests/engines/gpu/gpu_trainer_test.ts";
import "../../tests/train/step_runner_test.ts";
