#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, in ONE device call (use timeout_s 600; typically ~6 minutes; BENCH_BUDGET
# (default 540 s) caps the whole script: each step's timeout shrinks to what is left, most important rows first):
# our bench (caption, train, load on the MedGemma-4B-sized config) and the Hugging Face reference
# (hf_bench.py) on the same card, then writes $OUT/result.json in the bench/results/ format.
# Prepare .device/ first with bench/device/prepare.sh. Each step has its own timeout, so one hang
# loses one row, not the run. Full logs: $OUT/bench.txt and $OUT/hf.txt; a summary table prints last.
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
app=.device/app/MedGemma.Bench.dll
[ -f "$app" ] || { echo "no $app: run bench/device/prepare.sh first and carry .device" >&2; exit 2; }
log="$OUT/bench.txt"; ours="$OUT/ours.json"
started=$(date +%s)
budget=${BENCH_BUDGET:-540}   # whole-script seconds: later steps shrink so combine.py still runs inside the device call's limit
left() { local l=$(( budget - 15 - ($(date +%s) - started) )); [ "$1" -lt "$l" ] && l=$1; echo $l; }
step() { # step SECONDS ARGS... : one bench process (one row family; device memory is measured per process)
  local limit; limit=$(left "$1"); shift
  [ "$limit" -gt 5 ] || { echo "### skipped (budget spent): $*" >>"$log"; return; }
  echo "### $(($(date +%s) - started)) s: bench $* (limit ${limit} s)" >>"$log"
  timeout "$limit" bash .device/run.sh dotnet "$app" "$@" --json "$ours" >>"$log" 2>&1 || echo "### exit $? for: $*" >>"$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >>"$log" 2>&1
size=${BENCH_SIZE:-full}   # BENCH_SIZE=mid for a quick dry run of the script itself
step 130 caption --size "$size" --batches 1,8 --warmup 2 --repeat 5
step 60 train --size "$size" --batches 4 --warmup 3 --repeat 8
step 50 train --size "$size" --batches 4 --warmup 2 --repeat 5 --gradient-checkpointing
echo "### $(($(date +%s) - started)) s: hf_bench.py" >>"$log"
timeout "$(left 200)" python3 .device/hf_bench.py >"$OUT/hf.json" 2>"$OUT/hf.txt" || echo "### hf_bench.py exit $?" >>"$log"
ckpt_dir=$(mktemp -d -t medgemma-bench-checkpoint.XXXXXX)   # local disk of the device machine, not the carried tree
step 150 load --size "$size" --repeat 5 --dir "$ckpt_dir"
step 50 train --size "$size" --batches 1 --warmup 3 --repeat 8
step 40 caption --size "$size" --batches 1 --warmup 2 --repeat 5 --fused-norm   # opt-in fused RMSNorm: caption_fusednorm_b1_* vs caption_b1_*
step 30 ops --width 2560 --calls 5000   # host cost per call on CUDA (TorchSharp vs TorchScript, fused rms_norm): picks the next decode lever
echo "### $(($(date +%s) - started)) s: done" >>"$log"
python3 .device/combine.py "$ours" "$OUT/hf.json" "bash bench/device/run-gpu.sh (carry .device from bench/device/prepare.sh)" >"$OUT/result.json"
tail -n 60 "$log"
python3 .device/combine.py --table "$OUT/result.json"
