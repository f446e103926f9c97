#!/usr/bin/env bash
# Builds the .device/ pack for bench/device/run-gpu.sh (run here, no GPU needed), from the root of the checkout
# that the device tool sends (a helper's worktree is NOT sent: run this in the session's own checkout):
#   bash bench/device/prepare.sh [SHARED_DIR]      # SHARED_DIR defaults to ../shared (holds device/pack.sh, reference/hf_bench.py)
# Then one device call:  run  carry [".device"]  timeout_s 600  command "bash bench/device/run-gpu.sh"
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
shared=$(cd "${1:-$root/../shared}" && pwd)
pub=$(mktemp -d)
dotnet publish bench/MedGemma.Bench.csproj -c Release -o "$pub" -p:UseAppHost=false >/dev/null
bash "$shared/device/pack.sh" "$pub"
cp "$shared/reference/hf_bench.py" .device/hf_bench.py
cp bench/device/combine.py bench/device/hf_parts.py .device/
rm -rf "$pub"
echo "ready: .device/ ($(du -sm .device | cut -f1) MiB); now call the device tool with carry [\".device\"] and: bash bench/device/run-gpu.sh"
