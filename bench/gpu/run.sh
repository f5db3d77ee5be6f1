#!/usr/bin/env bash
# Every benchmark on the GPU machine in one run (no network needed there), in
# about 8 minutes, printing everything. See BENCHMARKS.md "GPU run" for how to
# prepare the carried folders (bench/gpu/prepare.sh makes them):
#   .gl/    Vulkan loader debs (unpacked only on a GPU machine without libvulkan)
#   .gpu_a/ deno.xz.part1: first part of the xz'd Deno 2.9.6 binary
#   .gpu/   deno.xz.part2 (the rest), deno.xz.sha256, bench.js (deno bundle of
#           bench/gpu/entry.ts with bench/gpu/bundle.json), check.js (the same
#           for bench/gpu/check.ts: the WebGPU correctness tests)
# The tree (39 MB of test data) plus the whole binary is over the device tool's
# 64 MiB per call, so the run takes two calls on one warm machine:
#   1. run(command="SKIP_DENO=1 bash bench/gpu/run.sh", carry=[".gl", ".gpu_a"], timeout_s=300)
#      (PyTorch rows; .gpu_a stays on the machine)
#   2. at once: run(command="SKIP_TORCH=1 bash bench/gpu/run.sh", carry=[".gl", ".gpu"],
#      timeout_s=480)   (every Deno WebGPU row)
#
# Output: JSON lines (the benchmarks' records, progress, notes) on stdout, also
# written to $OUT/bench.jsonl (stdout) and $OUT/run.log (stdout + stderr)
# when $OUT is set. Every step has a time limit; a step that runs out prints
# {"timeout": step, "limit_s": N} and the run goes on.
#
# Knobs (environment): BUDGET_S (total, default 470), SIZE (320), TRAIN_SIZE
# (288), GEMM_SIZE (2048x2048x4096), PYTHON (python3), ALLOW_SOFTWARE=1 to bench a software WebGPU adapter
# (llvmpipe), SKIP_TORCH=1, SKIP_DENO=1, PLAN=tiling (the kernel-tiling sweep
# instead of the main list; see below; its lists: TILINGS, SPLITS,
# ENGINE_TILES; GEMM=1 adds the GEMM variants).
set -u
cd "$(dirname "$0")/../.." || exit 1
T0=$(date +%s)
BUDGET_S=${BUDGET_S:-470}
SIZE=${SIZE:-320}
TRAIN_SIZE=${TRAIN_SIZE:-288}
GEMM_SIZE=${GEMM_SIZE:-2048x2048x4096}
PYTHON=${PYTHON:-python3}
LOGDIR=${OUT:-/tmp/u2net_gpu_bench}
mkdir -p "$LOGDIR"
JSONL="$LOGDIR/bench.jsonl"
RUNLOG="$LOGDIR/run.log"
: >"$JSONL"
: >"$RUNLOG"

note() { # one JSON note line: note KEY VALUE
  local line
  line=$(printf '{"%s": %s}' "$1" "$2")
  echo "$line" | tee -a "$JSONL" "$RUNLOG"
}
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
# step NAME LIMIT_S CMD...: runs CMD under min(LIMIT_S, time left), JSON lines to the logs.
step() {
  local name=$1 limit=$2 rest
  shift 2
  rest=$(left)
  if [ "$rest" -lt 15 ]; then
    note skipped "\"$name (budget spent)\""
    return 0
  fi
  [ "$limit" -gt "$rest" ] && limit=$rest
  note step "{\"name\": \"$name\", \"limit_s\": $limit, \"t_s\": $(($(date +%s) - T0))}"
  timeout -k 5 "$limit" "$@" 2> >(tee -a "$RUNLOG" >&2) | tee -a "$JSONL" "$RUNLOG"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    note timeout "{\"step\": \"$name\", \"limit_s\": $limit}"
  elif [ "$rc" -ne 0 ]; then
    note failed "{\"step\": \"$name\", \"rc\": $rc}"
  fi
  return 0
}

# --- the machine ------------------------------------------------------------
note machine "\"$(uname -srm), $(nproc) cores\""
if command -v nvidia-smi >/dev/null; then
  note gpu "\"$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)\""
else
  note gpu '"none (no nvidia-smi)"'
fi

# --- Vulkan loader and driver (Deno's WebGPU runs on Vulkan) -----------------
# Unpacked into / only on a GPU machine (nvidia-smi there) that lacks the loader:
# never over a workstation's own packages.
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  if ! command -v nvidia-smi >/dev/null; then
    note vulkan '"no libvulkan; not a GPU machine, so .gl is left packed"'
  elif ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    note vulkan '"loader unpacked from .gl"'
  else
    note vulkan '"no libvulkan and no .gl debs: Deno WebGPU will find no adapter"'
  fi
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
  /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
    note vulkan_icd "\"$icd\""
    break
  fi
done

# --- Deno and the bundle ------------------------------------------------------
DENO=""
if [ "${SKIP_DENO:-0}" = 1 ]; then
  :
elif [ -f .gpu/deno.xz.part2 ] && [ -f .gpu_a/deno.xz.part1 ]; then
  cat .gpu_a/deno.xz.part1 .gpu/deno.xz.part2 >/tmp/deno.xz
  if [ -f .gpu/deno.xz.sha256 ] &&
    [ "$(sha256sum /tmp/deno.xz | cut -d' ' -f1)" != "$(cat .gpu/deno.xz.sha256)" ]; then
    note deno '"parts do not match deno.xz.sha256: rerun prepare.sh and both calls"'
  elif xz -dc /tmp/deno.xz >/tmp/deno && chmod +x /tmp/deno; then
    DENO=/tmp/deno
  fi
elif command -v deno >/dev/null; then
  DENO=$(command -v deno)
elif [ -f .gpu/deno.xz.part2 ]; then
  note deno '"part 1 missing (.gpu_a was not carried to this machine, or it went back): do call 1 again, then call 2 at once"'
fi
if [ -n "$DENO" ]; then
  note deno "\"$($DENO --version | head -1)\""
elif [ "${SKIP_DENO:-0}" != 1 ]; then
  note deno '"missing: carry .gpu (and .gpu_a in the call before)"'
fi
# The bundle needs no npm cache; without it (here) the sources run from the checkout.
if [ -f .gpu/bench.js ]; then
  BENCH=(.gpu/bench.js)
else
  BENCH=(bench/gpu/entry.ts)
fi
export DENO_DIR=${DENO_DIR_OVERRIDE:-${DENO_DIR:-$HOME/.cache/deno}}

ADAPTER_OK=0
if [ -n "$DENO" ] && [ "${SKIP_DENO:-0}" != 1 ]; then
  probe=$(timeout 60 "$DENO" eval --quiet '
    const a = await navigator.gpu?.requestAdapter().catch(() => null);
    const i = a?.info;
    const name = i ? [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(" ") : "";
    const soft = /llvmpipe|lavapipe|swiftshader|software/i.test(name) || Boolean(a?.isFallbackAdapter);
    console.log(JSON.stringify({ adapter: a ? name || "unknown" : null, software: soft }));' 2>&1 | tail -1)
  echo "$probe" | tee -a "$JSONL" "$RUNLOG"
  if echo "$probe" | grep -q '"adapter":null'; then
    note skipped '"Deno WebGPU rows: no adapter"'
  elif echo "$probe" | grep -q '"software":true' && [ "${ALLOW_SOFTWARE:-0}" != 1 ]; then
    note skipped '"Deno WebGPU rows: software adapter only (set ALLOW_SOFTWARE=1 to bench it)"'
  elif echo "$probe" | grep -q '"adapter"'; then
    ADAPTER_OK=1
  else
    note skipped '"Deno WebGPU rows: the adapter probe failed"'
  fi
fi

# --- PyTorch: the reference rows, same workloads ----------------------------
if [ "${SKIP_TORCH:-0}" != 1 ]; then
  # PyTorch as people run it (defaults: TF32 convs; AMP fp16 + GradScaler) and strict fp32,
  # side by side (each record names its precision).
  # TORCH_WORKLOADS=gemm: only torch.mm (PLAN=coop's reference).
  step torch 240 "$PYTHON" bench/torch_bench.py --device cuda --parity tests/testdata --gemm-size "$GEMM_SIZE" \
    --workloads "${TORCH_WORKLOADS:-infer,train,gemm}" \
    --size "$SIZE" --train-size "$TRAIN_SIZE" --runs 20 --warmup 5 --max-seconds 3 \
    --precisions "${TORCH_PRECISIONS:-default,amp,fp32}" ${TORCH_EXTRA:-}
fi

# --- Ours on WebGPU ------------------------------------------------------------
check_webgpu() { # the WebGPU correctness tests on this GPU (bench/gpu/check.ts)
  if [ -f .gpu/check.js ]; then
    cp .gpu/check.js tests/_gpu_check.js
    step check_webgpu "$1" env NO_COLOR=1 "$DENO" test --no-prompt --allow-read=. --allow-env \
      --allow-sys=cpus --reporter=dot --junit-path="$LOGDIR/check.xml" tests/_gpu_check.js
  fi
}

if [ "$ADAPTER_OK" = 1 ] && [ "${PLAN:-main}" = coop ]; then
  # PLAN=coop: whether Deno's WebGPU reaches the tensor cores (wgpu's cooperative matrices):
  # the adapter's features, f16 16x16 cooperative-matrix GEMM variants (checked, then timed),
  # and our fp32 GEMM tiles at the same size (torch_bench --workloads gemm in call 1).
  DB=("$DENO" run --no-prompt --allow-read=. --allow-env --allow-sys=cpus "${BENCH[@]}")
  step coop 120 "${DB[@]}" coop --size "$GEMM_SIZE" --reps 10 --runs 5
  step gemm 40 "${DB[@]}" gemm --size "$GEMM_SIZE" --reps 10 --runs 5
elif [ "$ADAPTER_OK" = 1 ] && [ "${PLAN:-main}" = sweep ]; then
  # PLAN=sweep: the fp32 GEMM tiles with other k steps and shapes (gemm --sweep), and a second
  # sample of the headline training rows (pipelined b16, f32 and f16; call 1 with
  # TORCH_WORKLOADS=train TORCH_EXTRA="--train-batches 16" gives PyTorch's beside them).
  DB=("$DENO" run --no-prompt --allow-read=. --allow-env --allow-sys=cpus "${BENCH[@]}")
  step gemm_sweep 60 "${DB[@]}" gemm --size "$GEMM_SIZE" --reps 10 --runs 5 --sweep
  step train_recorded_pipelined 40 "${DB[@]}" train --backend webgpu --engine gpu --pipelined \
    --models lite,full --batches 16 --size "$TRAIN_SIZE" --runs 8 --warmup 2 --max-seconds 5
  step train_recorded_f16_pipelined 40 "${DB[@]}" train --backend webgpu --engine gpu \
    --pipelined --precision f16 --models lite,full --batches 16 --size "$TRAIN_SIZE" --runs 8 \
    --warmup 3 --max-seconds 5
elif [ "$ADAPTER_OK" = 1 ] && [ "${PLAN:-main}" = converge ]; then
  # PLAN=converge: train() on the synthetic data in f32, then f16 (same data and initial
  # weights): does mixed precision converge like f32? (bench/gpu_converge.ts)
  step converge 240 "$DENO" run --no-prompt --allow-read=.,/tmp --allow-write=/tmp \
    --allow-sys=cpus "${BENCH[@]}" converge ${CONVERGE_ARGS:-}
elif [ "$ADAPTER_OK" = 1 ] && [ "${PLAN:-main}" = tiling ]; then
  # PLAN=tiling: the defaults first (the recorded training step, lite and
  # full at b16; the engine at b1 and b8, and with calls in flight), the
  # training step under each other kernel tiling (--tiling) and the
  # correctness checks; then each model's b8 rows (the fastest tiling's
  # too, when another won) and profile; the engine's other split-K targets
  # and tile sizes, and its profile.
  DB=("$DENO" run --no-prompt --allow-read=. --allow-env --allow-sys=cpus "${BENCH[@]}")
  W=(--backend webgpu)
  T=(--size "$TRAIN_SIZE" --runs 3 --warmup 1 --max-seconds 5)
  E=(--size "$SIZE" --runs 10 --warmup 2 --max-seconds 3)
  [ "${GEMM:-0}" = 1 ] && step gemm 40 "${DB[@]}" gemm --size "$GEMM_SIZE" --reps 10 --runs 5
  step tiling_default 30 "${DB[@]}" train "${W[@]}" --engine gpu --models lite,full --batches 16 "${T[@]}"
  step tiling_f16 30 "${DB[@]}" train "${W[@]}" --engine gpu --models lite,full --batches 16 "${T[@]}" \
    --precision f16
  step forward_engine 25 "${DB[@]}" forward "${W[@]}" --engine --models lite,full --batches 1,8 "${E[@]}"
  # Eight batch-1 calls made together (they overlap; torch_bench's pipelined_ rows likewise).
  step forward_engine_inflight8 25 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
    --batches 1 "${E[@]}" --inflight 8
  step forward_engine_f16 25 "${DB[@]}" forward "${W[@]}" --engine --models lite,full --batches 1,8 \
    "${E[@]}" --precision f16
  # TILINGS: the other tilings to time (space-separated `--tiling` values).
  # Measured on an H200 on 2026-11-27 and no faster than the default, so left
  # out: looped shaders (3-4x slower), grad128, wg1024, wg4096, conv128,
  # 128x128 conv tiles and a register prefetch (the last two since removed).
  for t in ${TILINGS-scalarlooped}; do
    step "tiling_$t" 30 "${DB[@]}" train "${W[@]}" --engine gpu --models lite,full \
      --batches 16 "${T[@]}" --tiling "$t"
  done
  check_webgpu 100
  for m in lite full; do
    # The fastest tiling at b16, or "" when it is the default (the first row).
    best=$("$PYTHON" - "$JSONL" "train_${m}_b16_$TRAIN_SIZE" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"workload"')]
rows = [r for r in rows if r["workload"] == sys.argv[2] and "tiling" in r]
best = min(rows, key=lambda r: r["median_ms"]) if rows else None
print(best["tiling"] if best and best is not rows[0] else "")
PY
    )
    note "best_tiling_$m" "\"${best:-default}\""
    step "train_default_${m}_b8" 25 "${DB[@]}" train "${W[@]}" --engine gpu --models "$m" \
      --batches 8 "${T[@]}"
    if [ -n "$best" ]; then
      step "train_best_${m}_b8" 25 "${DB[@]}" train "${W[@]}" --engine gpu --models "$m" \
        --batches 8 "${T[@]}" --tiling "$best"
    fi
    step "profile_best_$m" 30 "${DB[@]}" profile --backend webgpu --models "$m" --skip-infer \
      --recorded --train-size "$TRAIN_SIZE" --train-batch 16 ${best:+--tiling "$best"}
  done
  # The engine: other split-K targets (the default is 1024; SPLITS), other tiles (ENGINE_TILES).
  for s in ${SPLITS-0}; do
    step "forward_engine_split$s" 25 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
      --batches 1,8 "${E[@]}" --split "$s"
  done
  for tile in ${ENGINE_TILES-32}; do
    step "forward_engine_tile$tile" 25 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
      --batches 1,8 "${E[@]}" --tile "$tile"
  done
  step profile_infer_engine 30 "${DB[@]}" profile --backend webgpu --models lite,full --size "$SIZE" \
    --skip-train --recorded
elif [ "$ADAPTER_OK" = 1 ]; then
  DB=("$DENO" run --no-prompt --allow-read=. --allow-env --allow-sys=cpus "${BENCH[@]}")
  W=(--backend webgpu --progress)
  # In order of importance: a step that no longer fits the budget is skipped.
  # The recorded training step (GpuTrainer): the rows the training target is judged on.
  step train_recorded 120 "${DB[@]}" train "${W[@]}" --engine gpu --models lite,full \
    --batches 16,8 --size "$TRAIN_SIZE" --runs 5 --warmup 2 --max-seconds 10
  # Mixed precision (--precision f16: f16 activations and GEMM tiles, loss scaling), against torch_bench's amp
  # rows; the loss scale settles during the warm-up (the row says the scale and skipped steps).
  step train_recorded_f16 60 "${DB[@]}" train "${W[@]}" --engine gpu --precision f16 \
    --models lite,full --batches 16 --size "$TRAIN_SIZE" --runs 5 --warmup 3 --max-seconds 10
  # The same steps as the training loop runs them: step n+1 submitted before
  # step n's loss is read (the ~10 ms mapAsync floor hidden).
  step train_recorded_pipelined 60 "${DB[@]}" train "${W[@]}" --engine gpu --pipelined \
    --models lite,full --batches 16 --size "$TRAIN_SIZE" --runs 8 --warmup 2 --max-seconds 10
  check_webgpu 90
  step forward_engine 70 "${DB[@]}" forward "${W[@]}" --engine --models lite,full --size "$SIZE" \
    --batches 1,8 --runs 10 --warmup 2 --max-seconds 8
  step forward_engine_inflight8 30 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
    --size "$SIZE" --batches 1 --runs 10 --warmup 2 --max-seconds 5 --inflight 8
  # A/B: two read-back buffers (the engine's default until 2026-12-04; rows "…_rb2").
  step forward_engine_inflight8_rb2 30 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
    --size "$SIZE" --batches 1 --runs 10 --warmup 2 --max-seconds 5 --inflight 8 --read-backs 2
  # Mixed precision (--precision f16; rows "…_f16"), against torch_bench's amp rows.
  step forward_engine_f16 50 "${DB[@]}" forward "${W[@]}" --engine --models lite,full --size "$SIZE" \
    --batches 1,8 --runs 10 --warmup 2 --max-seconds 5 --precision f16
  step forward_engine_f16_inflight8 30 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
    --size "$SIZE" --batches 1 --runs 10 --warmup 2 --max-seconds 5 --inflight 8 --precision f16
  # A/B against train_recorded's b16 rows (rows say their tiling): the convs on 8x8 register
  # tiles with 128- and 64-pixel tiles, the filter gradients on 8 channels a thread with 64 and
  # 128 rows (each the same bits as the default, or the same sums split alike).
  for t in ${AB_TILINGS-regs8 conv128,regs8 regs8,prefetch conv128,regs8,prefetch gradcols2 \
    gradcols2,gradprefetch grad128,gradcols2 regs8,gradcols2 regs8,prefetch,gradcols2,gradprefetch}; do
    step "train_recorded_${t//,/_}" 30 "${DB[@]}" train "${W[@]}" --engine gpu --models lite,full \
      --batches 16 --size "$TRAIN_SIZE" --runs 4 --warmup 1 --max-seconds 6 --tiling "$t"
  done
  # A/B against forward_engine: the convs on 8x8 register tiles (rows "…_r8", the same results).
  step forward_engine_r8 40 "${DB[@]}" forward "${W[@]}" --engine --models lite,full --size "$SIZE" \
    --batches 1,8 --runs 10 --warmup 2 --max-seconds 5 --regs 8
  step forward_engine_r8_p 40 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
    --size "$SIZE" --batches 1,8 --runs 10 --warmup 2 --max-seconds 5 --regs 8 --prefetch
  step profile_train_recorded 40 "${DB[@]}" profile --backend webgpu --models lite --skip-infer \
    --recorded --train-size "$TRAIN_SIZE" --train-batch 16
  step profile_infer_engine 30 "${DB[@]}" profile --backend webgpu --models lite,full --size "$SIZE" \
    --skip-train --recorded
  step profile_train_recorded_full 40 "${DB[@]}" profile --backend webgpu --models full --skip-infer \
    --recorded --train-size "$TRAIN_SIZE" --train-batch 16
  step train_recorded_f16_pipelined 60 "${DB[@]}" train "${W[@]}" --engine gpu --pipelined \
    --precision f16 --models lite,full --batches 16 --size "$TRAIN_SIZE" --runs 8 --warmup 3 \
    --max-seconds 10
  # f16 maps with each 16-k step summed in f32 (rows "…_f16w").
  step forward_engine_f16w 40 "${DB[@]}" forward "${W[@]}" --engine --models lite,full \
    --size "$SIZE" --batches 1,8 --runs 10 --warmup 2 --max-seconds 5 --precision f16 --f32-sums
  step host_overhead 30 "${DB[@]}" host --models lite,full --size "$SIZE" --runs 5
  step gemm 40 "${DB[@]}" gemm --size "$GEMM_SIZE" --reps 10 --runs 5
  step host_train 40 "${DB[@]}" host --train --models lite,full --runs 3
  # Whether this Deno reaches the tensor cores (wgpu cooperative matrices; none on 2026-12-04),
  # and mixed precision against f32 through train() (PLAN=coop and PLAN=converge run them alone).
  step coop 60 "${DB[@]}" coop --size "$GEMM_SIZE" --reps 10 --runs 5
  step converge 120 "$DENO" run --no-prompt --allow-read=.,/tmp --allow-write=/tmp \
    --allow-sys=cpus "${BENCH[@]}" converge ${CONVERGE_ARGS:-}
  # The tfjs path (tfjs' graph with our kernels): rows last measured on 2026-11-27, far behind the
  # recorded step and engine; TFJS_ROWS=1 times them again.
  [ "${TFJS_ROWS:-0}" = 1 ] || { note done "{\"t_s\": $(($(date +%s) - T0)), \"records\": $(grep -c '"median_ms"' "$JSONL")}"; exit 0; }
  step forward_tfjs 80 "${DB[@]}" forward "${W[@]}" --models lite,full --size "$SIZE" \
    --batches 1,8 --runs 10 --warmup 2 --max-seconds 8
  for cfg in lite:16 full:16; do
    step "train_${cfg/:/_b}" 45 "${DB[@]}" train "${W[@]}" --models "${cfg%:*}" \
      --batches "${cfg#*:}" --size "$TRAIN_SIZE" --runs 3 --warmup 1 --max-seconds 15
  done
  # A/B in the same run: tfjs' own kernels (our per-tap conv gradient, tf-op
  # BatchNorm, loss and AdamW) instead of our WGSL ones.
  step train_lite_b8_tfjs_kernels 50 "${DB[@]}" train "${W[@]}" --models lite --batches 8 \
    --size "$TRAIN_SIZE" --runs 2 --warmup 1 --max-seconds 20 --tfjs-kernels
  step profile_train_lite 45 "${DB[@]}" profile --backend webgpu --models lite --skip-infer \
    --train-size "$TRAIN_SIZE" --train-batch 8
  step forward_engine_tile64 30 "${DB[@]}" forward "${W[@]}" --engine --tile 64 --models lite,full \
    --size "$SIZE" --batches 1 --runs 10 --warmup 2 --max-seconds 5
  step profile_infer_lite 40 "${DB[@]}" profile --backend webgpu --models lite --size "$SIZE" \
    --skip-train
  step train_lite_b16_submit64 45 "${DB[@]}" train "${W[@]}" --models lite --batches 16 \
    --size "$TRAIN_SIZE" --runs 3 --warmup 1 --max-seconds 15 --submit-batch 64
fi
note done "{\"t_s\": $(($(date +%s) - T0)), \"records\": $(grep -c '"median_ms"' "$JSONL")}"
