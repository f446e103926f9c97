"""Counts the CUDA kernels one decoder layer's decode step launches, with the device's PyTorch, on the engine's own
TorchScript source (read from the C# files, so it is always the code that ships): how many per layer call with a
boolean and with an additive SDPA mask, per Gemma RMSNorm, how many fusion groups TorchScript made, and one token's
34 layers timed as plain calls and as one CUDA graph replay. Runs on the GPU machine from the repository root:

    python3 bench/device/script_profile.py [batch]

Every section catches its own error and prints it, so one failure costs one line. Output: one JSON object per line.
"""
import re
import sys
import time

import torch

from profile_common import say, section

ROOT = "."
BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 1
# MedGemma 1.5 4B's text tower (hf_bench.py's config) and hf_bench.py's caption: 280-token prompt + 64 new tokens.
C, HEADS, KV, D, INTER, LAYERS, CACHE, EPS = 2560, 8, 4, 256, 10240, 34, 344, 1e-6


def verbatim(path):
    """The C# verbatim string assigned to `Script` in path (a \"\" inside it is one quote)."""
    src = open(f"{ROOT}/{path}").read()
    m = re.search(r'const string Script = (?:FusedRmsNorm\.Script \+ )?@"((?:[^"]|"")*)"', src)
    if m is None:
        raise RuntimeError(f"no Script literal in {path}")
    return m.group(1).replace('""', '"')


def kernels(call, runs=10):
    """CUDA kernels launched per call (profiler), and the names of the most frequent."""
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            call()
        torch.cuda.synchronize()
    names = {}
    total = 0
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            total += 1
            names[e.name[:60]] = names.get(e.name[:60], 0) + 1
    top = sorted(names.items(), key=lambda kv: -kv[1])[:12]
    return total / runs, {k: v / runs for k, v in top}


dev = torch.device("cuda")
dt = torch.bfloat16
torch.manual_seed(0)
cu = None


@section("compile")
def _compile():
    global cu
    src = verbatim("src/MedGemma.Engine/Text/FusedRmsNorm.cs") + verbatim("src/MedGemma.Engine/Text/DecodeLayerScript.cs")
    cu = torch.jit.CompilationUnit(src)
    say(section="compile", torch=torch.__version__, cuda=torch.version.cuda, card=torch.cuda.get_device_name(),
        sdpa_cudnn=torch.backends.cuda.cudnn_sdp_enabled(), texpr_fuser=torch._C._jit_texpr_fuser_enabled())


def w(*shape, scale=0.02):
    return (torch.randn(*shape, device=dev) * scale).to(dt)


def additive(mask):
    length = mask.shape[-1]
    padded = torch.full((*mask.shape[:-1], (length + 15) // 16 * 16), torch.finfo(dt).min, dtype=dt, device=dev)
    return padded[..., :length].masked_fill_(mask, 0.0)


def layer_args(sdpa_mask):
    """Keyword arguments of decode_layer for one token at cache slot 300 of 344, no LoRA, SDPA."""
    mask = (torch.arange(CACHE, device=dev) <= 300).view(1, 1, 1, CACHE)
    v = dict(h=w(BATCH, 1, C, scale=1.0), eps=EPS, kv_heads=KV, rep=HEADS // KV, head_dim=D,
             ln_in=w(C, scale=0.1), post_attn=w(C, scale=0.1), pre_ff=w(C, scale=0.1), post_ff=w(C, scale=0.1),
             q_nw=w(D, scale=0.1), k_nw=w(D, scale=0.1),
             cos=w(BATCH, 1, 1, D, scale=1.0), sin=w(BATCH, 1, 1, D, scale=1.0),
             k_cache=w(BATCH, KV, CACHE, D, scale=1.0), v_cache=w(BATCH, KV, CACHE, D, scale=1.0),
             slot=torch.tensor([300], device=dev), attend_len=-1, mask=mask,
             sdpa_mask=additive(mask) if sdpa_mask else None, rows_never_empty=True, use_sdpa=True, q_factor=1.0,
             scaling=D ** -0.5, masked_value=float(torch.finfo(torch.float32).min))
    shapes = dict(q=(HEADS * D, C), k=(KV * D, C), v=(KV * D, C), o=(C, HEADS * D), g=(INTER, C), u=(INTER, C), d=(C, INTER))
    for p, shape in shapes.items():
        v.update({f"{p}_w": w(*shape), f"{p}_b": None, f"{p}_la": None, f"{p}_lb": None, f"{p}_s": 0.0})
    return v


@section("layer kernels")
def _layer_kernels():
    with torch.no_grad():
        for additive_mask in (False, True):
            a = layer_args(additive_mask)
            n, top = kernels(lambda: cu.decode_layer(**a))
            say(section="layer kernels", batch=BATCH, sdpa_mask="additive" if additive_mask else "boolean",
                kernels_per_layer=n, top=top)
        g = torch.jit.last_executed_optimized_graph()
        kinds = {}
        for node in g.nodes():
            kinds[node.kind()] = kinds.get(node.kind(), 0) + 1
        say(section="optimized graph", fusion_groups={k: c for k, c in kinds.items() if "Group" in k or "Fusion" in k},
            nodes=sum(kinds.values()))


@section("norm kernels")
def _norm_kernels():
    with torch.no_grad():
        x, wt = w(BATCH, 1, C, scale=1.0), w(C, scale=0.1)
        n, top = kernels(lambda: cu.gemma_rms_norm(x, wt, EPS))
        say(section="norm kernels", kernels_per_norm=n, top=top)


@section("token timing")
def _token_timing():
    with torch.no_grad():
        a = layer_args(True)
        layers = lambda: [cu.decode_layer(**a) for _ in range(LAYERS)]  # noqa: E731
        for _ in range(3):
            layers()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            layers()
        torch.cuda.synchronize()
        plain = (time.perf_counter() - t) / 20
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                layers()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            layers()
        graph.replay()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(50):
            graph.replay()
        torch.cuda.synchronize()
        replay = (time.perf_counter() - t) / 50
        say(section="token timing", batch=BATCH, layers=LAYERS, plain_calls_ms=plain * 1e3, graph_replay_ms=replay * 1e3,
            note="the 34 decoder layers of one token only (no embedding, final norm, lm_head or sampling)")
