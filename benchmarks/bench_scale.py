"""Concurrent model calls: one at a time vs several in flight against a serving engine.

    python benchmarks/bench_scale.py --seed 0 --calls 64 --delay 0.1 --repeats 3

A loopback OpenAI-compatible server (the tests' ScriptedServer: 127.0.0.1,
threaded) stands in for vLLM: it answers each request after ``--delay`` seconds, +-25% drawn per prompt from
``--seed`` (so every concurrency level meets the same delays). Each repeat
sends the same ``--calls`` distinct prompts through ``get_llm(...).complete_many``
(cache off) at each concurrency of ``--levels``, in an order shuffled per repeat; the
speedup of a level is its wall time over the wall time of concurrency 1 in that
repeat. One warm-up call per level comes first, outside the timings. Prints the
median and the range over repeats.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflows.scripted_server import ScriptedServer  # noqa: E402
from trace_engine.llm import get_llm  # noqa: E402


def sleeping_reply(delay: float, seed: int):
    """An answer to each prompt after a seeded, per-prompt delay: a model server's latency."""

    def reply(messages: list[dict]) -> str:
        prompt = messages[-1]["content"]
        time.sleep(delay * random.Random(f"{seed}:{prompt}").uniform(0.75, 1.25))
        return f"re:{prompt}"

    return reply


def run_level(spec: str, prompts: list[str], concurrency: int) -> float:
    llm = get_llm(spec, cache=False, retries=1, max_concurrency=concurrency)
    start = time.perf_counter()
    answers = llm.complete_many(prompts, max_tokens=8)
    seconds = time.perf_counter() - start
    if [a.text for a in answers] != [f"re:{p}" for p in prompts]:
        raise SystemExit("bench_scale: answers came back wrong or out of order")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", default="1,8", help="concurrency levels, 1 first")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if levels[0] != 1 or any(c < 1 for c in levels) or args.calls < 1 or args.repeats < 1:
        raise SystemExit("bench_scale: --levels must start with 1; --calls, --repeats >= 1")
    rng = random.Random(args.seed)
    times: dict[int, list[float]] = {c: [] for c in levels}
    speedups: dict[int, list[float]] = {c: [] for c in levels}
    with ScriptedServer(sleeping_reply(args.delay, args.seed)) as server:
        for c in levels:  # the SDK's import and each backend's client, outside the timings
            run_level(server.spec, ["warm-up"], c)
        for _ in range(args.repeats):
            order = levels[:]
            rng.shuffle(order)
            prompts = [f"question {i}" for i in range(args.calls)]
            got = {c: run_level(server.spec, prompts, c) for c in order}
            for c in levels:
                times[c].append(got[c])
                speedups[c].append(got[1] / got[c])
    print(
        f"{args.calls} calls, server delay {args.delay:g}s +-25% per prompt, "
        f"seed {args.seed}, {args.repeats} repeats (median [min-max])"
    )
    for c in levels:
        t, s = times[c], speedups[c]
        print(
            f"concurrency {c:>2}: {statistics.median(t):.2f}s [{min(t):.2f}-{max(t):.2f}]  "
            f"speedup {statistics.median(s):.2f}x [{min(s):.2f}-{max(s):.2f}]"
        )


if __name__ == "__main__":
    main()
