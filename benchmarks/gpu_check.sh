#!/usr/bin/env bash
# Check the transformers backend on a CUDA GPU and time it against llama.cpp on the same prompts.
#
#   pip install -e ".[dev,local,gpu]"
#   bash benchmarks/gpu_check.sh [--seed N] [--repeats N] [--max-tokens N]
#
# 1. refuses to run (exit 2) unless torch sees a CUDA device;
# 2. runs the backend's tests: the CUDA test (-m gpu) and the CPU tiny-model tests
#    (-m transformers), now on a machine with a GPU;
# 3. loads the embedded model's GGUF with transformers on CUDA (dequantized to bf16)
#    and with llama.cpp (all layers on the GPU when llama-cpp-python was built with
#    CUDA, else on the CPU, which the output says), sends both the same greedy
#    prompts one at a time, then as one concurrent batch (complete_many), --repeats
#    times, and prints markdown lines for benchmarks/RESULTS.md (median [min-max]).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" - <<'PYCHECK'
import sys
try:
    import torch
except ImportError:
    sys.exit('gpu_check: torch is not installed; pip install -e ".[dev,local,gpu]"')
if not torch.cuda.is_available():
    sys.exit(
        "gpu_check: torch sees no CUDA device (torch.cuda.is_available() is False); "
        "run this on a machine with a CUDA GPU and a CUDA build of torch"
    )
print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PYCHECK
then
    exit 2
fi

"$PY" -m pytest -q -p no:cacheprovider -m "gpu or transformers" tests/llm/test_gpu.py \
    tests/llm/test_gpu_cpu.py tests/llm/test_gpu_gguf.py

"$PY" - "$@" <<'PYBENCH'
import argparse
import datetime
import random
import statistics
import time

import torch

from trace_engine.llm.gpu import TransformersLLM
from trace_engine.llm.local import EmbeddedLLM, gpu_offload_supported
from trace_engine.llm.weights import ensure_model

parser = argparse.ArgumentParser(prog="gpu_check.sh")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--max-tokens", type=int, default=64)
args = parser.parse_args()
tasks = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "Explain in one sentence what a binary search does.",
    "Write a Python one-liner that reverses a string s.",
    "What does the HTTP status code 404 mean? One sentence.",
    "Write a Python function is_prime(n).",
    "Name three sorting algorithms and their average complexity.",
    "Write a SQL query counting rows per user_id in a table events.",
    "What is the difference between a list and a tuple in Python? One sentence.",
]
random.Random(args.seed).shuffle(tasks)
path = str(ensure_model(progress=False))
backends = {}
start = time.perf_counter()
backends["transformers (cuda, bf16)"] = TransformersLLM(path, device="cuda", max_batch=len(tasks))
backends["transformers (cuda, bf16)"].loaded()
load = {"transformers (cuda, bf16)": time.perf_counter() - start}
where = "gpu" if gpu_offload_supported() else "cpu: llama-cpp-python has no GPU support here"
start = time.perf_counter()
backends[f"llama.cpp ({where})"] = EmbeddedLLM()
backends[f"llama.cpp ({where})"].loaded()
load[f"llama.cpp ({where})"] = time.perf_counter() - start
options = {"max_tokens": args.max_tokens, "temperature": 0.0}
for llm in backends.values():  # warm-up, outside the timings
    llm.complete(tasks[0], **options)
figures = {name: {"one at a time": [], "batch": []} for name in backends}
tokens = {name: 0 for name in backends}
for repeat in range(args.repeats):
    for name in random.Random(args.seed + repeat).sample(list(backends), len(backends)):
        llm = backends[name]
        start = time.perf_counter()
        done = [llm.complete(t, **options) for t in tasks]
        figures[name]["one at a time"].append(time.perf_counter() - start)
        tokens[name] = sum(c.usage.completion_tokens for c in done)
        start = time.perf_counter()
        llm.complete_many(tasks, **options)
        figures[name]["batch"].append(time.perf_counter() - start)
agree = sum(
    a.text.strip() == b.text.strip()
    for a, b in zip(
        *[[llm.complete(t, **options) for t in tasks] for llm in backends.values()]
    )
)
print(f"\n## GPU check (benchmarks/gpu_check.sh --seed {args.seed}) — {datetime.date.today()}")
print(f"{torch.cuda.get_device_name(0)}; {len(tasks)} prompts, greedy, max_tokens {args.max_tokens}")
for name in backends:
    line = f"- {name}: load {load[name]:.1f}s"
    for mode, times in figures[name].items():
        med = statistics.median(times)
        line += (
            f"; {mode} {med:.2f}s [{min(times):.2f}-{max(times):.2f}]"
            f" ({tokens[name] / med:.0f} tokens/s)"
        )
    print(line)
base = next(iter(backends))
for name in list(backends)[1:]:
    for mode in ("one at a time", "batch"):
        ratios = [o / t for t, o in zip(figures[base][mode], figures[name][mode])]
        print(
            f"- {mode}: transformers is {statistics.median(ratios):.2f}x "
            f"[{min(ratios):.2f}-{max(ratios):.2f}] as fast as {name}"
        )
print(f"- same greedy answer from both backends on {agree} of {len(tasks)} prompts")
PYBENCH
