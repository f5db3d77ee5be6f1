#!/usr/bin/env bash
# Ours and pymatting (what rembg -a runs) on the same photo and mask, same
# machine, one after the other: `bash bench/matting/run.sh [SIZE] [RUNS]`.
# PYMATTING: a folder holding pymatting's source (default /tmp/pym).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-1200} runs=${2:-3} out=tests/.tmp/matting
deno run --allow-read=. --allow-write=tests/.tmp bench/matting/matting_bench.ts "$size" "$runs" "$out"
PYTHONPATH=${PYMATTING:-/tmp/pym} python3 bench/matting/pymatting_bench.py "$size" "$runs" "$out"
