#!/usr/bin/env bash
# Builds gemm_tiles.c (clang 19, the trainer's FMA flags) and times its
# register tiles side by side: bash bench/cpu/gemm_tiles/run.sh [NT,CI,COP] [ROUNDS]
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
  echo "usage: bash bench/cpu/gemm_tiles/run.sh [NT,CI,COP] [ROUNDS]   (JSON lines, a variant each)"
  echo 'defaults: {"shape":"48,128,48","rounds":15}; NT a multiple of 12, CI of 4, COP of 24'
  exit 0
fi
cd "$(dirname "$0")"
out=$(mktemp -d)
"${CLANG:-clang-19}" --target=wasm32 -O3 -msimd128 -mrelaxed-simd -mbulk-memory -ffp-contract=off \
  -nostdlib -Wl,--no-entry -Wl,--export-all -o "$out/gemm_tiles.wasm" gemm_tiles.c
deno run --allow-read="$out" gemm_tiles.ts "$out/gemm_tiles.wasm" "${1:-48,128,48}" "${2:-15}"
rm -r "$out"
