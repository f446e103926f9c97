#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, in ONE device call: our bench (caption, train, load on the
# MedGemma-4B-sized config) and the Hugging Face reference (hf_bench.py, in parts through hf_parts.py) on the same
# card, then writes $OUT/result.json in the bench/results/ format. Prepare .device/ first with bench/device/prepare.sh.
#   BENCH_BUDGET  whole-script seconds (default 540; the device call's timeout_s must be larger): every step's
#                 timeout shrinks to what is left, so combine.py always runs; steps go most important first.
#   BENCH_STEPS   which steps, in this order (default: all of them, as listed below).
# Each step has its own timeout, so one hang loses one row, not the run. Full logs: $OUT/bench.txt, $OUT/hf-*.txt.
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
app=.device/app/MedGemma.Bench.dll
[ -f "$app" ] || { echo "no $app: run bench/device/prepare.sh first and carry .device" >&2; exit 2; }
log="$OUT/bench.txt"; ours="$OUT/ours.json"
started=$(date +%s)
budget=${BENCH_BUDGET:-540}
left() { local l=$(( budget - 15 - ($(date +%s) - started) )); [ "$1" -lt "$l" ] && l=$1; echo $l; }
step() { # step SECONDS ARGS... : one bench process (one row family; device memory is measured per process)
  local limit; limit=$(left "$1"); shift
  [ "$limit" -gt 5 ] || { echo "### skipped (budget spent): $*" >>"$log"; return; }
  echo "### $(($(date +%s) - started)) s: bench $* (limit ${limit} s)" >>"$log"
  timeout "$limit" bash .device/run.sh dotnet "$app" "$@" --json "$ours" >>"$log" 2>&1 || echo "### exit $? for: $*" >>"$log"
}
hf() { # hf PART SECONDS [SLICE] [NAME] : a part of hf_bench.py (SLICE of its gen() calls); SIGINT at the limit keeps the rows it finished
  local limit name=${4:-$1}; limit=$(left "$2")
  [ "$limit" -gt 5 ] || { echo "### skipped (budget spent): hf $name" >>"$log"; return; }
  echo "### $(($(date +%s) - started)) s: hf_bench.py part $name (limit ${limit} s)" >>"$log"
  timeout -s INT -k 20 "$limit" python3 .device/hf_parts.py .device/hf_bench.py "$1" ${3:-} >"$OUT/hf-$name.json" 2>"$OUT/hf-$name.txt" || echo "### hf part $name exit $?" >>"$log"
  tail -n 3 "$OUT/hf-$name.txt" >>"$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >>"$log" 2>&1
# The C++ entry points the CUDA-graph binding resolves by mangled name (Runtime/CudaGraph.cs), as this libtorch exports
# them: if the binding reports one missing, the right name is in the log of the same call.
python3 - >>"$log" 2>&1 <<'PY'
import glob, re
for lib in ("libtorch_cuda.so", "libc10_cuda.so"):
    for path in glob.glob(f"/opt/torch/.venv/lib/python3*/site-packages/torch/lib/{lib}")[:1]:
        names = sorted(set(re.findall(rb"_ZNK?(?:2at4cuda9CUDAGraph|3c104cuda(?:17getStreamFromPool|20getCurrentCUDAStream|20setCurrentCUDAStream|10CUDAStream6stream))[A-Za-z0-9_]*", open(path, "rb").read())))
        print(f"### {path}: {len(names)} graph/stream symbols")
        for n in names[:40]: print("   ", n.decode())
PY
# Graphs fell back in the caption row: find out in this same call which kind of op the capture cannot take, and
# where the probe blames the TorchScript layer call or SDPA, measure graphs without it (keys _eagerdecode / per kernel).
probe_and_retry() {
  step 60 graph-probe
  if grep -Eq "^ +TorchScript call.* (FAILED|WRONG)" "$log"; then step 100 caption --size "$size" --batches 1,8 --warmup 2 --repeat 5 --scripted-decode off; fi
  if grep -Eq "^ +SDPA, additive mask.* (FAILED|WRONG)" "$log"; then step 100 caption --size "$size" --batches 1,8 --warmup 2 --repeat 5 --kernel eager --key-suffix _eagerattention; fi
}
size=${BENCH_SIZE:-full}   # BENCH_SIZE=mid for a quick dry run of the script itself
ckpt_dir=$(mktemp -d -t medgemma-bench-checkpoint.XXXXXX)   # local disk of the device machine, not the carried tree
for s in ${BENCH_STEPS:-caption hf-generate-targets hf-train train-b4 train-gc caption-host train-previous ops profile train-sdpa hf-train-profile caption-eager train-gc-fixed load train-b1 hf-generate-b8}; do
  case $s in
    caption)       step 120 caption --size "$size" --batches 1,8 --warmup 2 --repeat 5   # the default: CUDA graphs, checked against host steps
                   grep -q "CUDA graphs were NOT used" "$log" && probe_and_retry ;;
    graph-probe)   step 60 graph-probe ;;   # CUDA graph capture in stages, up to a small model's whole generation
    caption-host)  step 100 caption --size "$size" --batches 1,8 --warmup 2 --repeat 5 --decode-mode host ;;   # no graphs: one host pass per token
    caption-device) step 60 caption --size "$size" --batches 1 --warmup 2 --repeat 5 --decode-mode device ;;  # device steps without graphs (what the graph replays)
    hf-train)      hf train 90 ;;
    hf-generate)   hf generate 240 ;;   # the static-cache rows compile the model first (minutes)
    hf-generate-targets) hf generate 200 0:3 ;;   # the rows the targets use: default B1, default B8, static B1 (not static B8, a second compile)
    hf-generate-b8) hf generate 150 3: generate-b8 ;;   # static B8 alone (its own torch.compile)
    train-b4)      step 60 train --size "$size" --batches 4 --warmup 3 --repeat 8 --vision-alone ;;
    train-gc)      step 50 train --size "$size" --batches 4 --warmup 2 --repeat 5 --gradient-checkpointing ;;
    train-previous) step 60 train --size "$size" --batches 4 --warmup 3 --repeat 8 --fused-norm off --multi-tensor off --key-suffix _previous ;;   # plain-op norms and per-tensor AdamW (the defaults before session 5)
    train-sdpa)    step 60 train --size "$size" --batches 4 --warmup 3 --repeat 8 --kernel sdpa --key-suffix _sdpa ;;   # SDPA for the masked text attention too (Auto keeps eager there while training)
    train-gc-fixed) # the engine defaults to expandable segments; this row runs libtorch's default fixed segments
                   PYTORCH_ALLOC_CONF=expandable_segments:False PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False \
                   step 50 train --size "$size" --batches 4 --warmup 2 --repeat 5 --gradient-checkpointing --key-suffix _fixedsegments ;;
    caption-eager) step 40 caption --size "$size" --batches 1 --warmup 2 --repeat 5 --scripted-decode off ;;   # the decode step as ~50 TorchSharp calls per layer
    load)          step 150 load --size "$size" --repeat 5 --dir "$ckpt_dir" ;;
    train-b1)      step 50 train --size "$size" --batches 1 --warmup 3 --repeat 8 ;;
    ops)           step 30 ops --width 2560 --calls 5000 ;;   # host cost per call on CUDA (TorchSharp vs TorchScript)
    profile)       # kernels per scripted decoder layer and per norm, fusion groups, 34 layers plain vs one CUDA graph (PyTorch's own)
                   limit=$(left 60); echo "### $(($(date +%s) - started)) s: script_profile.py (limit ${limit} s)" >>"$log"
                   [ "$limit" -gt 5 ] && { timeout "$limit" python3 bench/device/script_profile.py 1 >>"$log" 2>&1 || echo "### profile exit $?" >>"$log"; } ;;
    hf-train-profile) # where the reference's B4 LoRA step spends GPU time: kernel categories, top kernels, the vision tower alone
                   limit=$(left 120); echo "### $(($(date +%s) - started)) s: train_profile.py (limit ${limit} s)" >>"$log"
                   [ "$limit" -gt 5 ] && { timeout -s INT -k 20 "$limit" python3 bench/device/train_profile.py .device/hf_bench.py 4 >>"$log" 2>&1 || echo "### train_profile exit $?" >>"$log"; } ;;
    *) echo "### unknown step $s" >>"$log" ;;
  esac
done
echo "### $(($(date +%s) - started)) s: done" >>"$log"
python3 - "$OUT" >"$OUT/hf.json" <<'PY'
import json, sys, os
res = {}
for part in ("generate", "generate-b8", "train"):
    p = os.path.join(sys.argv[1], f"hf-{part}.json")
    try: res.update({k: v for k, v in json.load(open(p)).items() if k not in res})
    except Exception as e: res.setdefault("errors", []).append(f"{part}: {e}")
print(json.dumps(res, indent=1))
PY
python3 .device/combine.py "$ours" "$OUT/hf.json" "bash bench/device/run-gpu.sh (BENCH_STEPS='${BENCH_STEPS:-all}'; carry .device from bench/device/prepare.sh)" >"$OUT/result.json"
rm -f "$OUT/hf-generate.json" "$OUT/hf-generate-b8.json" "$OUT/hf-train.json"   # merged into hf.json; at most 8 files come back
tail -n 70 "$log"
python3 .device/combine.py --table "$OUT/result.json"
