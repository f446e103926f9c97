"""Joins our bench's --json numbers and hf_bench.py's JSON into the bench/results/<date>-<card>.json format,
or (--table RESULT) prints the ratios against the issue's targets."""
import json, subprocess, sys

KEYS = ["caption_b1_decode_tokens_per_s", "caption_b1_first_token_s", "caption_b8_captions_per_s",
        "train_b4_samples_per_s", "train_b4_peak_gib", "train_b4_gradckpt_peak_gib", "load_seconds"]

def load(path):
    try:
        with open(path) as f: return json.load(f)
    except Exception as e:
        return {"error": f"{path}: {e}"}

def card():
    try: return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"], capture_output=True, text=True).stdout.strip()
    except Exception: return "unknown"

def table(res):
    o, r = {**res.get("ours_extra", {}), **res.get("ours", {})}, res.get("reference", {})
    g = lambda *k: (lambda d: d if not isinstance(d, dict) else None)(_dig(r, k))
    rows = [
        ("decode tok/s B1 vs static B1 (must >= 1.5, stretch 3)", o.get("caption_b1_decode_tokens_per_s"), g("generate_static_cache_B1", "decode_tokens_per_s"), "ratio"),
        ("first token s B1 vs static B1 (must <= 1)", o.get("caption_b1_first_token_s"), g("generate_static_cache_B1", "first_token_s"), "ratio"),
        ("first token s B1 vs default B1 (must <= 1)", o.get("caption_b1_first_token_s"), g("generate_default_cache_B1", "first_token_s"), "ratio"),
        ("captions/s B8 vs default B8 (must >= 3)", o.get("caption_b8_captions_per_s"), g("generate_default_cache_B8", "captions_per_s"), "ratio"),
        ("train samples/s B4 (must >= 1, stretch 1.5)", o.get("train_b4_samples_per_s"), g("train_lora_B4", "samples_per_s"), "ratio"),
        ("train peak GiB B4 vs reserved+1 (must <= 1)", o.get("train_b4_peak_gib"), _plus1(g("train_lora_B4", "peak_reserved_GiB")), "ratio"),
        ("train samples/s B4: default vs plain norms, per-tensor AdamW", o.get("train_b4_samples_per_s"), o.get("train_b4_samples_per_s_previous"), "ratio"),
        ("train samples/s B4: SDPA text attention vs default", o.get("train_b4_samples_per_s_sdpa"), o.get("train_b4_samples_per_s"), "ratio"),
        ("train peak GiB B4: SDPA text attention vs default", o.get("train_b4_peak_gib_sdpa"), o.get("train_b4_peak_gib"), "ratio"),
        ("train gradckpt peak GiB B4 (must <= 16)", o.get("train_b4_gradckpt_peak_gib"), 16.0, "ratio"),
        ("train gradckpt peak GiB B4, fixed segments (libtorch default)", o.get("train_b4_gradckpt_peak_gib_fixedsegments"), 16.0, "ratio"),
        ("load s vs disk read s (must <= 2)", o.get("load_seconds"), o.get("load_disk_read_seconds"), "ratio"),
        ("load peak host GiB vs largest shard (must <= 1.2)", o.get("load_peak_host_gib"), o.get("load_largest_shard_gib"), "ratio"),
        ("MedGemmaModel.Load s (build + load) vs disk read s", o.get("load_model_seconds"), o.get("load_disk_read_seconds"), "ratio"),
        ("CUDA graphs replayed in the headline caption rows (1 = yes)", o.get("caption_graphs_replayed"), 1.0, "ratio"),
        ("decode tok/s B1: default vs host steps (no graphs)", o.get("caption_b1_decode_tokens_per_s"), o.get("caption_hoststeps_b1_decode_tokens_per_s"), "ratio"),
        ("captions/s B8: default vs host steps (no graphs)", o.get("caption_b8_captions_per_s"), o.get("caption_hoststeps_b8_captions_per_s"), "ratio"),
        ("B1 tokens equal to host steps' (fraction of 64)", o.get("caption_b1_tokens_matching_host"), 1.0, "ratio"),
        ("B8 tokens equal to host steps' (fraction of 64)", o.get("caption_b8_tokens_matching_host"), 1.0, "ratio"),
        ("decode tok/s B1 vs default-cache B1", o.get("caption_b1_decode_tokens_per_s"), g("generate_default_cache_B1", "decode_tokens_per_s"), "ratio"),
        ("decode tok/s B1: scripted (default) vs eager decode step", o.get("caption_b1_decode_tokens_per_s"), o.get("caption_eagerdecode_b1_decode_tokens_per_s"), "ratio"),
    ]
    print(f"card: {res.get('card')}")
    print(f"{'metric':52} {'ours':>10} {'reference':>10} {'ratio':>7}")
    for name, a, b, _ in rows:
        ratio = a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None
        f = lambda x: f"{x:10.3f}" if isinstance(x, (int, float)) else f"{'n/a':>10}"
        print(f"{name:52} {f(a)} {f(b)} {ratio:7.2f}" if ratio is not None else f"{name:52} {f(a)} {f(b)} {'n/a':>7}")

def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d

def _plus1(x): return x + 1.0 if isinstance(x, (int, float)) else None

if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(load(sys.argv[2])); sys.exit(0)
    ours_all, ref, commands = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
    ours = {k: ours_all.get(k) for k in KEYS}
    extra = {k: v for k, v in ours_all.items() if k not in KEYS}
    print(json.dumps({"card": card(), "commands": commands, "ours": ours, "ours_extra": extra, "reference": ref}, indent=1))
