"""Runs shared/reference/hf_bench.py (unchanged, read as text) in parts, so one slow part cannot cost the others:
   python3 hf_parts.py HF_BENCH.py generate   # its gen(...) lines in order (the static-cache rows compile with torch.compile)
   python3 hf_parts.py HF_BENCH.py generate 0:3   # only the first three gen(...) calls (a Python slice of them)
   python3 hf_parts.py HF_BENCH.py train      # its PEFT training block
Each part executes hf_bench.py's own setup lines (config, model, batch(), gen()) and then only its part, and prints
the same `res` JSON that hf_bench.py prints. Stopped with SIGINT (timeout -s INT), it prints the rows finished so far
and says on stderr what it was doing. The generate part runs before PEFT wraps the model, as in hf_bench.py."""
import json, sys

src_path, part = sys.argv[1], sys.argv[2]
lines = open(src_path).read().splitlines()
first_gen = next(i for i, l in enumerate(lines) if l.startswith("gen("))
train_start = next(i for i, l in enumerate(lines) if l.startswith("pm = "))
print_line = next(i for i, l in enumerate(lines) if l.startswith("print(json.dumps(res"))
setup = "\n".join(lines[:first_gen])
if part == "generate":   # one chunk per gen(...) call, so an interruption keeps every finished row
    chunks = [c.strip() for l in lines[first_gen:train_start] if l.strip() for c in l.split("; gen(")]
    chunks = [c if c.startswith("gen(") else "gen(" + c for c in chunks]
    if len(sys.argv) > 3:
        first, _, last = sys.argv[3].partition(":")
        chunks = chunks[int(first) if first else None:int(last) if last else None]
else:
    chunks = ["\n".join(lines[train_start:print_line])]
g = {"__name__": "__hf_bench__"}
doing = "setup"
try:
    exec(compile(setup, src_path, "exec"), g)
    for c in chunks:
        doing = c.splitlines()[0][:80]
        exec(compile(c, src_path, "exec"), g)
    doing = None
except KeyboardInterrupt:
    print(f"hf_parts: {part} interrupted during: {doing}", file=sys.stderr)
print(json.dumps(g.get("res", {}), indent=1))
