#!/usr/bin/env bash
# Prepares the carried folders for bench/gpu/run.sh, here (with network), in
# the repo root:
#   .gpu/bench.js          deno bundle of bench/gpu/entry.ts (no npm cache needed)
#   .gpu/check.js          deno bundle of bench/gpu/check.ts (the WebGPU tests)
#   .gpu_a/deno.xz.part1   this machine's Deno, xz'd (x86 BCJ + LZMA2 9e), first 18 MiB
#   .gpu/deno.xz.part2     the rest
#   .gl/                   Vulkan loader debs (amd64)
# The Deno binary is split because the working tree (42 MB tracked, mostly test
# data) plus all of it exceeds the device tool's 64 MiB per call: call 1 carries
# .gpu_a (it stays on the warm machine), call 2 carries .gpu. 18 MiB (not 24, as
# before the tree grew) keeps each call about 6 MB under the limit; the script
# checks both totals. See BENCHMARKS.md.
# All three folders are git-ignored (.gl by .gitignore, the others by
# .git/info/exclude). Re-run after changing benchmark or library code: the
# bundle is a snapshot.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu .gpu_a .gl
for d in /.gpu/ /.gpu_a/; do
  grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
done
deno bundle --quiet --config bench/gpu/bundle.json --platform deno -o .gpu/bench.js \
  bench/gpu/entry.ts
deno bundle --quiet --config bench/gpu/bundle.json --platform deno -o .gpu/check.js \
  bench/gpu/check.ts
DENO_BIN=$(readlink -f "$(command -v deno)")
PART1=$((18 * 1024 * 1024))
if [ ! -f .gpu/deno.xz.part2 ] || [ "$DENO_BIN" -nt .gpu/deno.xz.part2 ] ||
  [ "$(stat -c %s .gpu_a/deno.xz.part1 2>/dev/null || echo 0)" != "$PART1" ]; then
  # about 80 s on one core; 95.6 MB -> 28.8 MB for Deno 2.9.6
  xz -T1 --x86 --lzma2=preset=9e,dict=128MiB,nice=273 -c "$DENO_BIN" >/tmp/deno.xz
  head -c "$PART1" /tmp/deno.xz >.gpu_a/deno.xz.part1
  tail -c +$((PART1 + 1)) /tmp/deno.xz >.gpu/deno.xz.part2
  sha256sum /tmp/deno.xz | cut -d' ' -f1 >.gpu/deno.xz.sha256
  rm -f /tmp/deno.xz .gpu/deno.xz
fi
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update -qq
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
    libgles2)
fi
du -sh .gpu .gpu_a .gl
# What each call sends: the tracked tree (and untracked files git does not ignore) plus its carry.
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb 2>/dev/null |
  tail -1 | cut -f1)
for carry in ".gl .gpu_a" ".gl .gpu"; do
  # shellcheck disable=SC2086
  total=$((tree + $(du -scb $carry | tail -1 | cut -f1)))
  echo "carry [$carry]: $((total / 1048576)) MiB of 64"
  [ "$total" -lt $((64 * 1024 * 1024)) ] || echo "WARNING: over the device tool's 64 MiB per call" >&2
done
echo 'call 1: carry [".gl", ".gpu_a"], command: SKIP_DENO=1 bash bench/gpu/run.sh'
echo 'call 2 (at once, machine still warm): carry [".gl", ".gpu"], command: SKIP_TORCH=1 bash bench/gpu/run.sh'
