#!/usr/bin/env bash
# Our CPU training step (CpuTrainer) and PyTorch CPU's, alternating workload by
# workload and round by round in one run, at each thread count; then each
# side's peak RSS (one-step runs under /usr/bin/time). JSON lines on stdout.
#   bash bench/cpu/train_vs_torch.sh            # ROUNDS=3 THREADS="1 2" MODELS=lite
# Knobs: ROUNDS, THREADS, MODELS ("lite full"), WORKLOADS ("8:48 4:128 2:288" = batch:size),
# RUNS (timed steps a round, median reported), PYTHON (python3 with torch),
# CPU_TRAINER (extra JSON options, e.g. '{"fma":false}'), PEAK=0 skips RSS.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-"1 2"}
MODELS=${MODELS:-lite}
WORKLOADS=${WORKLOADS:-"8:48 4:128 2:288"}
RUNS=${RUNS:-3}
PYTHON=${PYTHON:-python3}
# Debian's python3-torch lives under /usr/bin/python3, which may not be the first python3.
if ! "$PYTHON" -c "import torch" 2>/dev/null && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  PYTHON=/usr/bin/python3
fi
EXTRA=${CPU_TRAINER:-"{}"}
PREFIX=""
WASM_DIR="$HOME/.cache/deno/npm/registry.npmjs.org/@tensorflow/tfjs-backend-wasm"
ours() { # ours BATCH SIZE THREADS RUNS (model: $m)
  local opts
  opts=$(echo "$EXTRA" | sed "s/^{/{\"threads\":$3,/; s/,}/}/")
  $PREFIX deno run -q --allow-read=.,"$WASM_DIR" --allow-env --allow-sys=cpus bench/train_bench.ts \
    --backend wasm --engine cpu --models "$m" --size "$2" --batches "$1" --runs "$4" --warmup 1 \
    --cpu-trainer "$opts"
}
theirs() { # theirs BATCH SIZE THREADS RUNS (model: $m)
  $PREFIX "$PYTHON" bench/torch_bench.py --device cpu --threads "$3" --workloads train --models "$m" \
    --train-size "$2" --train-batches "$1" --runs "$4" --warmup 1
}
echo "{\"machine\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"cores\": $(nproc), \"date\": \"$(date -u +%FT%TZ)\"}"
for round in $(seq 1 "$ROUNDS"); do
  for m in $MODELS; do
    for t in $THREADS; do
      for w in $WORKLOADS; do
        b=${w%%:*} s=${w##*:}
        ours "$b" "$s" "$t" "$RUNS" | sed "s/^{/{\"round\":$round,\"side\":\"ours\",/"
        theirs "$b" "$s" "$t" "$RUNS" | grep '^{' | sed "s/^{/{\"round\":$round,\"side\":\"torch\",/"
      done
    done
  done
done
[ "${PEAK:-1}" = 0 ] && exit 0
for m in $MODELS; do
  for t in $THREADS; do
    for w in $WORKLOADS; do
      b=${w%%:*} s=${w##*:}
      for side in ours theirs; do
        PREFIX="/usr/bin/time -f %M -o /tmp/u2net_peak_rss"
        $side "$b" "$s" "$t" 1 >/dev/null 2>&1
        PREFIX=""
        kib=$(tail -1 /tmp/u2net_peak_rss)
        echo "{\"peak_rss_mib\": $((kib / 1024)), \"side\": \"$side\", \"workload\": \"train_${m}_b${b}_${s}\", \"threads\": $t}"
      done
    done
  done
done
