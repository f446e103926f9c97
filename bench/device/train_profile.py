"""Where the reference's LoRA training step spends its GPU time, for the training stretch target (1.5x): hf_bench.py's
own model and PEFT setup (its text is executed up to its first gen() line, then its `pm = ...` and `pm.train(); opt =
...` lines), one batch as its training loop builds it, and torch.profiler over two steps. Both implementations launch
the same kinds of kernels (GEMMs, SDPA, norms, elementwise ops, AdamW), so the split says which kind a faster step has
to cut. Runs on the GPU machine from the repository root:

    python3 bench/device/train_profile.py .device/hf_bench.py [batch]

Output: one JSON object per line; every section catches its own error and prints it.
"""
import re
import sys
import time

import torch

from profile_common import say, section

SRC = sys.argv[1]
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 4
# hf_bench.py's training rows: 64 text tokens after the image, labels from position 262 on.
TEXT_LEN, UNLABELLED = 64, 262

CATEGORIES = [  # first match wins; kernel names of cuBLAS/cuDNN/flash/PyTorch on Hopper
    ("attention", r"flash|fmha|attention|sdpa|attn"),
    ("gemm", r"gemm|gemv|cutlass|nvjet|xmma|cublas|splitK"),
    ("norm", r"norm"),
    ("loss/softmax", r"softmax|cross_entropy|nll|log_softmax"),
    ("optimizer (foreach)", r"multi_tensor|foreach|adam"),
    ("copy/cast/fill", r"copy|cast|memcpy|memset|fill|cat_|CatArray"),
    ("reduction", r"reduce"),
    ("elementwise", r"elementwise|vectorized|unrolled|gelu|tanh|mul|add|where|dropout|fused_dropout"),
]


g = {"__name__": "__hf_bench__"}
state = {}


def timed_ms(fn, warmup, runs):
    """Mean of `runs` synchronised calls after `warmup` calls, in ms."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(runs):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / runs * 1e3


@section("setup")
def _setup():
    lines = open(SRC).read().splitlines()
    first_gen = next(i for i, l in enumerate(lines) if l.startswith("gen("))
    exec(compile("\n".join(lines[:first_gen]), SRC, "exec"), g)
    peft_lines = [l for l in lines if l.startswith("pm = ") or l.startswith("pm.train()")]
    exec(compile("\n".join(peft_lines), SRC, "exec"), g)
    x = g["batch"](BATCH, TEXT_LEN)
    labels = x["input_ids"].clone()
    labels[:, :UNLABELLED] = -100
    pm, opt = g["pm"], g["opt"]

    def step():
        out = pm(**x, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    state.update(step=step, x=x, pm=pm, wall_ms=timed_ms(step, 3, 5))
    say(section="setup", torch=torch.__version__, card=torch.cuda.get_device_name(), batch=BATCH,
        tokens_per_sample=x["input_ids"].shape[1], step_ms=state["wall_ms"])


@section("kernels")
def _kernels():
    from torch.profiler import ProfilerActivity, profile
    steps = 2
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            state["step"]()
        torch.cuda.synchronize()
    spans, names, cats = [], {}, {}
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        start, end = e.time_range.start, e.time_range.end
        spans.append((start, end))
        us = end - start
        key = e.name[:90]
        n = names.setdefault(key, [0, 0.0])
        n[0] += 1
        n[1] += us
        cat = next((c for c, pat in CATEGORIES if re.search(pat, e.name, re.IGNORECASE)), "other")
        c = cats.setdefault(cat, [0, 0.0])
        c[0] += 1
        c[1] += us
    spans.sort()
    busy, cur_s, cur_e = 0.0, None, None
    for s, e in spans:   # union of kernel intervals: overlapping streams count once
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                busy += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        busy += cur_e - cur_s
    per = lambda us: round(us / steps / 1e3, 3)  # noqa: E731 - µs over the profiled steps -> ms per step
    say(section="kernels", kernels_per_step=len(spans) / steps, gpu_busy_ms_per_step=per(busy),
        wall_ms_per_step_unprofiled=state["wall_ms"],
        categories={k: {"kernels": v[0] / steps, "ms": per(v[1])} for k, v in sorted(cats.items(), key=lambda kv: -kv[1][1])})
    top = sorted(names.items(), key=lambda kv: -kv[1][1])[:25]
    say(section="top kernels", rows=[{"name": k, "per_step": v[0] / steps, "ms": per(v[1])} for k, v in top])


@section("vision tower")
def _vision():
    # The image half of the step alone: the tower's forward with gradients (LoRA on its q/v), then the backward of a
    # sum of its features; the rest of the step is the text tower, the loss and AdamW.
    pm, x = state["pm"], state["x"]
    inner = pm.get_base_model()
    features = getattr(inner, "get_image_features", None) or inner.model.get_image_features

    def forward():
        out = features(x["pixel_values"])
        # A tensor in transformers 4.x; a tuple or an output object in versions that wrap it.
        if isinstance(out, (tuple, list)):
            out = out[0]
        for name in ("pooler_output", "last_hidden_state"):
            if not torch.is_tensor(out) and getattr(out, name, None) is not None:
                out = getattr(out, name)
        return out

    def both():
        f = forward()
        f.float().sum().backward()

    for what, fn in (("forward", forward), ("forward + backward", both)):
        say(section="vision tower", what=what, batch=BATCH, ms=timed_ms(fn, 2, 3))
    state["pm"].zero_grad(set_to_none=True)
